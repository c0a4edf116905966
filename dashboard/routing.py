"""WebSocket routes of the live dashboard."""

from __future__ import annotations

from typing import Any

from django.urls import path

from dashboard.consumers import SweepConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/sweeps/<int:sweep_id>/", SweepConsumer.as_asgi()),
]
