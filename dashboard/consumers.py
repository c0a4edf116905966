"""The live sweep socket. It attaches the page to the sweep's shared tailer
(:mod:`dashboard.tailer`) and forwards: nudges to the tailer, page messages to
:mod:`dashboard.steering`. The tailer puts one of its pages' channels in the sweep's group,
so a nudge reaches a process once, however many pages it serves.

Nothing over ``RUNGS_SOCKET_MAX_BYTES`` is sent (:meth:`SweepConsumer.send`): a message
over it goes in parts (:func:`dashboard.live.limits.fit`); one that cannot is replaced by a
``{"type": "reload"}`` notice and the socket closes (4413), so the page shows a notice
instead of reconnecting into the same message forever; an answer too big becomes an error.

``/ws/sweeps/<id>/`` — optional query: ``cursor=<id>`` (resume after that point) and
``trial=<id>`` (only that trial's points). Anonymous users and sweeps the user cannot see
are refused at the handshake; the Origin (scheme, host and port) is checked by
:class:`dashboard.asgi.SameOriginValidator`.

A page holds a place in its sweep's shared tailer (and may be the one page whose channel
stands in the sweep's group for it). Every way out of the consumer gives that place back:
a clean close, a handler that raised (channels then skips ``websocket_disconnect``), a
cancelled task. A place left behind kept a dead channel in the group, and every page on the
sweep, new ones included, fell back to the slow poll until the process restarted.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from dashboard import steering, tailer
from dashboard.live import limits, pages
from sweeps.access import visible_sweeps

log = logging.getLogger(__name__)


def _query_int(query: dict[str, list[str]], key: str) -> int | None:
    raw = (query.get(key) or [""])[0]
    return int(raw) if raw.isdigit() else None


@database_sync_to_async
def _can_see(user: Any, sweep_id: int) -> bool:
    return visible_sweeps(user).filter(pk=sweep_id).exists()


class SweepConsumer(AsyncWebsocketConsumer):
    """One page watching one sweep."""

    stream: tailer.Stream | None = None
    _releasing: asyncio.Future[None] | None = None
    _spent = False  # told to reload: nothing more is sent

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._release()

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
        await self._release()

    async def _release(self) -> None:
        """Give the page's place back, once, as a task of its own: a cancellation of the
        caller (the server or a client giving up on a slow close) must not cut the release
        short halfway through choosing the group's next member; a later caller waits for
        the same release."""
        if self._releasing is None:
            stream, self.stream = self.stream, None
            if stream is None:
                return
            self._releasing = asyncio.ensure_future(self._close(stream))
        await asyncio.shield(self._releasing)

    async def _close(self, stream: tailer.Stream) -> None:
        try:
            await tailer.close_stream(stream)
        except Exception:  # the stream is detached before the first await; log the rest
            log.warning("sweep %s: a page's stream closed uncleanly", self.sweep_id, exc_info=True)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """A page message: any frame, however malformed, gets an answer (see
        :func:`dashboard.steering.handle`), never a closed socket. A read of the live view
        (:data:`dashboard.live.pages.READS`) is answered from the sweep's live state."""
        read = self._read(text_data)
        live = self.stream.tailer if self.stream is not None else None
        if read is not None and live is not None:
            if read["action"] == "curves":
                await self.send_json(
                    await pages.curves(live.state, self.sweep_id, live.cursor, read)
                )
            else:
                await self.send_json(pages.answer(live.state, read))
            return
        reply = await database_sync_to_async(steering.handle)(
            self.scope["user"], self.sweep_id, text_data
        )
        await self.send_json(reply)

    @staticmethod
    def _read(text: str | None) -> dict[str, Any] | None:
        """``text`` as a read of the live view, or None (everything else is steering's)."""
        if text is None or len(text) > steering.MAX_MESSAGE or '"action"' not in text:
            return None
        try:
            message = json.loads(text)
        except ValueError:
            return None
        if isinstance(message, dict) and message.get("action") in pages.READS:
            return message
        return None

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content, separators=(",", ":")))

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        """Every message to the page passes here, and none over the cap goes out (see
        :func:`dashboard.live.limits.outgoing`)."""
        if self._spent:
            return
        if text_data is None or limits.size(text_data) <= limits.max_bytes():
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
            return
        texts, reload = limits.outgoing(text_data)
        if reload:
            self._spent = True
            log.warning(
                "sweep %s: a message of %d bytes is over the socket's %d; the page is told to "
                "reload", self.sweep_id, limits.size(text_data), limits.max_bytes(),
            )  # fmt: skip
        for text in texts:
            await super().send(text_data=text)
        if reload:
            await self.close(code=4413)

    async def sweep_nudge(self, event: dict[str, Any]) -> None:
        """The sweep has news: wake the shared tailer (it reads; data never rides here)."""
        if self.stream is not None and self.stream.tailer is not None:
            self.stream.tailer.wake()
