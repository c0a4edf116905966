"""Over the live socket, sharing decides steering as it does in the API: an editor steers,
a viewer is refused (403), and a share taken away holds from the next message on."""

from __future__ import annotations

from typing import Any

import pytest

from sweeps import services
from tests.dashboard.conftest import make_sweep, make_trial
from tests.dashboard.test_consumer import _ask, _close, _open, _recv

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_editor_steers_and_a_viewer_is_refused(
    user: Any, other_user: Any, django_user_model: Any
) -> None:
    editor = django_user_model.objects.create_user("dave")
    sweep = make_sweep(user)
    services.share_sweep(sweep.pk, user, viewers=[other_user], editors=[editor])
    first, second = make_trial(sweep, 1, status="running"), make_trial(sweep, 2, status="running")

    watching = await _open(other_user, sweep.pk)
    await _recv(watching, "snapshot")
    reply = await _ask(watching, action="kill", trial=first.pk)
    assert reply["type"] == "error" and reply["code"] == 403
    assert "editors, owner or staff" in reply["errors"]["permission"]
    first.refresh_from_db()
    assert first.status == "running"

    steering = await _open(editor, sweep.pk)
    await _recv(steering, "snapshot")
    reply = await _ask(steering, action="kill", trial=first.pk)
    assert reply["ok"] is True and reply["trial"]["status"] == "killed"
    first.refresh_from_db()
    assert first.events.get(kind="killed").user == editor

    # The owner makes the editor a viewer: the open socket is refused from then on.
    services.share_sweep(sweep.pk, user, viewers=[other_user, editor], editors=[])
    reply = await _ask(steering, action="pause", trial=second.pk)
    assert reply["type"] == "error" and reply["code"] == 403
    second.refresh_from_db()
    assert second.status == "running"
    await _close(watching, steering)
