"""The live socket: snapshot, increments, resume, refusal, steering checked per message."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client

from dashboard import tailer
from dashboard.routing import websocket_urlpatterns
from sweeps.models import MetricPoint, Trial
from sweeps.nudges import sweep_group
from tests.dashboard.conftest import add_points, make_sweep, make_trial

pytestmark = pytest.mark.django_db(transaction=True)
ROUTER = URLRouter(websocket_urlpatterns)


async def _open(user: Any, sweep_id: int, query: str = "") -> WebsocketCommunicator:
    comm = WebsocketCommunicator(ROUTER, f"/ws/sweeps/{sweep_id}/{query}")
    comm.scope["user"] = user
    connected, _ = await comm.connect(timeout=10)
    assert connected
    return comm


async def _recv(comm: WebsocketCommunicator, kind: str | None = None, timeout: float = 5) -> dict:
    """The next message (of ``kind``, skipping others such as analytics)."""
    while True:
        message = json.loads(await comm.receive_from(timeout=timeout))
        if kind is None or message["type"] == kind:
            return message


def _steps(messages: list[dict], trial: int, name: str = "train_loss") -> list[int]:
    out: list[int] = []
    for m in messages:
        for group in m.get("points", []):
            if group["t"] == trial and group["n"] == name:
                out.extend(group["s"])
    return out


async def _nudge(sweep_id: int) -> None:
    """What a service does on commit (``nudge_sweep``), from inside the test's event loop."""
    await get_channel_layer().group_send(sweep_group(sweep_id), {"type": "sweep.nudge"})


async def _close(*comms: WebsocketCommunicator) -> None:
    # The consumer's disconnect step hands the group membership on; on a loaded machine it
    # can take longer than the communicator's default second, which would cancel it midway.
    for comm in comms:
        await comm.disconnect(timeout=5)


async def test_snapshot_then_increments(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, status="running", step=9)
    add_points(trial, "train_loss", range(10), [1.0 - i / 20 for i in range(10)])
    comm = await _open(user, sweep.pk)
    snap = await _recv(comm, "snapshot")
    assert snap["full"] is True
    assert snap["cursor"] == MetricPoint.objects.order_by("-id").first().pk
    [trace] = snap["figures"]["loss"]["data"]
    assert trace["meta"] == {"trial": trial.pk, "number": 1, "metric": "train_loss"}
    assert trace["x"] == list(range(10))
    assert [t["number"] for t in snap["trials"]] == [1]
    assert snap["bracket"]["brackets"][0]["rungs"][0]["cells"][0]["state"] == "running"

    add_points(trial, "train_loss", [10, 11], [0.4, 0.3])
    await _nudge(sweep.pk)
    inc = await _recv(comm, "inc")
    assert inc["points"] == [{"t": trial.pk, "n": "train_loss", "s": [10, 11], "v": [0.4, 0.3]}]
    assert inc["cursor"] == MetricPoint.objects.order_by("-id").first().pk
    assert inc["tmax"] is not None
    await _close(comm)


async def test_trial_changes_reach_the_page(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, status="pending")
    comm = await _open(user, sweep.pk)
    await _recv(comm, "snapshot")
    Trial.objects.filter(pk=trial.pk).update(status="running", worker="w1")
    make_trial(sweep, 2)  # a new trial appears
    inc = await _recv(comm, "inc")
    rows = {t["number"]: t for t in inc["trials"]}
    assert rows[1]["status"] == "running" and rows[1]["worker"] == "w1"
    assert 2 in rows
    assert inc["bracket"]["brackets"][0]["rungs"][0]["size"] == 2
    await _close(comm)


async def test_resume_from_cursor_has_no_gap_and_no_duplicate(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, status="running")
    add_points(trial, "train_loss", range(0, 5), [1.0] * 5)
    comm = await _open(user, sweep.pk)
    snap = await _recv(comm, "snapshot")
    seen = list(snap["figures"]["loss"]["data"][0]["x"])
    add_points(trial, "train_loss", range(5, 10), [0.9] * 5)
    await _nudge(sweep.pk)
    inc = await _recv(comm, "inc")
    seen += _steps([inc], trial.pk)
    cursor = inc["cursor"]
    await _close(comm)

    add_points(trial, "train_loss", range(10, 15), [0.8] * 5)  # while the page is away
    comm = await _open(user, sweep.pk, f"?cursor={cursor}")
    resumed = await _recv(comm, "snapshot")
    assert resumed["full"] is False and "figures" not in resumed
    seen += _steps([resumed], trial.pk)
    add_points(trial, "train_loss", range(15, 20), [0.7] * 5)
    await _nudge(sweep.pk)
    seen += _steps([await _recv(comm, "inc")], trial.pk)
    assert seen == list(range(20))
    await _close(comm)


async def test_a_page_ahead_of_the_process_gets_nothing_twice(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, status="running")
    points = add_points(trial, "train_loss", range(5), [1.0] * 5)
    # The page claims to have more than exists (another process served it): skip, don't fail.
    comm = await _open(user, sweep.pk, f"?cursor={points[-1].pk}")
    snap = await _recv(comm, "snapshot")
    assert snap["points"] == []
    add_points(trial, "train_loss", [5], [0.5])
    await _nudge(sweep.pk)
    assert _steps([await _recv(comm, "inc")], trial.pk) == [5]
    await _close(comm)


async def test_one_tailer_per_sweep_however_many_pages(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, status="running")
    pages = [await _open(user, sweep.pk) for _ in range(3)]
    for page in pages:
        await _recv(page, "snapshot")
    assert [t.sweep_id for t in tailer.running_tailers()] == [sweep.pk]
    add_points(trial, "train_loss", [0], [1.0])
    await _nudge(sweep.pk)
    for page in pages:
        assert _steps([await _recv(page, "inc")], trial.pk) == [0]
    await _close(*pages)
    await asyncio.sleep(0)
    assert tailer.running_tailers() == []


async def _group_members(sweep_id: int) -> set[str]:
    """This process's channels in the sweep's group (in-memory layer or channels-redis,
    where other processes on the same Redis may have left members of their own)."""
    layer = get_channel_layer()
    group = sweep_group(sweep_id)
    if hasattr(layer, "groups"):  # in-memory
        return set(layer.groups.get(group, {}))
    redis = layer.connection(layer.consistent_hash(group))
    members = {m.decode() for m in await redis.zrange(layer._group_key(group), 0, -1)}
    return {m for m in members if m.startswith(f"specific.{layer.client_prefix}!")}


async def test_an_idle_page_stays_open_past_the_layers_blocking_wait(user: Any) -> None:
    # channels-redis waits for a socket's next message with a 5 s blocking pop: a Redis
    # client that gave up reading first closed every idle page (1011) after 5 s.
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, status="running")
    page = await _open(user, sweep.pk)
    await _recv(page, "snapshot")
    await asyncio.sleep(6.5)
    assert not page.future.done(), "the socket's consumer stopped while idle"
    add_points(trial, "train_loss", [0], [1.0])
    await _nudge(sweep.pk)
    assert _steps([await _recv(page, "inc")], trial.pk) == [0]
    await _close(page)


async def test_a_nudge_reaches_the_process_once_however_many_pages(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, status="running")
    pages = []
    for _ in range(3):  # one after another: the first page attached stands in the group
        pages.append(await _open(user, sweep.pk))
        await _recv(pages[-1], "snapshot")
    # One page's channel stands in the group for the tailer: one message per nudge.
    [member] = await _group_members(sweep.pk)
    add_points(trial, "train_loss", [0], [1.0])
    await _nudge(sweep.pk)
    for page in pages:
        assert _steps([await _recv(page, "inc")], trial.pk) == [0]
    # The member (the first page) leaves: another takes its place, and nudges still wake
    # the tailer (sooner than the fallback poll with Redis).
    await _close(pages[0])
    rest = pages[1:]
    for _ in range(200):  # the hand-over is done by the time the close returns; allow a lag
        members = await _group_members(sweep.pk)
        if members != {member}:
            break
        await asyncio.sleep(0.05)
    [successor] = members
    assert successor != member
    add_points(trial, "train_loss", [1], [0.9])
    await _nudge(sweep.pk)
    for page in rest:
        assert _steps([await _recv(page, "inc", timeout=0.5)], trial.pk) == [1]
    await _close(*rest)
    assert await _group_members(sweep.pk) == set()


async def test_trial_page_gets_only_its_trial(user: Any) -> None:
    sweep = make_sweep(user)
    one, two = make_trial(sweep, 1, status="running"), make_trial(sweep, 2, status="running")
    add_points(one, "val_acc", [0], [0.5])
    comm = await _open(user, sweep.pk, f"?trial={one.pk}")
    snap = await _recv(comm, "snapshot")
    assert [(s["trial"], s["name"]) for s in snap["series"]] == [(one.pk, "val_acc")]
    add_points(two, "train_loss", [0], [1.0])
    add_points(one, "train_loss", [0], [2.0])
    await _nudge(sweep.pk)
    inc = await _recv(comm, "inc")
    assert [(g["t"], g["n"]) for g in inc["points"]] == [(one.pk, "train_loss")]
    await _close(comm)


# --- refusal --------------------------------------------------------------------------------


def _session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _full_app_connect(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[bool, Any]:
    from dashboard.asgi import application

    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await comm.connect(timeout=10)
    # Refused or not, the client goes away as a server would say it: the consumer ends on
    # its own instead of being cancelled with the test's loop (with channels-redis, a
    # receive cancelled that way could hold the loop's teardown).
    await comm.disconnect(timeout=10)
    return connected, code


async def test_logged_in_same_origin_connects_through_the_full_stack(user: Any) -> None:
    sweep = make_sweep(user)
    headers = [
        (b"host", b"testserver"),
        (b"origin", b"http://testserver"),
        (b"cookie", _session_cookie(user)),
    ]
    connected, _ = await _full_app_connect(f"/ws/sweeps/{sweep.pk}/", headers)
    assert connected


async def test_foreign_origin_is_refused(user: Any) -> None:
    sweep = make_sweep(user)
    headers = [(b"origin", b"http://evil.example"), (b"cookie", _session_cookie(user))]
    connected, _ = await _full_app_connect(f"/ws/sweeps/{sweep.pk}/", headers)
    assert not connected


async def test_anonymous_is_refused(user: Any) -> None:
    sweep = make_sweep(user)
    connected, _ = await _full_app_connect(
        f"/ws/sweeps/{sweep.pk}/", [(b"origin", b"http://testserver")]
    )
    assert not connected


async def test_someone_elses_sweep_is_refused(user: Any, other_user: Any) -> None:
    sweep = make_sweep(other_user)
    comm = WebsocketCommunicator(ROUTER, f"/ws/sweeps/{sweep.pk}/")
    comm.scope["user"] = user
    connected, _ = await comm.connect(timeout=10)
    assert not connected
    await comm.disconnect(timeout=10)


# --- steering -------------------------------------------------------------------------------


async def _ask(comm: WebsocketCommunicator, **message: Any) -> dict:
    await comm.send_to(text_data=json.dumps({"ref": 1, **message}))
    while True:
        reply = await _recv(comm)
        if reply["type"] in ("reply", "error"):
            return reply


async def test_owner_kills_a_trial_over_the_socket(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, status="running", worker="w1")
    comm = await _open(user, sweep.pk)
    await _recv(comm, "snapshot")
    reply = await _ask(comm, action="kill", trial=trial.pk)
    assert reply["ok"] is True and reply["trial"]["status"] == "killed"
    trial.refresh_from_db()
    assert trial.status == "killed"
    assert trial.events.get(kind="killed").user == user
    await _close(comm)


async def test_viewer_may_watch_but_not_steer(user: Any, other_user: Any) -> None:
    sweep = make_sweep(user)
    sweep.viewers.add(other_user)
    trial = make_trial(sweep, 1, status="running")
    comm = await _open(other_user, sweep.pk)
    await _recv(comm, "snapshot")
    reply = await _ask(comm, action="kill", trial=trial.pk)
    assert reply["type"] == "error" and "permission" in reply["errors"]
    trial.refresh_from_db()
    assert trial.status == "running"
    await _close(comm)


async def test_permission_is_checked_on_every_message(user: Any, staff_user: Any) -> None:
    sweep = make_sweep(user)
    first, second = make_trial(sweep, 1, status="running"), make_trial(sweep, 2, status="running")
    comm = await _open(staff_user, sweep.pk)
    await _recv(comm, "snapshot")
    assert (await _ask(comm, action="pause", trial=first.pk))["ok"] is True
    staff_user.is_staff = False  # the same socket, the right revoked meanwhile
    staff_user.save(update_fields=["is_staff"])
    reply = await _ask(comm, action="pause", trial=second.pk)
    assert reply["type"] == "error" and "sweep" in reply["errors"]  # it cannot even see it now
    second.refresh_from_db()
    assert second.status == "running"
    await _close(comm)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"action": "explode"}, "action"),
        ({"action": "kill"}, "trial"),
        ({"action": "kill", "trial": "7"}, "trial"),
        ({"action": "kill", "trial": 10**9}, "trial"),
        ({"action": "enqueue", "params": "lr=1"}, "params"),
        ({"action": "enqueue", "params": {"lr": 5.0, "layers": 1, "opt": "adam"}}, "params.lr"),
        ({"action": "update_sweep", "concurrency": 0}, "concurrency"),
        ({"action": "promote", "trial": "FIRST"}, "status"),
        ({"action": "extend", "trial": "FIRST"}, "status"),
    ],
)
async def test_bad_messages_name_the_field(user: Any, message: dict, field: str) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, status="running")
    if message.get("trial") == "FIRST":
        message = {**message, "trial": trial.pk}
    comm = await _open(user, sweep.pk)
    await _recv(comm, "snapshot")
    reply = await _ask(comm, **message)
    assert reply["type"] == "error"
    assert field in reply["errors"], reply
    await _close(comm)


async def test_not_json_is_an_error_not_a_crash(user: Any) -> None:
    sweep = make_sweep(user)
    comm = await _open(user, sweep.pk)
    await _recv(comm, "snapshot")
    await comm.send_to(text_data="{kill")
    reply = await _recv(comm, "error")
    assert "message" in reply["errors"]
    await _close(comm)


async def test_enqueue_and_sweep_actions(user: Any) -> None:
    sweep = make_sweep(user)
    comm = await _open(user, sweep.pk)
    await _recv(comm, "snapshot")
    reply = await _ask(comm, action="enqueue", params={"lr": 0.01, "layers": 2, "opt": "sgd"})
    assert reply["ok"] and reply["trial"]["manual"] is True
    assert (await _ask(comm, action="update_sweep", concurrency=5))["sweep"]["concurrency"] == 5
    assert (await _ask(comm, action="pause_sweep"))["sweep"]["status"] == "paused"
    assert (await _ask(comm, action="resume_sweep"))["sweep"]["status"] == "running"
    assert (await _ask(comm, action="cancel_sweep"))["sweep"]["status"] == "cancelled"
    await _close(comm)
