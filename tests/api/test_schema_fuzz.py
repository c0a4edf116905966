"""Schemathesis fuzzes every operation of /api/schema/ in-process (WSGI) with data that fits
the schema (positive) and data that breaks it (negative), and checks that the server never
errors, answers only documented status codes with documented bodies, takes what the schema
calls valid and refuses what it calls invalid — once with a token (against a sweep the
user owns and a trial of it) and once anonymously.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import ComponentInfo
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from sweeps.models import SearchSpace, Sweep
from sweeps.search import parse_space
from tests.api.factories import add_points, shared_sweep

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]
# Bodies with rules no JSON Schema can state: a spec's cross-field rules (low < high, a
# registered trainer, a metric it reports), a manual trial's params, which must lie in
# that sweep's own space, an LR range test's trainer and its arguments, and the trial a
# final evaluation names. A schema-valid body may get a 400 naming the field there; every
# other operation must take whatever the schema calls valid.
BEYOND_THE_SCHEMA = {
    ("POST", "/api/sweeps/"),
    ("POST", "/api/sweeps/plan/"),  # the launch's own validation
    ("POST", "/api/search-spaces/"),  # the space's rules, a name the owner has not used
    ("PUT", "/api/search-spaces/{id}/"),
    ("PATCH", "/api/search-spaces/{id}/"),
    ("PUT", "/api/search-spaces/{id}/sharing/"),  # user names that exist, not the owner
    ("PUT", "/api/sweeps/{id}/sharing/"),
    ("POST", "/api/sweeps/{id}/trials/"),
    ("POST", "/api/lr-range-tests/"),
    ("POST", "/api/sweeps/{id}/final_evaluation/"),  # a trial of that sweep, with a checkpoint
    # A cursor is opaque: only one the API gave (a page's next or previous) is valid.
    ("GET", "/api/sweeps/"),
    ("GET", "/api/sweeps/{id}/trials/"),
}
# Schemathesis asks for gzip but its WSGI transport does not unzip what it gets; the
# site gzips for a client that asks (tests/api/test_pagination.py checks that).
PLAIN = {"Accept-Encoding": "identity"}
# Bounded so the whole file runs in well under a minute; raise it for a deeper hunt.
MAX_EXAMPLES = int(os.environ.get("RUNGS_FUZZ_EXAMPLES", "12"))

_alternate = itertools.count()
STATUSES: list[tuple[str, str, int]] = []
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    # A WSGI request closes "old" database connections when it starts and ends, which
    # would close the test's transaction; Django's own test client unhooks this the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def known(db: None, user: Any, django_user_model: Any) -> Iterator[dict[str, Any]]:
    """A sweep with trials and points owned by the token's user; ids that exist."""
    viewer = django_user_model.objects.create_user("fuzz-viewer")
    sweep: Sweep = shared_sweep(user, viewer)
    trial = sweep.trials.get(number=3)
    add_points(trial, "train_loss", [1.0, 0.5, None])
    saved = SearchSpace.objects.create(owner=user, name="fuzz")
    saved.replace_parameters(parse_space({"lr": {"type": "float", "low": 0.001, "high": 0.1}}))
    yield {
        "sweep": sweep.pk,
        "trial": trial.pk,
        "space": saved.pk,
        "token": Token.objects.create(user=user).key,
    }


def _checks(case: Any) -> list[Any]:
    if (case.method.upper(), case.operation.path) in BEYOND_THE_SCHEMA:
        return [check for check in CHECKS if check is not positive_data_acceptance]
    return CHECKS


def _path_is_negated(case: Any) -> bool:
    meta = case.meta
    path: ComponentInfo | None = meta and meta.components.get(ParameterLocation.PATH)
    return path is not None and path.mode.is_negative


def _with_known_ids(case: Any, known: dict[str, Any]) -> None:
    # Random integers almost never name a row; half the cases aim at the real ones so the
    # 200 answers are checked too. A case whose point is a bad id keeps it.
    if (
        case.path_parameters
        and "id" in case.path_parameters
        and not _path_is_negated(case)
        and next(_alternate) % 2
    ):
        kind = (
            "trial"
            if case.path.startswith("/api/trials/")
            else "space"
            if case.path.startswith("/api/search-spaces/")
            else "sweep"
        )
        case.path_parameters["id"] = known[kind]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_authenticated(case: Any, known: dict[str, Any], sent_tasks: Any) -> None:
    _with_known_ids(case, known)
    response = case.call_and_validate(
        headers={"Authorization": f"Token {known['token']}", **PLAIN}, checks=_checks(case)
    )
    STATUSES.append((case.method, case.path, response.status_code))


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES // 2,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_anonymous(case: Any, known: dict[str, Any]) -> None:
    _with_known_ids(case, known)
    response = case.call_and_validate(headers=PLAIN, checks=_checks(case))
    assert response.status_code in (401, 404, 405), response.text[:200]
