"""No live-socket message is over ``RUNGS_SOCKET_MAX_BYTES``: a big sweep's page gets a
bounded first message and then its increments; what does not fit is split, and what
cannot be split is replaced by a reload notice and the socket closes (no reconnect loop)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from dashboard.live import limits
from sweeps.models import RungResult, Sweep, Trial
from sweeps.nudges import sweep_group
from sweeps.queries import build_bracket
from tests.dashboard.conftest import add_points, make_sweep, make_trial
from tests.dashboard.test_consumer import _open

TRIALS = 3000


# --- pure: what a page is shown, and splitting -----------------------------------------------


def _row(number: int, **fields: Any) -> dict[str, Any]:
    return {"id": number, "number": number, "status": "stopped", "worker": "",
            "best_value": number / 10, **fields}  # fmt: skip


def test_a_small_sweep_shows_every_trial() -> None:
    rows = [_row(n) for n in range(50, 0, -1)]
    assert [t["number"] for t in limits.visible_trials(rows, "min")] == list(range(1, 51))


def test_a_big_sweep_shows_live_best_and_newest_trials_only() -> None:
    rows = [_row(n) for n in range(1, TRIALS + 1)]
    rows[1499] = _row(1500, status="running", best_value=None)
    shown = limits.visible_trials(rows, "min", limit=100)
    numbers = [t["number"] for t in shown]
    assert len(shown) == 100 and numbers == sorted(numbers)
    assert 1500 in numbers  # live
    assert set(range(1, limits.BEST_ROWS + 1)) <= set(numbers)  # best (min)
    assert TRIALS in numbers  # newest


def _halving(trials: int) -> list[dict[str, Any]]:
    """One bracket: every trial at rung 0 with a result, a third promoted to rung 1."""
    rows, results = [], []
    for n in range(1, trials + 1):
        up = n % 3 == 0
        rows.append({"id": n, "number": n, "status": "running" if n == trials else "stopped",
                     "bracket": 0, "rung": 1 if up else 0, "budget": 3.0 if up else 1.0})  # fmt: skip
        results.append({"trial": n, "rung": 0, "budget": 1.0, "value": random.random()})
    return build_bracket(rows, results)


def test_a_big_bracket_is_sent_folded_as_the_page_folds_it() -> None:
    whole = {"sweep": 1, "brackets": _halving(TRIALS)}
    small = {"sweep": 1, "brackets": _halving(10)}
    assert limits.bracket_view(small) == small
    view = limits.bracket_view(whole)
    [b] = view["brackets"]
    rung0 = b["rungs"][0]
    cells = [c for c in rung0["cells"] if "gap" not in c]
    gaps = [c for c in rung0["cells"] if "gap" in c]
    assert rung0["size"] == TRIALS and rung0["folded"] == sum(g["gap"] for g in gaps)
    assert len(cells) + rung0["folded"] == TRIALS
    assert [c["pos"] for c in cells[: limits.HEAD]] == list(range(limits.HEAD))
    rung1 = b["rungs"][1]
    assert rung1["folded"] and any(c.get("state") == "running" for c in rung1["cells"])
    shown = {c["trial"] for r in b["rungs"] for c in r["cells"] if "gap" not in c}
    assert all(p["trial"] in shown for p in b["promotions"])
    assert len(limits.dumps(view)) < len(limits.dumps(whole)) / 10


def test_an_increment_over_the_cap_goes_in_parts_and_only_the_last_moves_the_cursor() -> None:
    trials = [{"id": n, "number": n, "params": {"x": "a" * 300}} for n in range(400)]
    points = [{"t": 1, "n": "train_loss", "s": list(range(5000)), "v": [0.5] * 5000}]
    message = {"type": "inc", "cursor": 99, "points": points, "tmax": 2.0, "tmin": 1.0,
               "trials": trials, "sweep": {"id": 1}}  # fmt: skip
    parts = [json.loads(t) for t in limits.fit(message, cap=20_000) or []]
    assert len(parts) > 2
    assert all(len(limits.dumps(p)) <= 20_000 for p in parts)
    assert [p.get("cursor") for p in parts] == [None] * (len(parts) - 1) + [99]
    assert [t for p in parts for t in p.get("trials", [])] == trials
    assert [s for p in parts for g in p.get("points", []) for s in g["s"]] == list(range(5000))
    assert parts[0]["sweep"] == {"id": 1}


def test_a_message_that_cannot_be_split_does_not_fit() -> None:
    row = {"id": 1, "number": 1, "params": {"x": "a" * 30_000}}
    assert limits.fit({"type": "inc", "cursor": 1, "trials": [row]}, cap=20_000) is None
    assert limits.fit({"type": "reply", "trials": [row]}, cap=20_000) is None


def test_an_answer_too_big_becomes_an_error_and_the_socket_stays(settings: Any) -> None:
    settings.RUNGS_SOCKET_MAX_BYTES = 65_536
    reply = {"type": "reply", "ref": 7, "action": "surrogate", "ok": True, "x": "y" * 100_000}
    [text], reload = limits.outgoing(limits.dumps(reply))
    answer = json.loads(text)
    assert not reload and answer["type"] == "error" and answer["code"] == 413
    assert answer["ref"] == 7 and "over the socket's 65536" in answer["errors"]["message"]
    inc = {"type": "inc", "cursor": 3, "trials": [{"id": 1, "x": "y" * 100_000}]}
    [text], reload = limits.outgoing(limits.dumps(inc))
    assert reload and json.loads(text)["type"] == "reload"


def test_analysis_panels_go_one_a_message_and_one_too_big_says_so() -> None:
    fig = {"data": [{"x": list(range(3000)), "y": [1 / 3] * 3000}], "layout": {"title": "h"}}
    huge = {"data": [{"x": [str(i) * 20 for i in range(3000)]}], "layout": {}}
    parts = limits.fit({"type": "analytics", "history": fig, "parallel": huge}, cap=40_000)
    assert parts is not None and len(parts) == 2
    history, parallel = (json.loads(p) for p in parts)
    assert history["partial"] and history["history"]["data"][0]["y"][0] == 0.33333
    assert parallel["parallel"]["too_big"] and parallel["parallel"]["data"] == []


# --- over the socket ---------------------------------------------------------------------------


def _big_sweep(user: Any, trials: int = TRIALS) -> tuple[Any, Trial]:
    """A successive-halving sweep of ``trials`` trials (bulk-created, one bracket of rung-0
    results) and one running trial with points."""
    sweep = make_sweep(user, status="running")
    rng = random.Random(1)
    Trial.objects.bulk_create(
        Trial(
            sweep=sweep,
            number=n,
            status="stopped",
            budget=1.0,
            best_value=rng.random(),
            params={"lr": rng.random(), "layers": n % 4, "opt": "adam"},
        )  # fmt: skip
        for n in range(1, trials)
    )
    RungResult.objects.bulk_create(
        RungResult(sweep_id=sweep.pk, trial_id=t.pk, rung=0, budget=1.0, value=t.best_value)
        for t in Trial.objects.filter(sweep=sweep)
    )
    live = make_trial(sweep, trials, status="running", worker="w1", step=5)
    add_points(live, "train_loss", range(5), [1.0, 0.9, 0.8, 0.7, 0.6])
    return sweep, live


async def _texts(comm: WebsocketCommunicator, until: str, timeout: float = 10) -> list[str]:
    """Every text the page got up to and including the first message of type ``until``."""
    out = []
    while True:
        text = await comm.receive_from(timeout=timeout)
        out.append(text)
        if json.loads(text)["type"] == until:
            return out


@pytest.mark.django_db(transaction=True)
async def test_a_big_sweep_gets_a_bounded_first_message_then_its_new_points(user: Any) -> None:
    sweep, live = _big_sweep(user)
    comm = await _open(user, sweep.pk)
    try:
        [first] = await _texts(comm, "snapshot")
        assert len(first.encode()) <= limits.max_bytes() and limits.max_bytes() == 1_000_000
        snap = json.loads(first)
        assert snap["sweep"]["trials"] == TRIALS
        assert len(snap["trials"]) == limits.TRIAL_ROWS
        assert live.pk in {t["id"] for t in snap["trials"]}
        traces = {t["meta"]["trial"] for t in snap["figures"]["loss"]["data"]}
        assert traces == {live.pk}

        add_points(live, "train_loss", [5, 6], [0.5, 0.4])
        await get_channel_layer().group_send(sweep_group(sweep.pk), {"type": "sweep.nudge"})
        while True:
            text = await comm.receive_from(timeout=10)
            assert len(text.encode()) <= limits.max_bytes()
            inc = json.loads(text)
            if inc["type"] == "inc" and inc.get("points"):
                break
        assert inc["points"] == [{"t": live.pk, "n": "train_loss", "s": [5, 6], "v": [0.5, 0.4]}]

        # A cancelled sweep offers no action on any trial: 3,000 rows, over the cap in one
        # message, come in parts, and the cursor only with the last.
        Sweep.objects.filter(pk=sweep.pk).update(status="cancelled")
        seen: dict[int, list[str]] = {}
        while len(seen) < TRIALS:
            text = await comm.receive_from(timeout=10)
            assert len(text.encode()) <= limits.max_bytes()
            message = json.loads(text)
            for row in message.get("trials", []):
                seen[row["id"]] = row["actions"]
        assert message["type"] == "inc" and "cursor" in message
        assert all(actions == [] for actions in seen.values())

        # The rest of the rows, a page at a time, on request.
        await comm.send_to(text_data=json.dumps({"action": "trials", "offset": 500, "ref": 1}))
        while (reply := json.loads(await comm.receive_from(timeout=10)))["type"] != "reply":
            pass
        assert reply["total"] == TRIALS and len(reply["trials"]) == 500
        assert [t["number"] for t in reply["trials"]] == list(range(501, 1001))
    finally:
        await comm.disconnect(timeout=10)


@pytest.mark.django_db(transaction=True)
async def test_a_first_message_over_the_cap_goes_in_parts(user: Any, settings: Any) -> None:
    settings.RUNGS_SOCKET_MAX_BYTES = 90_000
    sweep, live = _big_sweep(user, trials=300)
    comm = await _open(user, sweep.pk)
    try:
        texts = await _texts(comm, "snapshot")
        while "cursor" not in json.loads(texts[-1]):
            texts.append(await comm.receive_from(timeout=10))
        assert all(len(t.encode()) <= 90_000 for t in texts)
        parts = [json.loads(t) for t in texts]
        assert parts[0]["type"] == "snapshot" and len(parts) >= 2
        assert all(p["type"] == "inc" and p["part"] == "snapshot" for p in parts[1:])
        rows = [t for p in parts for t in p.get("trials", [])]
        assert len(rows) == limits.TRIAL_ROWS and live.pk in {t["id"] for t in rows}
    finally:
        await comm.disconnect(timeout=10)


@pytest.mark.django_db(transaction=True)
async def test_a_message_that_cannot_fit_is_not_sent_and_the_page_is_told_to_reload(
    user: Any, settings: Any
) -> None:
    settings.RUNGS_SOCKET_MAX_BYTES = 65_536
    sweep = make_sweep(user)
    make_trial(sweep, 1, params={"note": "x" * 100_000})  # one row over the cap alone
    comm = await _open(user, sweep.pk)
    try:
        text = await comm.receive_from(timeout=10)
        assert len(text.encode()) <= 65_536
        notice = json.loads(text)
        assert notice["type"] == "reload" and notice["cap"] == 65_536
        assert notice["bytes"] > 100_000
        closed = await comm.receive_output(timeout=10)
        assert closed == {"type": "websocket.close", "code": 4413}
        assert await comm.receive_nothing(timeout=0.5)  # nothing more is sent
    finally:
        await comm.disconnect(timeout=10)


@pytest.mark.django_db(transaction=True)
async def test_a_page_draws_some_curves_at_first_and_gets_any_trial_s_on_request(
    user: Any,
) -> None:
    sweep, live = _big_sweep(user, trials=300)
    # A finished trial far from the best and the newest: its curves are not drawn at first.
    far = max(
        (t for t in Trial.objects.filter(sweep=sweep, number__lt=200)), key=lambda t: t.best_value
    )
    add_points(far, "train_loss", range(4), [2.0, 1.5, 1.2, 1.1])
    add_points(far, "val_loss", [3], [1.3])
    comm = await _open(user, sweep.pk)
    try:
        texts = await _texts(comm, "snapshot")
        snap = json.loads(texts[0])
        assert snap["curves"] == {"trials": limits.CURVE_TRIALS, "of": 300}
        drawn = {t["meta"]["trial"] for f in snap["figures"].values() for t in f["data"]}
        assert drawn == {live.pk}  # the only other trial with points is not among them

        await comm.send_to(text_data=json.dumps({"action": "curves", "trial": far.pk, "ref": 7}))
        while (reply := json.loads(await comm.receive_from(timeout=10)))["type"] != "reply":
            pass
        assert reply["ref"] == 7 and reply["trial"] == far.pk
        series = {s["name"]: (s["step"], s["value"]) for s in reply["series"]}
        assert series == {
            "train_loss": ([0, 1, 2, 3], [2.0, 1.5, 1.2, 1.1]),
            "val_loss": ([3], [1.3]),
        }

        for bad, field in (({"trial": 10**9}, "trial"), ({"trial": "x"}, "trial"), ({}, "trial")):
            await comm.send_to(text_data=json.dumps({"action": "curves", "ref": 8, **bad}))
            while (error := json.loads(await comm.receive_from(timeout=10)))["type"] != "error":
                pass
            assert error["ref"] == 8 and list(error["errors"]) == [field]
    finally:
        await comm.disconnect(timeout=10)


def test_the_curves_drawn_at_first_are_the_live_and_the_best() -> None:
    rows = [_row(n) for n in range(1, 501)]
    rows[399] = _row(400, status="running", best_value=None)
    chosen = [t["number"] for t in limits.curve_trials(rows, "min")]
    assert len(chosen) == limits.CURVE_TRIALS
    assert 400 in chosen and set(range(1, limits.CURVE_BEST + 1)) <= set(chosen)


@pytest.mark.django_db(transaction=True)
async def test_a_big_sweep_s_panels_come_quick_first_then_whole(user: Any) -> None:
    # Its page's first render leaves them out; the socket sends them without waiting for
    # parameter importance (a forest fit), then with it.
    sweep, _ = _big_sweep(user, trials=limits.TRIAL_ROWS + 100)
    # Importance is cached by its inputs (in Redis, across tests and runs): inputs no other
    # sweep had, so the quick set cannot find it there.
    Trial.objects.filter(sweep=sweep, number=1).update(params={"lr": random.random(), "layers": 1})
    comm = await _open(user, sweep.pk)
    try:
        panels = []
        while len(panels) < 2:
            message = json.loads(await comm.receive_from(timeout=30))
            if message["type"] == "analytics":
                panels.append(message)
        quick, whole = panels
        assert {"history_number", "parallel", "importance"} <= set(quick) & set(whole)
        assert quick["parallel"] == whole["parallel"]
        assert quick["importance"] != whole["importance"]  # "computing…", then the forest's
    finally:
        await comm.disconnect(timeout=10)
