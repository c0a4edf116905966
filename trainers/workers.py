"""This worker process as a row (:class:`sweeps.models.Worker`): registered when Celery says
the worker is ready, renewed by a heartbeat thread, marked stopped on shutdown.

The row's name is the one :mod:`trainers.tasks` writes into ``Trial.worker`` while this
process trains a trial (``<celery node name>:<pid>``), so the page can tell which trial a
worker trains without the worker writing it twice. The signals are connected in
:mod:`trainers.tasks`, which every worker imports.

A database that is briefly unreachable costs a log line, never the worker: registration is
retried by the heartbeat until it lands.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections

from sweeps import services
from trainers.registry import loadable_trainers

log = logging.getLogger(__name__)


def worker_name(node: str | None) -> str:
    """What ``Trial.worker`` holds while this process trains: the Celery node name (the
    host when there is none) and the pid."""
    return f"{node or socket.gethostname()}:{os.getpid()}"


def describe_device() -> tuple[str, str]:
    """The device this process trains on when a trainer may use a GPU, and the GPU's name
    ('' on CPU). Workers see one GPU each (``CUDA_VISIBLE_DEVICES``), so it is ``cuda:0``."""
    import torch

    if torch.cuda.is_available():
        return "cuda:0", torch.cuda.get_device_name(0)
    return "cpu", ""


def beat_interval() -> float:
    """Well inside the lease (three beats per lease), and at most 2 s, so "N s ago" on the
    Workers page stays small for a live worker."""
    return max(0.2, min(2.0, settings.RUNGS_LEASE_SECONDS / 3))


@dataclass
class Presence:
    """One worker process's row: registers, beats every :func:`beat_interval`, stops."""

    name: str
    stop: threading.Event = field(default_factory=threading.Event)
    registered: bool = False
    thread: threading.Thread | None = None

    def register(self) -> None:
        keys, broken = loadable_trainers()
        device, gpu_name = describe_device()
        services.register_worker(
            self.name,
            host=socket.gethostname(),
            pid=os.getpid(),
            device=device,
            gpu_name=gpu_name,
            trainers=keys,
            broken=broken,
        )
        self.registered = True
        log.info("worker %s registered on %s with trainers: %s", self.name, device, ", ".join(keys))
        for key, reason in broken.items():
            log.warning("worker %s cannot run trainer %r: %s", self.name, key, reason)

    def beat(self) -> None:
        """One round: register if that has not landed yet, else renew the heartbeat."""
        if self.stop.is_set():
            return
        try:
            if not self.registered:
                self.register()
            elif not services.worker_heartbeat(self.name):
                # The row went (deleted by hand, a database restored): make it again.
                self.registered = False
                self.register()
        except Exception:  # the database may be restarting: try again next beat
            log.exception("worker %s heartbeat failed", self.name)

    def run(self) -> None:
        while True:
            self.beat()
            # This thread's own connection: dropped when broken (the next beat reconnects).
            close_old_connections()
            if self.stop.wait(beat_interval()):
                return

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name="rungs-worker-heartbeat", daemon=True)
        self.thread.start()

    def shutdown(self) -> None:
        """Stop beating and mark the row stopped (logged, not raised, if that fails)."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        try:
            services.worker_stopped(self.name)
        except Exception:  # it then reads as lost once its lease runs out
            log.exception("worker %s could not record that it stopped", self.name)


_presence: Presence | None = None


def worker_started(node: str | None) -> Presence:
    """Register this process as worker ``node`` and keep its heartbeat (Celery's
    ``worker_ready``)."""
    global _presence
    if _presence is not None:
        _presence.shutdown()
    _presence = Presence(worker_name(node))
    _presence.start()
    return _presence


def worker_stopping() -> None:
    """Mark this process's worker stopped (Celery's ``worker_shutdown``)."""
    global _presence
    if _presence is not None:
        _presence.shutdown()
        _presence = None
