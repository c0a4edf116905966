"""Bad input is a 400 (or 404 / 413) naming the field, never a 500, and changes nothing.

Each case is one the operator found answered with a 500 or with HTML: integers past ~308
digits, JSON nested 10,000 deep, NUL characters (PostgreSQL refuses them), an int
parameter whose bounds no export column holds, a 20 MB body, a path with a newline.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import MetricPoint, Sweep
from tests.api.factories import add_points, counts, spec

pytestmark = pytest.mark.django_db

HUGE = 10**400  # json.dumps writes it in full; math.isfinite(HUGE) raises OverflowError
DEEP = 10_000


def deep_list(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def post_json(client: Any, url: str, text: str | bytes, method: str = "post") -> Any:
    return getattr(client, method)(url, text, content_type="application/json")


def assert_names(response: Any, field: str, status: int = 400) -> str:
    """The response is ``status`` with the API's 400 shape, naming ``field``; its rule."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    errors = response.json()["errors"]
    assert field in errors, errors
    return str(errors[field])


# --- item 6: integers past ~308 digits ------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"max_trials": HUGE}, "max_trials"),
        ({"seed": HUGE}, "seed"),
        ({"space": {"lr": {"type": "float", "low": 0, "high": HUGE}}}, "space.lr.high"),
        ({"space": {"n": {"type": "int", "low": -HUGE, "high": 4}}}, "space.n.low"),
        ({"space": {"n": {"type": "int", "low": 1, "high": 4, "step": HUGE}}}, "space.n.step"),
        ({"scheduler": {"name": "asha", "min_resource": 1, "max_resource": HUGE}},
         "scheduler.max_resource"),
    ],
)  # fmt: skip
def test_a_huge_integer_in_a_spec_is_400_naming_the_field(
    owner: Any, client_for: Any, sent_tasks: list[Any], overrides: dict[str, Any], field: str
) -> None:
    body = json.dumps(spec(**overrides))
    response = post_json(client_for(owner), reverse("api-sweeps"), body)
    assert "between" in assert_names(response, field)
    assert counts() == {"sweeps": 0, "trials": 0, "events": 0}
    assert sent_tasks == []


@pytest.mark.parametrize("field", ["max_trials", "concurrency"])
def test_a_huge_integer_in_a_patch_is_400_and_changes_nothing(
    owner: Any, client_for: Any, sweep: Sweep, field: str
) -> None:
    before = counts()
    response = post_json(
        client_for(owner), reverse("api-sweep", args=[sweep.pk]), f'{{"{field}": {HUGE}}}', "patch"
    )
    assert_names(response, field)
    sweep.refresh_from_db()
    assert (sweep.max_trials, sweep.concurrency) == (20, 2)
    assert counts() == before


def test_a_huge_integer_in_enqueued_params_is_400_and_creates_no_trial(
    owner: Any, client_for: Any, sweep: Sweep, sent_tasks: list[Any]
) -> None:
    before = counts()
    body = json.dumps({"params": {"lr": 0.01, "layers": HUGE, "opt": "adam"}})
    response = post_json(client_for(owner), reverse("api-sweep-trials", args=[sweep.pk]), body)
    assert_names(response, "params.layers")
    assert counts() == before and sent_tasks == []


def test_an_enqueued_int_past_float_range_is_refused_by_the_space_too(sweep: Sweep) -> None:
    # The guard stops it at the door; the space's own check must not crash either (the
    # socket and the services reach it without the REST parser).
    from sweeps.search import parse_space, validate_config
    from sweeps.search.space import SpaceError

    with pytest.raises(SpaceError) as caught:
        validate_config(parse_space(sweep.space), {"lr": 0.01, "layers": HUGE, "opt": "adam"})
    assert "params.layers" in caught.value.errors


# --- item 6: nesting 10,000 deep ------------------------------------------------------------


def test_a_body_nested_10000_deep_is_400_naming_the_body(owner: Any, client_for: Any) -> None:
    response = post_json(client_for(owner), reverse("api-sweeps"), deep_list(DEEP))
    assert "nested deeper than" in assert_names(response, "body")
    assert counts()["sweeps"] == 0


def test_trainer_args_nested_10000_deep_is_400(owner: Any, client_for: Any) -> None:
    text = json.dumps(spec(trainer_args="@")).replace('"@"', deep_list(DEEP))
    response = post_json(client_for(owner), reverse("api-sweeps"), text)
    assert "nested deeper than" in assert_names(response, "body")
    assert counts()["sweeps"] == 0


def test_trainer_args_nested_below_the_parser_limit_is_400_naming_trainer_args(
    owner: Any, client_for: Any
) -> None:
    # Deep enough to break a recursive walk later, shallow enough for json.loads.
    body = json.dumps(spec(trainer_args={"batch_size": deep_object(200)}))
    response = post_json(client_for(owner), reverse("api-sweeps"), body)
    errors = response.json()["errors"]
    assert response.status_code == 400
    [field] = errors
    assert field.startswith("trainer_args.batch_size.a.a") and "nested deeper" in errors[field]
    assert counts()["sweeps"] == 0


def test_a_deep_patch_body_is_400(owner: Any, client_for: Any, sweep: Sweep) -> None:
    response = post_json(
        client_for(owner), reverse("api-sweep", args=[sweep.pk]), deep_list(DEEP), "patch"
    )
    assert_names(response, "body")


# --- item 6: NUL characters -----------------------------------------------------------------


def test_a_nul_in_a_sweep_name_is_400(owner: Any, client_for: Any) -> None:
    body = json.dumps(spec(name="lr\x00search"))
    response = post_json(client_for(owner), reverse("api-sweeps"), body)
    assert "NUL" in assert_names(response, "name")
    assert counts()["sweeps"] == 0


def test_a_nul_in_a_categorical_choice_is_400(owner: Any, client_for: Any) -> None:
    space = {"opt": {"type": "categorical", "choices": ["adam", "s\x00gd"]}}
    response = post_json(client_for(owner), reverse("api-sweeps"), json.dumps(spec(space=space)))
    assert "NUL" in assert_names(response, "space.opt.choices[1]")
    assert counts()["sweeps"] == 0


def test_a_nul_in_the_metrics_name_filter_is_400(owner: Any, client_for: Any, sweep: Sweep) -> None:
    trial = sweep.trials.get(number=1)
    add_points(trial, "train_loss", [1.0, 0.5])
    url = reverse("api-trial-metrics", args=[trial.pk])
    response = client_for(owner).get(url, {"name": "train\x00loss"})
    assert "NUL" in assert_names(response, "name")
    assert MetricPoint.objects.count() == 2


# --- item 6: an int parameter whose export fails --------------------------------------------


def test_an_int_parameter_with_high_1e300_is_400(owner: Any, client_for: Any) -> None:
    space = {"n": {"type": "int", "low": 1, "high": 1e300}}
    response = post_json(client_for(owner), reverse("api-sweeps"), json.dumps(spec(space=space)))
    assert "between" in assert_names(response, "space.n.high")
    assert counts()["sweeps"] == 0


def test_the_widest_int_parameter_accepted_still_exports_to_parquet(
    owner: Any, client_for: Any
) -> None:
    from sweeps.search.space import INT_BOUND

    space = {"n": {"type": "int", "low": -INT_BOUND, "high": INT_BOUND}}
    client = client_for(owner)
    created = post_json(client, reverse("api-sweeps"), json.dumps(spec(space=space, start=False)))
    assert created.status_code == 201, created.content
    sweep = Sweep.objects.get()
    for number, value in enumerate((INT_BOUND, -INT_BOUND), start=1):
        sweep.trials.create(number=number, params={"n": value}, status="pending")
    response = client.get(reverse("api-export-parquet", args=[sweep.pk]))
    assert response.status_code == 200
    import io

    import pandas as pd

    frame = pd.read_parquet(io.BytesIO(response.content))
    assert list(frame["params.n"]) == [INT_BOUND, -INT_BOUND]


def test_a_float_range_that_overflows_is_400(owner: Any, client_for: Any) -> None:
    space = {"x": {"type": "float", "low": -1.5e308, "high": 1.5e308}}
    response = post_json(client_for(owner), reverse("api-sweeps"), json.dumps(spec(space=space)))
    assert "finite" in assert_names(response, "space.x.high")


# --- item 7: schema and behaviour agree ------------------------------------------------------


@pytest.mark.parametrize("field", ["scheduler", "sampler", "objective", "trainer_args"])
def test_null_where_the_schema_says_object_is_400(owner: Any, client_for: Any, field: str) -> None:
    body = json.dumps(spec(**{field: None}))
    response = post_json(client_for(owner), reverse("api-sweeps"), body)
    assert assert_names(response, field)
    assert counts()["sweeps"] == 0


@pytest.mark.parametrize("value", ["true", "false", "", "yes"])
def test_export_metrics_takes_only_0_or_1(
    owner: Any, client_for: Any, sweep: Sweep, value: str
) -> None:
    response = client_for(owner).get(reverse("api-export-csv", args=[sweep.pk]), {"metrics": value})
    assert "must be 1 or 0" in assert_names(response, "metrics")


def test_patch_with_no_field_is_400_and_documented_so(
    owner: Any, client_for: Any, sweep: Sweep
) -> None:
    from sweeps.api.docs import build_schema

    response = post_json(client_for(owner), reverse("api-sweep", args=[sweep.pk]), "{}", "patch")
    assert "at least one" in assert_names(response, "body")
    schema = build_schema()
    body = schema["paths"]["/api/sweeps/{id}/"]["patch"]["requestBody"]["content"]
    ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    update = schema["components"]["schemas"][ref]
    assert update["minProperties"] == 1 and update["additionalProperties"] is False


def test_the_metrics_name_limit_is_documented_and_kept(
    owner: Any, client_for: Any, sweep: Sweep
) -> None:
    from sweeps.api.docs import build_schema

    operation = build_schema()["paths"]["/api/trials/{id}/metrics/"]["get"]
    [name] = [p for p in operation["parameters"] if p["name"] == "name"]
    assert name["schema"]["maxLength"] == 32
    trial = sweep.trials.get(number=1)
    url = reverse("api-trial-metrics", args=[trial.pk])
    assert client_for(owner).get(url, {"name": "x" * 32}).status_code == 200
    assert_names(client_for(owner).get(url, {"name": "x" * 33}), "name")


# --- item 7: answers Django gives itself are JSON under /api/ -------------------------------


def test_a_20_mb_body_is_413_json_and_creates_nothing(owner: Any, client_for: Any) -> None:
    body = b'{"name": "' + b"x" * (20 * 2**20) + b'"}'
    response = post_json(client_for(owner), reverse("api-sweeps"), body)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "at most" in response.json()["detail"]
    assert counts()["sweeps"] == 0


def test_a_body_over_the_limit_is_413_from_the_parser_too(
    owner: Any, client_for: Any, settings: Any
) -> None:
    # The middleware reads the body first; the parser's own limit holds without it.
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "sweeps.api.middleware.ApiErrorsMiddleware"
    ]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps(spec(name="x" * 2000))
    response = post_json(client_for(owner), reverse("api-sweeps"), body)
    assert response.status_code == 413 and "1024 bytes" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/%0A", "/api/sweeps/%0A/", "/api/\n/trials/"])
def test_an_api_path_with_a_newline_is_a_json_404(
    owner: Any, client_for: Any, settings: Any, path: str
) -> None:
    settings.DEBUG = True  # the debug 404 page was what answered
    response = client_for(owner).get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_bad_host_under_api_is_a_json_400(client_for: Any, owner: Any) -> None:
    response = client_for(owner).get(reverse("api-sweeps"), HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json() == {"errors": {"request": "is malformed"}}


def test_a_server_error_under_api_is_json_even_with_debug(
    owner: Any, client_for: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sweeps import services

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("postgres://rungs:hunter2@db/rungs")

    monkeypatch.setattr(services, "create_sweep", crash)
    settings.DEBUG = True
    client = client_for(owner)
    client.raise_request_exception = False
    response = post_json(client, reverse("api-sweeps"), json.dumps(spec()))
    assert response.status_code == 500
    assert response.json() == {"detail": "Server error."}
    assert b"hunter2" not in response.content


def test_pages_outside_the_api_keep_their_html_errors(client_for: Any, owner: Any) -> None:
    response = client_for(owner).get("/no-such-page/")
    assert response.status_code in (302, 404)  # the login redirect, or the HTML 404
    assert response.get("Content-Type", "").startswith("text/html") or response.status_code == 302


@pytest.mark.parametrize(
    "url", ["/api/sweeps/{id}/", "/api/trials/{id}/", "/api/trials/{id}/metrics/"]
)
def test_an_id_past_what_a_column_holds_is_a_json_404(
    owner: Any, client_for: Any, url: str
) -> None:
    response = client_for(owner).get(url.format(id=10**30))
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("value", [str(10**30), "１２", "1_000", " 5"])
def test_a_cursor_that_is_no_plain_int64_is_400(
    owner: Any, client_for: Any, sweep: Sweep, value: str
) -> None:
    trial = sweep.trials.get(number=1)
    response = client_for(owner).get(
        reverse("api-trial-metrics", args=[trial.pk]), {"after": value}
    )
    assert_names(response, "after")


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_a_big_body_and_a_newline_path_are_json(owner: Any) -> None:
    # daphne serves Rungs through Django's ASGI handler, which spools the body to a file.
    from django.test import AsyncClient

    client = AsyncClient()
    big = await client.post(
        "/api/sweeps/", b"[" + b"0," * (10 * 2**20) + b"0]", content_type="application/json"
    )
    assert big.status_code == 413 and "at most" in big.json()["detail"]
    newline = await client.get("/api/%0A")
    assert newline.status_code == 404 and newline.json() == {"detail": "Not found."}
