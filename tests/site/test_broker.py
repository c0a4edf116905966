"""The embedded broker puts each message in place whole: readers never see a message file
before its content (kombu's own transport created the file, then wrote it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection

from dashboard import broker


def test_the_embedded_default_uses_it() -> None:
    if settings.REDIS_URL:
        pytest.skip("with Redis the broker is Redis")
    from dashboard.celery import app

    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, broker.Transport)


def test_a_message_appears_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    seen: list[tuple[list[str], bytes]] = []
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        # The moment before the rename: what a polling reader would find.
        seen.append((sorted(os.listdir(tmp_path)), Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(broker.os, "replace", replace)
    payload: dict[str, Any] = {"body": "x" * 100_000, "headers": {"task": "rungs.run_segment"}}
    with Connection("filesystem://", transport="dashboard.broker:Transport",
                    transport_options=options) as conn:  # fmt: skip
        channel = conn.default_channel
        channel._put("celery", payload)
        [(names, written)] = seen
        assert not [n for n in names if n.endswith(".msg")], names  # nothing a reader takes
        assert len(written) > 100_000
        assert channel._get("celery") == payload
