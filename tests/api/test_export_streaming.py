"""CSV and JSON exports stream chunk by chunk, and the bytes are those of the whole table
rendered at once (what the export sent before it streamed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection, connections
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sweeps.api import exports
from sweeps.models import RungResult, Sweep
from tests.api.factories import add_points, make_sweep, make_trial

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two rows a chunk: the seven-trial sweep below spans four chunks.
    monkeypatch.setattr(exports, "CHUNK_ROWS", 2)
    monkeypatch.setattr(exports, "TRIAL_CHUNK_ROWS", 2)


@pytest.fixture
def varied(owner: Any) -> Sweep:
    """Trials whose columns change from chunk to chunk: an int param inactive in one trial,
    a choice mixing types, a flag only some trials set, a missing rung value, an error with
    a comma, quotes and a newline."""
    sweep = make_sweep(owner)
    params = [
        {"lr": 0.1, "width": 64, "act": "relu"},
        {"lr": 0.123456789012345, "width": 128, "act": "tanh"},
        {"lr": 1e-05, "act": "relu"},  # width inactive
        {"lr": 0.5, "width": 32, "act": "relu", "flag": True},
        {"lr": 3.0, "width": "auto", "act": "gelu"},
        {"lr": 0.25, "width": 16, "act": "relu"},
        {"lr": 0.05, "width": 8, "act": "relu", "flag": False},
    ]
    for number, p in enumerate(params, start=1):
        if number != 6:
            p["depth"] = number  # ints, inactive in one trial: the whole table has 1.0, 2.0
        trial = make_trial(
            sweep,
            number,
            params=p,
            best_value=None if number == 6 else number / 10,
            error='bad, "quoted"\nsecond line' if number == 3 else "",
            # Whole seconds in the first chunk only: the column still shows microseconds.
            started_at=datetime(2026, 1, 2, 3, 4, 5, 0 if number <= 2 else 6789, tzinfo=UTC),
        )
        if number in (1, 4, 5):
            RungResult.objects.create(sweep=sweep, trial=trial, rung=0, budget=1, value=0.5)
        if number == 4:
            RungResult.objects.create(sweep=sweep, trial=trial, rung=1, budget=3, value=None)
        add_points(trial, "loss", [1.0 / number, None, 0.1])
    return sweep


def _get(client: Any, sweep: Sweep, fmt: str, **query: Any) -> Any:
    return client.get(reverse(f"api-export-{fmt}", args=[sweep.pk]), query)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_trials_stream_the_bytes_of_the_whole_table(
    fmt: str, owner: Any, client_for: Any, varied: Sweep, small_chunks: None
) -> None:
    response = _get(client_for(owner), varied, fmt)
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    parts = list(response.streaming_content)
    assert len(parts) > 3  # more than one chunk of rows was written
    expected, _ = exports.render(exports.trials_frame(varied), fmt)
    assert b"".join(parts) == expected


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_metric_points_stream_the_bytes_of_the_whole_table(
    fmt: str, owner: Any, client_for: Any, varied: Sweep, small_chunks: None
) -> None:
    response = _get(client_for(owner), varied, fmt, metrics=1)
    assert isinstance(response, StreamingHttpResponse)
    parts = list(response.streaming_content)
    assert len(parts) > 3
    expected, _ = exports.render(exports.metrics_frame(varied), fmt)
    assert b"".join(parts) == expected


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("metrics", ["0", "1"])
def test_an_empty_sweep_streams_what_the_whole_table_was(
    fmt: str, metrics: str, owner: Any, client_for: Any
) -> None:
    sweep = make_sweep(owner)
    response = _get(client_for(owner), sweep, fmt, metrics=metrics)
    frame = exports.metrics_frame(sweep) if metrics == "1" else exports.trials_frame(sweep)
    assert b"".join(response.streaming_content) == exports.render(frame, fmt)[0]


def test_rows_are_read_while_the_answer_is_sent_not_before(
    owner: Any, client_for: Any, varied: Sweep, small_chunks: None
) -> None:
    response = _get(client_for(owner), varied, "csv", metrics=1)
    parts = iter(response.streaming_content)
    with CaptureQueriesContext(connection) as before:
        assert next(parts).startswith(b"trial_id,number,name")  # the header
    with CaptureQueriesContext(connection) as during:
        assert next(parts).count(b"\n") == 2  # one chunk: two points
    assert len(before) == 0 and len(during) == 1
    assert sum(part.count(b"\n") for part in parts) == 21 - 2


def test_a_gzipped_export_streams_and_unzips_to_the_same_csv(
    owner: Any, client_for: Any, varied: Sweep
) -> None:
    import gzip

    client = client_for(owner)
    plain = b"".join(_get(client, varied, "csv", metrics=1).streaming_content)
    zipped = client.get(
        reverse("api-export-csv", args=[varied.pk]), {"metrics": 1}, HTTP_ACCEPT_ENCODING="gzip"
    )
    assert zipped.streaming and zipped["Content-Encoding"] == "gzip"
    assert gzip.decompress(b"".join(zipped.streaming_content)) == plain


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_chunks_come_from_an_async_iterator(
    owner: Any, varied: Sweep, small_chunks: None
) -> None:
    # Django would read a plain iterator into one list before sending it under ASGI.
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient
    from rest_framework.authtoken.models import Token

    token = await sync_to_async(Token.objects.create)(user=owner)
    url = reverse("api-export-csv", args=[varied.pk])
    try:
        response = await AsyncClient().get(
            url, {"metrics": 1}, headers={"Authorization": f"Token {token.key}"}
        )
        assert response.status_code == 200 and response.is_async
        parts = [part async for part in response.streaming_content]
        assert len(parts) > 3
        render = sync_to_async(lambda: exports.render(exports.metrics_frame(varied), "csv"))
        assert b"".join(parts) == (await render())[0]
    finally:
        # The test client keeps the request's connection open (a server closes it when the
        # answer ends); PostgreSQL would not drop the test database with it open.
        await sync_to_async(connections.close_all)()
