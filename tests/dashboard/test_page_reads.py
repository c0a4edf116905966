"""A page's reads beyond its first message, answered from the live state: pages of trial
rows, a search through every trial, and one folded rung whole."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.live import pages
from tests.dashboard.test_live_state import _started, _trial


def _state() -> Any:
    return _started(
        _trial(1, "running", params={"lr": 0.01, "optimizer": "adam"}),
        _trial(2, "stopped", params={"lr": 0.1, "optimizer": "sgd"}),
        _trial(12, "completed", params={"lr": 0.001, "optimizer": "adam"}),
        _trial(21, "killed", params={"lr": 0.5, "optimizer": "adamw"}),
    )


def _numbers(reply: dict[str, Any]) -> list[int]:
    return [t["number"] for t in reply["trials"]]


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("12", [12]),
        ("#2", [2]),
        ("running", [1]),
        ("KILLED", [21]),
        ("optimizer=adam", [1, 12, 21]),  # adamw begins with adam
        ("sgd", [2]),
        ("lr=0.1", [2]),
        ("  adamw ", [21]),
        ("999", []),
        ("momentum", []),
    ],
)
def test_a_search_finds_trials_by_number_status_or_parameter(q: str, found: list[int]) -> None:
    reply = pages.answer(_state(), {"action": "trials", "q": q, "ref": 3})
    assert reply["ok"] and reply["ref"] == 3
    assert _numbers(reply) == found and reply["total"] == len(found)


def test_a_search_is_paged_like_the_rows() -> None:
    reply = pages.answer(_state(), {"action": "trials", "q": "adam", "offset": 1, "limit": 1})
    assert _numbers(reply) == [12] and reply["total"] == 3


@pytest.mark.parametrize("q", ["", "   ", 12, ["adam"], "x" * (pages.FIND_MAX + 1)])
def test_a_search_that_names_nothing_is_refused_naming_q(q: Any) -> None:
    reply = pages.answer(_state(), {"action": "trials", "q": q})
    assert reply["type"] == "error" and reply["code"] == 400 and list(reply["errors"]) == ["q"]


def test_rows_come_a_page_at_a_time_in_number_order() -> None:
    reply = pages.answer(_state(), {"action": "trials", "offset": 1, "limit": 2})
    assert _numbers(reply) == [2, 12] and reply["total"] == 4
    bad = pages.answer(_state(), {"action": "trials", "offset": -1})
    assert not bad["ok"] and list(bad["errors"]) == ["offset"]
