"""A socket never leaves its place in the sweep's tailer behind: a bad frame is answered, a
handler that raises or a cancelled consumer still gives the place back, and the pages left
(new ones too) keep getting pushes, not the slow poll."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.layers import get_channel_layer

from dashboard import steering, tailer
from sweeps.nudges import sweep_group
from tests.dashboard.conftest import add_points, make_sweep, make_trial
from tests.dashboard.test_consumer import _close, _group_members, _nudge, _open, _recv, _steps

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def push_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tailers never poll on their own: an increment a page gets came from a nudge."""
    monkeypatch.setattr(tailer, "POLL_EMBEDDED", 60.0)
    monkeypatch.setattr(tailer, "POLL_REDIS", 60.0)


def _running_trial(sweep: Any) -> Any:
    """A running trial with a first point: the tailers start at it, so the next point's id
    follows their cursor (an id gap is waited out until a poll, and these tests never poll)."""
    trial = make_trial(sweep, 1, status="running")
    add_points(trial, "train_loss", [0], [1.0])
    return trial


async def _pages(user: Any, sweep_id: int, n: int) -> list[Any]:
    """``n`` pages, opened one after another: the first one's channel stands in the group."""
    pages = []
    for _ in range(n):
        pages.append(await _open(user, sweep_id))
        await _recv(pages[-1], "snapshot")  # attached: the next page finds a member
    return pages


async def _all_pushed(pages: list[Any], trial: Any, step: int) -> None:
    add_points(trial, "train_loss", [step], [1.0 / (step + 1)])
    await _nudge(trial.sweep_id)
    for page in pages:
        assert _steps([await _recv(page, "inc", timeout=5)], trial.pk) == [step]


NESTED = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(NESTED, id="nested-10000-deep"),
        pytest.param('{"action": "kill", "trial": ' + "[" * 40 + "]" * 40 + "}", id="nested-40"),
        pytest.param(json.dumps({"action": "kill", "pad": "x" * 70_000}), id="too-large"),
        pytest.param('{"action": "kill", "trial": ' + "9" * 400 + "}", id="huge-integer"),
        pytest.param('{"action": "kill\\u0000"}', id="nul-character"),
        pytest.param('{"action": NaN}', id="nan"),
    ],
)
async def test_a_bad_frame_is_answered_and_every_page_keeps_its_pushes(
    user: Any, push_only: None, frame: str
) -> None:
    sweep = make_sweep(user)
    trial = _running_trial(sweep)
    pages = await _pages(user, sweep.pk, 2)
    [member] = await _group_members(sweep.pk)

    await pages[0].send_to(text_data=frame)  # from the page that stands in the group
    reply = await _recv(pages[0], "error")
    assert reply["ok"] is False and reply["action"] is None
    [field] = reply["errors"]
    assert field.startswith("message"), reply
    assert not pages[0].future.done(), "the socket closed instead of answering"

    pages.append(await _open(user, sweep.pk))  # a page opened afterwards
    await _recv(pages[-1], "snapshot")
    assert await _group_members(sweep.pk) == {member}
    await _all_pushed(pages, trial, 1)
    await _close(*pages)


async def test_a_binary_frame_is_answered(user: Any) -> None:
    sweep = make_sweep(user)
    [page] = await _pages(user, sweep.pk, 1)
    await page.send_to(bytes_data=b'{"action": "pause_sweep"}')
    reply = await _recv(page, "error")
    assert "message" in reply["errors"]
    await _close(page)


async def test_a_consumer_whose_handler_raises_still_releases_its_stream(
    user: Any, push_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = make_sweep(user)
    trial = _running_trial(sweep)
    pages = await _pages(user, sweep.pk, 2)
    [running] = tailer.running_tailers()
    assert len(running.streams) == 2
    [member] = await _group_members(sweep.pk)

    def broken(*args: Any) -> Any:
        raise RuntimeError("a handler bug")

    monkeypatch.setattr(steering, "handle", broken)
    await pages[0].send_to(text_data='{"action": "pause_sweep"}')
    with pytest.raises(RuntimeError, match="a handler bug"):
        await pages[0].wait(timeout=5)  # the consumer died (daphne closes such a socket 1011)

    assert len(running.streams) == 1
    [successor] = await _group_members(sweep.pk)
    assert successor != member
    survivors = [pages[1], await _open(user, sweep.pk)]
    await _recv(survivors[1], "snapshot")
    await _all_pushed(survivors, trial, 1)
    await _close(*survivors)
    await asyncio.sleep(0)
    assert tailer.running_tailers() == []
    assert await _group_members(sweep.pk) == set()


async def test_a_cancelled_consumer_releases_its_stream(user: Any, push_only: None) -> None:
    sweep = make_sweep(user)
    trial = _running_trial(sweep)
    pages = await _pages(user, sweep.pk, 2)
    [running] = tailer.running_tailers()
    [member] = await _group_members(sweep.pk)

    pages[0].future.cancel()  # what the server does to a consumer that outstays its socket
    for _ in range(50):
        members = await _group_members(sweep.pk)
        if len(running.streams) == 1 and members not in (set(), {member}):
            break
        await asyncio.sleep(0.05)
    assert len(running.streams) == 1
    assert members not in (set(), {member})  # the other page stands in the group now
    await _all_pushed([pages[1]], trial, 1)
    await _close(pages[1])


async def test_a_member_the_layer_forgot_joins_again(
    user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Redis restart forgets the group; the tailer re-joins its member page.
    monkeypatch.setattr(tailer, "MEMBER_EVERY", 0.2)
    sweep = make_sweep(user)
    [page] = await _pages(user, sweep.pk, 1)
    [member] = await _group_members(sweep.pk)
    await get_channel_layer().group_discard(sweep_group(sweep.pk), member)
    for _ in range(60):
        if await _group_members(sweep.pk):
            break
        await asyncio.sleep(0.05)
    assert await _group_members(sweep.pk) == {member}
    await _close(page)
