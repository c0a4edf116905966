"""The live state folds what a read found into the message pages get, and sends only what
changed: plain rows in, an increment out, with no database and no channel layer."""

from __future__ import annotations

import json
from typing import Any

from dashboard.live.state import REFRESH, LiveState, Read
from dashboard.live.streams import Row, Stream
from sweeps import actions
from sweeps.models import Sweep

SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}}


def _sweep(status: str = "running") -> Sweep:
    """An unsaved sweep: the state reads only its fields."""
    return Sweep(
        pk=7, name="demo sweep", trainer="synthetic", space=SPACE, status=status,
        objective_metric="val_loss", objective_mode="min",
        scheduler={"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3},
        sampler={"name": "random"}, max_trials=20, concurrency=2,
    )  # fmt: skip


def _trial(tid: int, status: str = "running", sweep: Sweep | None = None, **fields: Any) -> dict:
    """A trial row as ``queries.trial_row`` makes it, with the actions allowed on it."""
    row: dict[str, Any] = {
        "id": tid, "number": tid, "status": status, "params": {"lr": 0.01}, "manual": False,
        "bracket": 0, "rung": 0, "budget": 1.0, "manual_rungs": [], "step": 0,
        "resource_done": 0.0, "best_value": None, "worker": "", "error": "",
        "created_at": None, "started_at": None, "finished_at": None, "has_checkpoint": False,
    }  # fmt: skip
    row.update(fields)
    row["actions"] = actions.row_actions("trial", row, actions.context_for(sweep or _sweep()))
    return row


def _result(rid: int, trial: int, value: float) -> dict[str, Any]:
    return {
        "id": rid, "trial": trial, "rung": 0, "budget": 1.0, "value": value, "manual": False,
        "created_at": None,
    }  # fmt: skip


def _started(*trials: dict[str, Any], now: float = 100.0) -> LiveState:
    state = LiveState()
    state.start(_sweep(), list(trials), [], event_cursor=3, now=now)
    state.analytics_dirty = False  # the first panels were computed
    return state


def test_points_become_one_increment_and_no_points_none() -> None:
    rows = [Row(11, 1, "loss", 0, 1.0, 5.0), Row(12, 1, "loss", 1, float("nan"), 6.0)]
    assert LiveState.points([], 10) is None
    inc = LiveState.points(rows, 12)
    assert inc is not None
    assert inc.message(inc.rows) == {
        "type": "inc", "cursor": 12, "tmax": 6.0, "tmin": 5.0,
        "points": [{"t": 1, "n": "loss", "s": [0, 1], "v": [1.0, None]}],
    }  # fmt: skip


def test_a_read_with_nothing_new_sends_nothing() -> None:
    state = _started(_trial(1), _trial(2, "completed", best_value=0.5))
    assert state.fold(Read(), cursor=50, now=100.5) is None
    assert state.refreshed == 100.0  # the sweep was not re-read
    same = Read(sweep=_sweep(), trials=[_trial(1)])
    assert state.fold(same, cursor=50, now=101.5) is None
    assert state.refreshed == 101.5
    assert not state.analytics_dirty


def test_events_are_sent_once_and_move_the_event_cursor() -> None:
    state = _started(_trial(1))
    event = {"id": 9, "trial": 1, "kind": "paused"}
    inc = state.fold(Read(events=[event]), cursor=50, now=100.1)
    assert inc is not None and inc.cursor == 50 and inc.rows == []
    assert inc.state == {"events": [event]}
    assert state.event_cursor == 9


def test_a_finished_trial_is_sent_with_the_new_summary_and_bracket() -> None:
    state = _started(_trial(1), _trial(2))
    done = _trial(1, "completed", best_value=0.25, rung=2, budget=9.0)
    inc = state.fold(Read(sweep=_sweep(), trials=[done]), cursor=50, now=101.0)
    assert inc is not None
    assert inc.state["trials"] == [done]
    assert inc.state["sweep"]["finished"] == 1
    assert inc.state["sweep"]["best"]["id"] == 1
    assert inc.state["bracket"] == state.bracket
    assert state.analytics_dirty  # the panels follow the bracket
    assert state.snapshot()["trials"][0] == done


def test_a_change_outside_the_bracket_fields_leaves_bracket_and_panels_alone() -> None:
    state = _started(_trial(1))
    bracket = state.bracket
    moved = _trial(1, step=40, resource_done=0.5)
    inc = state.fold(Read(sweep=_sweep(), trials=[moved]), cursor=50, now=101.0)
    assert inc is not None and set(inc.state) == {"trials"}
    assert state.bracket is bracket
    assert not state.analytics_dirty


def test_a_rung_result_moves_the_result_cursor_and_redraws_the_bracket() -> None:
    state = _started(_trial(1, "waiting"))
    inc = state.fold(Read(results=[_result(4, 1, 0.3)]), cursor=50, now=100.1)
    assert inc is not None and "bracket" in inc.state
    assert state.result_cursor == 4
    assert [r["id"] for r in state.results] == [4]
    assert state.analytics_dirty


def test_a_cancelled_sweep_takes_the_actions_of_trials_not_read_again() -> None:
    state = _started(_trial(1), _trial(2, "paused"))
    assert state.trials[2]["actions"]
    cancelled = _sweep("cancelled")
    inc = state.fold(Read(sweep=cancelled, trials=[]), cursor=50, now=101.0)
    assert inc is not None
    assert {t["id"]: t["actions"] for t in inc.state["trials"]} == {1: [], 2: []}
    assert inc.state["sweep"]["status"] == "cancelled"


def test_what_the_next_read_looks_at() -> None:
    state = _started(_trial(1), _trial(2, "completed", worker="w1"), _trial(5, "killed"), now=100.0)
    assert state.watched() == [1, 2]  # active, or its worker has not let go yet
    assert state.max_trial() == 5
    assert not state.idle(100.0 + REFRESH / 2)
    assert state.idle(100.0 + REFRESH)


def test_a_trial_page_gets_only_its_trials_points_past_its_floor() -> None:
    rows = [Row(11, 1, "loss", 0, 1.0, 5.0), Row(12, 2, "loss", 0, 2.0, 5.0)]
    inc = LiveState.points(rows, 12)
    assert inc is not None

    async def send(text: str) -> None: ...

    sweep_page, trial_page, ahead = Stream(send), Stream(send, trial=2), Stream(send)
    ahead.floor = 11
    assert inc.text_for(sweep_page) is inc.text_for(sweep_page)  # one encoding for all
    assert json.loads(inc.text_for(trial_page) or "")["points"] == [
        {"t": 2, "n": "loss", "s": [0], "v": [2.0]}
    ]
    assert json.loads(inc.text_for(ahead) or "")["points"][0]["t"] == 2
    ahead.floor = 12
    assert inc.text_for(ahead) is None
