"""The live sweep socket. It attaches the page to the sweep's shared tailer
(:mod:`dashboard.tailer`) and forwards: nudges to the tailer, page messages to
:mod:`dashboard.steering`. The tailer puts one of its pages' channels in the sweep's group,
so a nudge reaches a process once, however many pages it serves.

``/ws/sweeps/<id>/`` — optional query: ``cursor=<id>`` (resume after that point) and
``trial=<id>`` (only that trial's points). Anonymous users and sweeps the user cannot see
are refused at the handshake; the Origin is checked by ``AllowedHostsOriginValidator``
in :mod:`dashboard.asgi`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from dashboard import steering, tailer
from sweeps.access import visible_sweeps


def _query_int(query: dict[str, list[str]], key: str) -> int | None:
    raw = (query.get(key) or [""])[0]
    return int(raw) if raw.isdigit() else None


@database_sync_to_async
def _can_see(user: Any, sweep_id: int) -> bool:
    return visible_sweeps(user).filter(pk=sweep_id).exists()


class SweepConsumer(AsyncWebsocketConsumer):
    """One page watching one sweep."""

    stream: tailer.Stream | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.sweep_id = int(self.scope["url_route"]["kwargs"]["sweep_id"])
        if user is None or not user.is_authenticated or not await _can_see(user, self.sweep_id):
            await self.close(code=4403)  # before accept: the handshake is refused
            return
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            self.stream = await tailer.open_stream(
                self.sweep_id,
                self.send_text,
                cursor=_query_int(query, "cursor"),
                trial=_query_int(query, "trial"),
                channel=getattr(self, "channel_name", None),
            )
        except LookupError:
            await self.close(code=4404)

    async def send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def disconnect(self, code: int) -> None:
        if self.stream is not None:
            await tailer.close_stream(self.stream)
            self.stream = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        reply = await database_sync_to_async(steering.handle)(
            self.scope["user"], self.sweep_id, text_data
        )
        await self.send_json(reply)

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content, separators=(",", ":")))

    async def sweep_nudge(self, event: dict[str, Any]) -> None:
        """The sweep has news: wake the shared tailer (it reads; data never rides here)."""
        if self.stream is not None and self.stream.tailer is not None:
            self.stream.tailer.wake()
