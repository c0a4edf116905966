"""/api/schema/ is valid OpenAPI documenting every error code; /api/docs/ is a
self-contained page (no CDN, no script) listing every operation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from drf_spectacular.validation import validate_schema

from sweeps.api.docs import render_page

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    from sweeps.api.docs import build_schema

    return build_schema()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op) for path, item in schema["paths"].items() for method, op in item.items()
    ]


def test_schema_is_served_without_login_and_is_valid_openapi() -> None:
    response = Client().get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    served = response.json()
    validate_schema(served)
    assert served["openapi"].startswith("3.")
    assert "/api/sweeps/{id}/export.parquet" in served["paths"]
    assert not any(path.startswith("/api/schema") for path in served["paths"])


# POSTs that create something of the user's own (or, the dry run, nothing): nothing to
# forbid, nothing to conflict with.
CREATES = {"/api/sweeps/", "/api/lr-range-tests/", "/api/sweeps/plan/", "/api/search-spaces/"}
# Changes to rows with no state machine (saved spaces, sharing): forbidden to some, never a
# conflict.
STATELESS = {
    "/api/search-spaces/{id}/",
    "/api/search-spaces/{id}/sharing/",
    "/api/sweeps/{id}/sharing/",
}


def test_every_operation_documents_its_error_codes(schema: dict[str, Any]) -> None:
    ops = operations(schema)
    assert len(ops) == 40
    for method, path, op in ops:
        codes = set(op["responses"])
        where = f"{method.upper()} {path}"
        assert {"401", "406"} <= codes, where
        if "{id}" in path:
            assert "404" in codes, where
        if method != "get":
            if path in STATELESS:
                assert "403" in codes, where
            else:
                assert {"403", "409"} <= codes or path in CREATES, where
        if "requestBody" in op or op.get("parameters", [{}])[-1].get("in") == "query":
            assert "400" in codes, where
        assert op.get("security"), where


def test_spec_body_documents_fields_and_their_rules(schema: dict[str, Any]) -> None:
    spec = schema["components"]["schemas"]["SweepSpec"]
    assert set(spec["required"]) == {"name", "trainer"}
    assert {"space", "sampler", "scheduler", "max_trials", "concurrency", "start"} <= set(
        spec["properties"]
    )


def test_docs_page_lists_every_operation_with_no_external_resources(
    schema: dict[str, Any],
) -> None:
    response = Client().get(reverse("api-docs"))
    assert response.status_code == 200
    html = response.content.decode()
    for method, path, _ in operations(schema):
        assert re.search(rf">{method.upper()}</span> <span class=\"path\">{re.escape(path)}<", html)
    # Request bodies are spelled out field by field, nested ones as dotted paths.
    for field in ("scheduler.eta", "objective.mode", "space.&lt;name&gt;.type", "params"):
        assert f"<code>{field}</code>" in html, field
    assert "Authorization: Token" in html
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def test_docs_page_is_built_once(django_assert_num_queries: Any) -> None:
    render_page()
    with django_assert_num_queries(0):
        assert "Rungs API" in render_page()


def test_unknown_api_urls_are_json_404() -> None:
    for url in ("/api/nothing/", "/api/sweeps/-1/", "/api/sweeps/abc/trials/"):
        response = Client().post(url)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


def test_launch_documents_its_warnings_and_workers_their_states(schema: dict[str, Any]) -> None:
    created = schema["paths"]["/api/sweeps/"]["post"]["responses"]["201"]
    ref = created["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    launched = schema["components"]["schemas"][ref]
    assert launched["properties"]["warnings"]["type"] == "array"
    assert "warnings" in launched["required"]
    listed = schema["paths"]["/api/workers/"]["get"]["responses"]["200"]
    item = listed["content"]["application/json"]["schema"]["items"]["$ref"].rsplit("/", 1)[1]
    worker = schema["components"]["schemas"][item]
    assert {"name", "host", "pid", "device", "gpu_name", "trainers", "broken", "state",
            "trial", "heartbeat_at"} <= set(worker["required"])  # fmt: skip
    states = schema["components"]["schemas"]["WorkerStateEnum"]
    assert states["enum"] == ["running", "idle", "lost", "stopped"]


def test_every_enum_has_a_name_not_a_hash(schema: dict[str, Any]) -> None:
    # drf-spectacular falls back to "Status69aEnum" (and warns in `check --deploy`) when one
    # field name carries different choices in several components: name those in settings.
    hashed = [n for n in schema["components"]["schemas"] if re.search(r"[0-9a-f]{3}Enum$", n)]
    assert hashed == []
