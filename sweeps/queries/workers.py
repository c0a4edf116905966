"""The workers and what each is doing now: :func:`worker_rows` (the Workers page and
``/api/workers/``); :func:`live_workers` (what a launch checks) is re-exported from
:mod:`sweeps.leases`.

A worker's state is read, never stored: ``stopped`` once it said so on shutdown, ``lost``
when its heartbeat is older than the lease (:mod:`sweeps.leases`) and it never said it
stopped, ``running`` while a running trial names it as its worker, else ``idle``. The
segment it trains is read from the trials (``Trial.worker`` holds the worker's name), not
kept twice.
"""

from __future__ import annotations

from typing import Any, TypedDict

from django.db.models import QuerySet
from django.utils import timezone

from sweeps.leases import lease_start, live_workers
from sweeps.models import Trial, Worker
from sweeps.queries.rows import iso
from sweeps.states import TrialStatus

__all__ = ["WORKER_STATES", "WorkerRow", "WorkerTrial", "live_workers", "worker_rows"]

# In the order the list shows them: the live ones first.
WORKER_STATES = ("running", "idle", "lost", "stopped")


class WorkerTrial(TypedDict):
    """The trial a worker trains now: which one, of which sweep, on which rung."""

    id: int
    number: int
    sweep: int
    sweep_name: str
    rung: int


class WorkerRow(TypedDict):
    """A worker as the Workers page and the API read it (:func:`worker_rows`)."""

    name: str
    host: str
    pid: int
    device: str
    gpu_name: str
    trainers: list[str]
    broken: dict[str, str]
    state: str
    trial: WorkerTrial | None
    started_at: str | None
    heartbeat_at: str | None
    stopped_at: str | None
    heartbeat_age: float


def worker_rows(sweeps: QuerySet[Any] | None = None) -> list[WorkerRow]:
    """Every registered worker with its state and the trial it trains, live ones first
    (then by host and pid). ``sweeps``: the sweeps the reader may see; a trial of any other
    sweep is left out (the worker still shows ``running``). At most three queries."""
    now = timezone.now()
    oldest_live = lease_start(now)
    workers = list(Worker.objects.all())
    held: dict[str, WorkerTrial] = {}
    running = Trial.objects.filter(status=TrialStatus.RUNNING, worker__in=[w.name for w in workers])
    # Oldest first, so a worker that somehow holds two shows the one it claimed last.
    for t in running.order_by("started_at", "pk").values(
        "id", "number", "sweep_id", "sweep__name", "rung", "worker"
    ):
        held[t["worker"]] = {
            "id": t["id"],
            "number": t["number"],
            "sweep": t["sweep_id"],
            "sweep_name": t["sweep__name"],
            "rung": t["rung"],
        }
    busy = set(held)
    if sweeps is not None and held:
        shown = {t["sweep"] for t in held.values()}
        visible = set(sweeps.filter(pk__in=shown).values_list("pk", flat=True))
        held = {name: t for name, t in held.items() if t["sweep"] in visible}
    rows: list[WorkerRow] = []
    for w in workers:
        if w.stopped_at is not None:
            state = "stopped"
        elif w.heartbeat_at < oldest_live:
            state = "lost"
        else:
            state = "running" if w.name in busy else "idle"
        trial = held.get(w.name)
        rows.append(
            {
                "name": w.name,
                "host": w.host,
                "pid": w.pid,
                "device": w.device,
                "gpu_name": w.gpu_name,
                "trainers": list(w.trainers or []),
                "broken": dict(w.broken or {}),
                "state": state,
                "trial": trial,
                "started_at": iso(w.started_at),
                "heartbeat_at": iso(w.heartbeat_at),
                "stopped_at": iso(w.stopped_at),
                "heartbeat_age": round(max(0.0, (now - w.heartbeat_at).total_seconds()), 1),
            }
        )
    order = {"running": 0, "idle": 0, "lost": 1, "stopped": 2}
    rows.sort(key=lambda r: (order[r["state"]], r["host"], r["pid"]))
    return rows
