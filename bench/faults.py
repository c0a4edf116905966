"""Fault injection: a real Hyperband sweep under ``manage.py up`` survives what goes wrong.

One scenario, used by ``tests/e2e/test_faults.py`` and by this benchmark: ``up`` runs daphne
and two Celery workers on a database; a sweep of the synthetic trainer is launched with
``manage.py launch``; while it trains, the harness injects faults, one after another, each
when the sweep is in a state where it bites:

* three worker SIGKILLs, each while a segment is mid-way (past its last checkpoint with
  steps still to go), the last on a segment at rung 2 or above;
* a Ctrl-C (SIGINT) of ``up`` while segments train, then ``up`` started again;
* PostgreSQL + Redis only: a Redis stop for about 10 s and a restart on the same port (a
  Redis the scenario started, without persistence, so queued tasks and channel-layer groups
  are lost as in a real crash), and two rounds of ``pg_terminate_backend`` on every backend of
  the database but the harness's own.

Then it reads the outcome from the database: sweep status and trial count, a trial with a
result at the full budget, trials failed or diverged, duplicate (trial, rung) results,
duplicated or missing steps of ``train_loss`` and ``grad_norm``, and the longest idle stall
(sampled every 0.25 s: no new metric point, rung result or segment start although the sweep
was running, not counting the time from the harness's Ctrl-C until the new ``up`` serves again;
that start-up, mostly two workers importing torch, is reported on its own).

A WebSocket client keeps a live page open all along (reconnecting with its cursor whenever
the socket drops); at the end, every final point the page never received is counted. It also
tells whether updates are pushed or polled after the last recovery: the newest point of an
increment says little (a poll reads it moments after it was logged), but the *oldest* point
of each increment waited for the tailer's next read, which is about a flush (20 ms) when a
nudge woke it and up to ``POLL_REDIS`` (1 s) when its fallback poll did.

    .venv/bin/python bench/faults.py                        # embedded (SQLite + filesystem broker)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/faults.py
                                                            # PostgreSQL (scratch DB rungs_faults) + a Redis of its own

Each run stores its figures in ``bench/results/faults_<backend>.json`` and rewrites the
"faults" section of BENCHMARKS.md from the stored figures of both backends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

LEASE_SECONDS = 5.0
HEARTBEAT_SECONDS = 1.0
STALL_SLACK = 10.0  # the goal: no idle stall longer than the lease plus this
REDIS_DOWN_SECONDS = 10.0
# Seconds: an increment's oldest point waited less than this when a nudge woke the tailer.
PUSH_LIMIT = 0.3
SAMPLE_EVERY = 0.25
CHECKED_METRICS = ("train_loss", "grad_norm")
USERNAME = "faults"


def sweep_spec(short: bool) -> dict[str, Any]:
    """Hyperband over 1..9 epochs, eta 3. The full scenario runs all three brackets (17
    trials: rung 2 segments of 6 and 9 epochs), the short one the first bracket (9 trials)."""
    return {
        "name": "fault injection" + (" (short)" if short else ""),
        "trainer": "synthetic",
        # lr stays below diverge_lr (0.8): a trial that fails here was failed by a fault.
        "trainer_args": {"steps_per_epoch": 50, "step_sleep": 0.015 if short else 0.01},
        "space": {
            "lr": {"type": "float", "low": 1e-3, "high": 0.5, "log": True},
            "momentum": {"type": "float", "low": 0.0, "high": 0.9},
        },
        "scheduler": {"name": "hyperband", "min_resource": 1, "max_resource": 9, "eta": 3},
        "sampler": {"name": "random"},
        "max_trials": 9 if short else 17,
        "concurrency": 2,
        "seed": 11,
    }


# --- figures ------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str  # sigkill | ctrl-c | redis | pg_terminate | up-exit (not ours)
    at: float  # seconds since the sweep was launched
    detail: str


@dataclass
class Live:
    """What the live page got after the last recovery."""

    window: str = ""
    increments: int = 0
    oldest_p50_ms: float | None = None
    oldest_p95_ms: float | None = None
    gap_p50_ms: float | None = None  # between increments with points
    mode: str = "none"  # push | poll | none
    connects: int = 0
    drops: int = 0  # connections that failed or dropped (reconnected each time)
    drop_samples: list[str] = field(default_factory=list)
    missing_on_page: int = 0  # final points (checked metrics) the page never received
    missing_samples: list[str] = field(default_factory=list)
    connected_at: list[float] = field(default_factory=list)  # seconds since the page started


@dataclass
class FaultReport:
    backend: str
    sweep_id: int | None = None
    status: str = ""
    trials: int = 0
    max_trials: int = 0
    full_budget: float = 0.0
    full_budget_trials: int = 0
    rung_results: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    not_injected: list[str] = field(default_factory=list)
    failed_trials: list[str] = field(default_factory=list)
    duplicate_results: int = 0
    duplicated_steps: int = 0
    missing_steps: int = 0
    extra_steps: int = 0  # points past the trial's recorded step
    step_problems: list[str] = field(default_factory=list)
    requeues: int = 0
    lease_s: float = LEASE_SECONDS
    longest_stall_s: float = 0.0
    stall_where: str = ""
    stalls: list[str] = field(default_factory=list)  # every quiet spell longer than the lease
    up_ready_s: list[float] = field(default_factory=list)  # each start of up until it served
    unplanned_up_exits: list[str] = field(default_factory=list)
    ctrl_c_exit_s: list[float] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)
    live: Live = field(default_factory=Live)
    wall_s: float = 0.0
    stuck: list[str] = field(default_factory=list)
    log_dir: str = ""

    def count(self, kind: str) -> int:
        return sum(f.kind == kind for f in self.faults)

    def problems(self) -> list[str]:
        """Each goal the run missed, in words (empty: every fault was survived)."""
        out = []
        if self.not_injected:
            out.append(f"faults not injected: {', '.join(self.not_injected)}")
        if self.status != "completed":
            out.append(f"sweep is {self.status or 'not launched'}, not completed")
        if self.trials != self.max_trials:
            out.append(f"{self.trials} trials, expected {self.max_trials}")
        if not self.full_budget_trials:
            out.append(f"no trial has a result at the full budget ({self.full_budget:g})")
        if self.failed_trials:
            out.append(f"trials failed: {'; '.join(self.failed_trials)}")
        if self.duplicate_results:
            out.append(f"{self.duplicate_results} duplicate rung results")
        if self.duplicated_steps or self.missing_steps or self.extra_steps:
            out.append(f"steps duplicated {self.duplicated_steps}, missing {self.missing_steps}, "
                       f"past the trial's step {self.extra_steps}: "
                       + "; ".join(self.step_problems[:5]))  # fmt: skip
        if self.longest_stall_s > self.lease_s + STALL_SLACK:
            out.append(f"idle stall of {self.longest_stall_s:.1f} s > lease {self.lease_s:g} s "
                       f"+ {STALL_SLACK:g} s ({self.stall_where})")  # fmt: skip
        if self.live.missing_on_page:
            out.append(f"the live page never received {self.live.missing_on_page} final points")
        if self.unplanned_up_exits:
            out.append(f"up exited by itself: {'; '.join(self.unplanned_up_exits)}")
        if self.left_behind:
            out.append(f"processes left behind by Ctrl-C: {', '.join(self.left_behind)}")
        if self.backend == "redis" and self.live.mode != "push":
            out.append(f"live page after Redis returned: {self.live.mode} "
                       f"(oldest point p50 {self.live.oldest_p50_ms} ms over {self.live.increments} increments)")  # fmt: skip
        if self.backend == "embedded" and self.live.mode == "none":
            out.append("live page got no update after the restart")
        return out

    def text(self) -> str:
        lines = [f"fault injection, {self.backend}: sweep {self.sweep_id} {self.status}, "
                 f"{self.trials}/{self.max_trials} trials, {self.wall_s:.0f} s"]  # fmt: skip
        lines += [f"  fault  {f.at:6.1f} s  {f.kind:13s} {f.detail}" for f in self.faults]
        for name, value in (
            ("faults injected", dict(Counter(f.kind for f in self.faults))),
            ("not injected", self.not_injected),
            ("trials at full budget", self.full_budget_trials),
            ("rung results", self.rung_results),
            ("failed / diverged", self.failed_trials),
            ("duplicate rung results", self.duplicate_results),
            ("steps duplicated / missing", f"{self.duplicated_steps} / {self.missing_steps}"),
            ("re-queued segments", self.requeues),
            ("longest stall", f"{self.longest_stall_s:.1f} s ({self.stall_where})"),
            ("quiet spells > lease", self.stalls),
            ("up ready after start", [f"{s:.1f} s" for s in self.up_ready_s]),
            ("up exits not asked for", self.unplanned_up_exits),
            ("Ctrl-C to exit", [f"{s:.1f} s" for s in self.ctrl_c_exit_s]),
            ("left behind", self.left_behind),
            ("live page", asdict(self.live)),
            ("stuck", self.stuck),
            ("logs", self.log_dir),
        ):
            lines.append(f"  {name}: {value}")
        problems = self.problems()
        lines.append("  PROBLEMS:\n    " + "\n    ".join(problems) if problems else "  no problems")
        return "\n".join(lines)


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(pid: int) -> list[int]:
    kids, out, todo = _children_map(), [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def describe(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()[:120]
    return "?"


class Up:
    """``manage.py up --workers 2`` in its own session; every start logs to its own file."""

    def __init__(self, env: dict[str, str], port: int, log_dir: Path, workers: int = 2) -> None:
        self.env, self.port, self.log_dir, self.workers = env, port, log_dir, workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.groups: set[int] = set()  # every child group leader seen, for the last clean-up
        self.log: Path | None = None
        self.started_at: float | None = None  # set while a start has not served yet

    def start(self) -> None:
        self.starts += 1
        self.started_at = time.monotonic()
        self.log = self.log_dir / f"up-{self.starts}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "up", "--workers", str(self.workers), "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[int]:
        if not self.running():
            return []
        assert self.proc is not None
        kids = _children_map().get(self.proc.pid, [])
        self.groups.update(kids)
        return kids

    def ready(self) -> bool:
        """Daphne answers and every worker said it is ready."""
        if not self.running() or self.log is None:
            return False
        text = self.log.read_text(errors="replace")
        if text.count(" ready.") < self.workers:
            return False
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health/", timeout=2).read()
        except (OSError, urllib.error.URLError):
            return False
        return True

    def tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log else ""

    def close(self) -> None:
        """Stop for good: SIGINT, then SIGKILL to whatever is left in any child's group."""
        if self.running():
            assert self.proc is not None
            self.children()
            os.kill(self.proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)


class Redis:
    """A redis-server of the scenario's own, on its own port, without persistence."""

    def __init__(self, port: int, log_dir: Path) -> None:
        self.port, self.log_dir = port, log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.starts += 1
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.log_dir),
             "--logfile", str(self.log_dir / f"redis-{self.starts}.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.5) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def pg_terminate(database_url: str, keep: set[int]) -> int:
    """Terminate every backend of the database except ``keep``; returns how many."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND NOT pid = ANY(%s)",
            [sorted(keep)],
        ).fetchone()
    return int(row[0]) if row else 0


# --- the live page ------------------------------------------------------------------------


class LivePage:
    """A WebSocket client on ``/ws/sweeps/<id>/`` that reconnects with its cursor."""

    def __init__(self, port: int, sweep_id: int, cookie: str) -> None:
        self.url = f"ws://127.0.0.1:{port}/ws/sweeps/{sweep_id}/"
        self.origin = f"http://127.0.0.1:{port}"
        self.cookie = cookie
        self.cursor = 0
        self.increments: list[tuple[float, float, float, int]] = []  # arrival, tmin, tmax, n
        self.received: Counter[tuple[int, str, int]] = Counter()
        self.connects = 0
        self.connected_at: list[float] = []
        self.drops: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="live-page", daemon=True)
        self.t0 = time.time()

    def _take(self, raw: str | bytes, now: float) -> None:
        msg = json.loads(raw)
        kind = msg.get("type")
        if kind not in ("snapshot", "inc"):
            return
        if isinstance(msg.get("cursor"), int):
            self.cursor = max(self.cursor, msg["cursor"])
        n = 0
        for group in msg.get("points") or ():
            if group["n"] in CHECKED_METRICS:
                for step in group["s"]:
                    self.received[(group["t"], group["n"], step)] += 1
            n += len(group["s"])
        if kind == "inc" and n and msg.get("tmin"):
            self.increments.append((now, msg["tmin"], msg["tmax"], n))

    def _run(self) -> None:
        from websockets.sync.client import connect

        while not self.stop.is_set():
            try:
                with connect(f"{self.url}?cursor={self.cursor}", origin=self.origin,  # type: ignore[arg-type]
                             additional_headers={"Cookie": f"sessionid={self.cookie}"},
                             max_size=None, open_timeout=5) as ws:  # fmt: skip
                    self.connects += 1
                    self.connected_at.append(round(time.time() - self.t0, 1))
                    while not self.stop.is_set():
                        try:
                            raw = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        self._take(raw, time.time())
            except Exception as exc:
                if not self.stop.is_set():
                    self.drops.append(
                        f"{time.time() - self.t0:.1f} s: {type(exc).__name__} {str(exc)[:80]}"
                    )
                    self.stop.wait(0.5)

    def figures(self, since: float, until: float, window: str, push: bool) -> Live:
        """The increments that arrived in ``[since, until]`` (wall clock)."""
        chosen = [i for i in self.increments if since <= i[0] <= until]
        live = Live(
            window=window,
            increments=len(chosen),
            connects=self.connects,
            connected_at=self.connected_at,
            drops=len(self.drops),
            # The first of each spell of failures says why the socket went.
            drop_samples=[d for i, d in enumerate(self.drops) if i == 0 or d.split(": ", 1)[1]
                          != self.drops[i - 1].split(": ", 1)[1]][:8],
        )  # fmt: skip
        if chosen:
            oldest = sorted(a - tmin for a, tmin, _, _ in chosen)
            live.oldest_p50_ms = round(1000 * statistics.median(oldest), 1)
            live.oldest_p95_ms = round(
                1000 * oldest[min(len(oldest) - 1, int(0.95 * len(oldest)))], 1
            )
            gaps = [b[0] - a[0] for a, b in zip(chosen, chosen[1:], strict=False)]
            live.gap_p50_ms = round(1000 * statistics.median(gaps), 1) if gaps else None
            live.mode = "push" if statistics.median(oldest) < PUSH_LIMIT else "poll"
            if not push and live.mode == "push":
                live.mode = "poll (fast)"  # the in-memory layer: the tailer polls every 0.1 s
        return live


# --- the scenario -------------------------------------------------------------------------


class Scenario:
    """Drives one run: ``up``, the sweep, the fault plan, the samples, the figures."""

    def __init__(self, env: dict[str, str], log_dir: Path, short: bool) -> None:
        from django.db import connection

        self.redis_backend = connection.vendor == "postgresql"
        self.backend = "redis" if self.redis_backend else "embedded"
        self.short = short
        self.log_dir = log_dir
        self.spec = sweep_spec(short)
        self.spe = int(self.spec["trainer_args"]["steps_per_epoch"])
        self.report = FaultReport(backend=self.backend, log_dir=str(log_dir))
        self.report.max_trials = int(self.spec["max_trials"])
        self.report.full_budget = float(self.spec["scheduler"]["max_resource"])
        self.env = {**env, "RUNGS_LEASE_SECONDS": str(LEASE_SECONDS),
                    "RUNGS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
                    "RUNGS_CHECKPOINT_DIR": str(log_dir / "checkpoints"),
                    "RUNGS_DEMO_SWEEP": "false", "PYTHONUNBUFFERED": "1"}  # fmt: skip
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.redis: Redis | None = None
        if self.redis_backend:
            self.redis = Redis(free_port(), log_dir)
            self.env["REDIS_URL"] = self.redis.url
        else:
            self.env.pop("REDIS_URL", None)
            self.env["RUNGS_VAR_DIR"] = str(log_dir / "var")  # a broker folder of its own
        self.up = Up(self.env, free_port(), log_dir)
        self.page: LivePage | None = None
        self.sweep_id = 0
        self.t0 = 0.0
        self.stopping_up = False  # a Ctrl-C of ours is under way (the exit is expected)
        self.restarting = False  # from our Ctrl-C until the new up serves: not a stall
        self.excluded = 0.0  # seconds of the current quiet spell while up was down on purpose
        self.sampled_at = 0.0
        self.quiet_since = 0.0
        self.signature: tuple[Any, ...] = ()
        self.last_fault = "start"
        self.last_fault_at = 0.0
        self.kill_rungs: list[int] = []
        self.redis_back_at: float | None = None
        self.web_restarted_at: float | None = None
        self.pg_keep: set[int] = set()

    # -- helpers --

    def now(self) -> float:
        return time.monotonic() - self.t0

    def fault(self, kind: str, detail: str) -> None:
        self.report.faults.append(Fault(kind, round(self.now(), 1), detail))
        self.last_fault, self.last_fault_at = f"{kind} at {self.now():.1f} s", self.now()

    def after(self, seconds: float) -> Callable[[], bool]:
        at = time.monotonic() + seconds
        return lambda: time.monotonic() >= at

    def launch(self) -> int:
        path = self.log_dir / "spec.json"
        path.write_text(json.dumps(self.spec))
        out = subprocess.run(
            [sys.executable, "manage.py", "launch", str(path), "--user", USERNAME],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"manage.py launch failed:\n{out.stdout}\n{out.stderr}")
        return int(out.stdout.split("sweep ", 1)[1].split()[0])

    def victim(self, min_rung: int = 0) -> Callable[[], Any]:
        """A running segment mid-way (past its last checkpoint, 15+ steps to go) at
        ``min_rung`` or above, started after the last fault, on a live worker of ours."""
        from django.db.models import Max

        from sweeps.models import Event, MetricPoint, Trial

        def find() -> Any:
            if self.stopping_up or not self.up.running() or self.now() - self.last_fault_at < 2:
                return None
            workers = set(self.up.children())
            trials = Trial.objects.filter(
                sweep_id=self.sweep_id, status="running", rung__gte=min_rung
            )
            for trial in trials.exclude(worker=""):
                pid = int(trial.worker.rpartition(":")[2] or 0)
                if pid not in workers:
                    continue
                started = (
                    Event.objects.filter(trial=trial, kind="segment_started")
                    .order_by("-id")
                    .first()
                )
                if started is None or started.data.get("worker") != trial.worker:
                    continue
                last = MetricPoint.objects.filter(trial=trial, name="train_loss").aggregate(
                    s=Max("step")
                )["s"]
                target = round(trial.budget * self.spe)
                if last and trial.step < last <= target - 15:
                    return trial, pid, last, target
            return None

        return find

    # -- faults --

    def kill_worker(self, found: Any) -> None:
        trial, pid, last, target = found
        group = os.getpgid(pid) if alive(pid) else None
        if group == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
        self.kill_rungs.append(trial.rung)
        self.fault("sigkill", f"worker {trial.worker} mid-segment: trial {trial.number} rung {trial.rung} "
                   f"at step {last} of {target} (checkpoint at {trial.step}, attempt {trial.attempt})")  # fmt: skip

    def terminate_backends(self) -> None:
        from django.db import connection

        n = pg_terminate(
            self.env["DATABASE_URL"], self.pg_keep | {connection.connection.info.backend_pid}
        )
        self.fault("pg_terminate", f"{n} backends of {connection.settings_dict['NAME']} terminated")

    def plan(self) -> Iterator[Callable[[], Any]]:
        """The faults, in order; each ``yield`` waits until its condition holds."""
        self.kill_worker((yield self.victim()))
        if self.redis_backend:
            yield self.after(2)
            self.terminate_backends()
        yield self.victim()  # Ctrl-C while a segment is mid-way
        yield from self.ctrl_c()
        self.kill_worker((yield self.victim()))
        if self.redis_backend:
            yield self.after(1)
            yield from self.redis_outage()
            yield self.after(3)
            self.terminate_backends()
        deep_yet = any(rung >= 2 for rung in self.kill_rungs)
        self.kill_worker((yield self.victim(min_rung=0 if deep_yet else 2)))

    def ctrl_c(self) -> Iterator[Callable[[], Any]]:
        assert self.up.proc is not None
        before = {pid: describe(pid) for pid in descendants(self.up.proc.pid)}
        self.stopping_up = self.restarting = True
        sent = time.monotonic()
        os.kill(self.up.proc.pid, signal.SIGINT)
        self.fault(
            "ctrl-c", f"SIGINT to up (pid {self.up.proc.pid}, {len(before)} processes under it)"
        )
        yield lambda: not self.up.running() or time.monotonic() - sent > 60
        self.report.ctrl_c_exit_s.append(round(time.monotonic() - sent, 1))
        if self.up.running():
            self.report.left_behind.append("up itself did not exit within 60 s")
        yield self.after(0.5)
        self.report.left_behind += [f"{pid} {cmd}" for pid, cmd in before.items() if alive(pid)]
        self.up.close()  # SIGKILLs anything left, so the restart starts clean
        self.stopping_up = False
        self.up.start()
        self.web_restarted_at = time.time()

    def redis_outage(self) -> Iterator[Callable[[], Any]]:
        assert self.redis is not None
        self.redis.stop()
        self.fault("redis", f"redis-server stopped (port {self.redis.port})")
        yield self.after(REDIS_DOWN_SECONDS)
        self.redis.start()
        self.redis_back_at = time.time()
        self.fault("redis", f"redis-server started again after {REDIS_DOWN_SECONDS:g} s")

    # -- sampling --

    def sample(self) -> bool:
        """One look at the database: progress and stalls. False once the sweep is over."""
        from django.db import close_old_connections
        from django.db.models import Max

        from sweeps.models import Event, MetricPoint, RungResult, Sweep

        try:
            status = Sweep.objects.filter(pk=self.sweep_id).values_list("status", flat=True).first()
            signature = (
                MetricPoint.objects.filter(sweep_id=self.sweep_id).aggregate(m=Max("id"))["m"],
                RungResult.objects.filter(sweep_id=self.sweep_id).count(),
                Event.objects.filter(sweep_id=self.sweep_id, kind="segment_started").count(),
            )
        except Exception:  # our own connection is not terminated, but be safe
            close_old_connections()
            return True
        now = time.monotonic()
        elapsed, self.sampled_at = now - self.sampled_at, now
        if signature != self.signature or status != "running":
            spell = now - self.quiet_since - self.excluded
            if status == "running" and spell > self.report.longest_stall_s:
                # Progress showed at this sample: the spell ended since the previous one.
                self.report.longest_stall_s = round(spell, 2)
                self.report.stall_where = (
                    f"from {self.quiet_since - self.t0:.1f} s, last fault: {self.last_fault}"
                )
            if spell > LEASE_SECONDS:
                self.report.stalls.append(
                    f"{spell:.1f} s from {self.quiet_since - self.t0:.1f} s"
                    + (f" (+{self.excluded:.1f} s with up stopped)" if self.excluded else "")
                )
            self.signature, self.quiet_since, self.excluded = signature, now, 0.0
        else:
            if self.restarting:
                self.excluded += elapsed
            stall = now - self.quiet_since - self.excluded
            if stall > self.report.longest_stall_s:
                self.report.longest_stall_s = round(stall, 2)
                self.report.stall_where = (
                    f"from {self.quiet_since - self.t0:.1f} s, last fault: {self.last_fault}"
                )
        return status in ("running", "draft", "paused")

    def watch_up(self) -> None:
        """``up`` exited without being asked: note it (with its last words) and start it again."""
        self.up.children()
        if self.up.started_at is not None and self.up.ready():
            self.report.up_ready_s.append(round(time.monotonic() - self.up.started_at, 1))
            self.up.started_at = None
            self.restarting = False
        if self.stopping_up or self.up.running() or self.up.proc is None:
            return
        tail = " | ".join(line for line in self.up.tail(3000).splitlines()[-6:] if line.strip())
        self.report.unplanned_up_exits.append(
            f"at {self.now():.1f} s with code {self.up.proc.returncode}: {tail[-600:]}"
        )
        self.fault(
            "up-exit (not injected)",
            f"up exited by itself (code {self.up.proc.returncode}); started again",
        )
        self.up.close()
        self.up.start()
        self.web_restarted_at = time.time()

    # -- run --

    def run(self, timeout: float) -> FaultReport:
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client

        started = time.monotonic()
        user = get_user_model().objects.filter(username=USERNAME).first()
        if user is None:
            user = get_user_model().objects.create_user(USERNAME, password="faults-password")
        client = Client()
        client.force_login(user)
        cookie = client.cookies["sessionid"].value
        if self.redis_backend:
            connection.ensure_connection()
            self.pg_keep.add(connection.connection.info.backend_pid)
        try:
            if self.redis is not None:
                self.redis.start()
            self.up.start()
            deadline = time.monotonic() + 90
            while not self.up.ready():
                if time.monotonic() > deadline or not self.up.running():
                    raise RuntimeError(f"up did not start:\n{self.up.tail()}")
                time.sleep(0.2)
            assert self.up.started_at is not None
            self.report.up_ready_s.append(round(time.monotonic() - self.up.started_at, 1))
            self.up.started_at = None
            self.sweep_id = self.launch()
            self.report.sweep_id = self.sweep_id
            self.t0 = self.quiet_since = self.sampled_at = time.monotonic()
            self.page = LivePage(self.up.port, self.sweep_id, cookie)
            self.page.thread.start()
            plan = self.plan()
            condition: Callable[[], Any] | None = next(plan)
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                running = self.sample()
                self.watch_up()
                if condition is not None:
                    value = condition()
                    if value:
                        try:
                            condition = plan.send(value)
                        except StopIteration:
                            condition = None
                if not running and condition is None:
                    break
                if not running and condition is not None and not self.stopping_up:
                    break  # the sweep ended before every fault could be injected
                time.sleep(SAMPLE_EVERY)
            self.report.planned = self.planned()
            injected = Counter(f.kind for f in self.report.faults)
            wanted = Counter(p.split(" ")[0] for p in self.report.planned)
            self.report.not_injected = [f"{kind} x{n - injected[kind]}" for kind, n in wanted.items()
                                        if injected[kind] < n]  # fmt: skip
            if self.report.count("sigkill") >= 3 and not any(r >= 2 for r in self.kill_rungs):
                self.report.not_injected.append("a SIGKILL at rung >= 2")
        finally:
            time.sleep(1.0)  # let the page receive the last increments
            end_wall = time.time()
            if self.page is not None:
                self.page.stop.set()
                self.page.thread.join(10)
            self.up.close()
            if self.redis is not None:
                self.redis.stop()
        self.report.wall_s = round(time.monotonic() - started, 1)
        self.figures(end_wall)
        return self.report

    def planned(self) -> list[str]:
        plan = ["sigkill x3", "ctrl-c x1"]
        if self.redis_backend:
            plan += ["redis x2 (stop, start)", "pg_terminate x2"]
        return plan

    def figures(self, end_wall: float) -> None:
        """What the database says once it is all over."""
        from django.db import close_old_connections
        from django.db.models import Count

        from sweeps.models import MetricPoint, RungResult, Sweep, Trial

        close_old_connections()
        r = self.report
        sweep = Sweep.objects.get(pk=self.sweep_id)
        trials = list(Trial.objects.filter(sweep=sweep).order_by("number"))
        r.status, r.trials = sweep.status, len(trials)
        results = list(
            RungResult.objects.filter(sweep=sweep).values_list("trial_id", "rung", "budget")
        )
        r.rung_results = {
            str(k): v for k, v in sorted(Counter(rung for _, rung, _ in results).items())
        }
        r.full_budget_trials = len({t for t, _, b in results if b >= r.full_budget})
        r.duplicate_results = sum(
            row["n"] - 1
            for row in RungResult.objects.filter(sweep=sweep)
            .values("trial_id", "rung")
            .annotate(n=Count("id"))
            if row["n"] > 1
        )
        r.failed_trials = [f"trial {t.number} {t.status}: {t.error[:300]}" for t in trials
                           if t.status in ("failed", "diverged", "killed")]  # fmt: skip
        r.requeues = sweep.events.filter(kind="requeued").count()
        final: set[tuple[int, str, int]] = set()
        for t in trials:
            for name in CHECKED_METRICS:
                steps = list(
                    MetricPoint.objects.filter(trial=t, name=name).values_list("step", flat=True)
                )
                counts = Counter(steps)
                dup = sum(n - 1 for n in counts.values() if n > 1)
                missing = sum(1 for s in range(1, t.step + 1) if s not in counts)
                beyond = sum(1 for s in counts if s > t.step)
                final.update((t.pk, name, s) for s in counts)
                r.duplicated_steps += dup
                r.missing_steps += missing
                r.extra_steps += beyond
                if dup or missing or beyond:
                    r.step_problems.append(f"trial {t.number} {name}: {dup} duplicated, {missing} missing, "
                                           f"{beyond} beyond step {t.step} ({t.status})")  # fmt: skip
        if r.status != "completed":
            now = time.time()
            r.stuck = [
                f"trial {t.number} {t.status} rung {t.rung} budget {t.budget:g} done {t.resource_done:g} "
                f"step {t.step} attempt {t.attempt} worker {t.worker or '-'} heartbeat "
                + (f"{now - t.heartbeat_at.timestamp():.0f} s ago" if t.heartbeat_at else "none")
                for t in trials if t.status in ("pending", "running", "waiting", "paused")
            ]  # fmt: skip
        if self.page is not None:
            if self.redis_back_at is not None:
                since, window = self.redis_back_at + 2, "from 2 s after Redis returned"
                if self.web_restarted_at and self.web_restarted_at > self.redis_back_at:
                    end_wall = min(end_wall, self.web_restarted_at)
                    window += " to up's restart"
            else:
                since = (self.web_restarted_at or self.page.t0) + 2
                window = "from 2 s after up restarted"
            r.live = self.page.figures(since, end_wall, window, push=self.redis_backend)
            missed = final - set(self.page.received)
            r.live.missing_on_page = len(missed)
            for trial_id, name, step in sorted(missed)[:10]:
                point = MetricPoint.objects.filter(trial_id=trial_id, name=name, step=step).first()
                if point is not None:
                    r.live.missing_samples.append(
                        f"trial id {trial_id} {name} step {step}: point id {point.pk}, logged "
                        f"{point.time - self.page.t0:.2f} s after the page started"
                    )


def run_scenario(
    env: dict[str, str], log_dir: Path, *, short: bool, timeout: float = 240
) -> FaultReport:
    """Run the scenario against the database Django is set up with (``env`` points the
    child processes at the same one); returns the figures. Stops every process it started."""
    log_dir.mkdir(parents=True, exist_ok=True)
    return Scenario(env, log_dir, short).run(timeout)


# --- the benchmark ------------------------------------------------------------------------


def scratch_environment(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["RUNGS_VAR_DIR"] = str(tmp / "var")
    env["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    env.pop("REDIS_URL", None)
    url = env.get("DATABASE_URL")
    if url:
        import psycopg

        base, _, _ = url.rpartition("/")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS rungs_faults WITH (FORCE)")
            conn.execute("CREATE DATABASE rungs_faults")
        env["DATABASE_URL"] = f"{base}/rungs_faults"
    else:
        env["RUNGS_SQLITE_PATH"] = str(tmp / "faults.sqlite3")
    return env


NOTE = """\
The idle stall does not count the time from the harness's Ctrl-C until the new `up` serves
again ("up serving after start": daphne answers and both workers are ready, 7-10 s here,
mostly importing torch); from then on the released segments start within 3 s. With Redis
the longest stall is the outage itself: dispatch needs the broker, so nothing new starts
while Redis is down (10 s), and the workers reconnect on Celery's back-off (tries after 2,
4 and 6 s: the third, 12 s after the loss, finds it), 2-3 s after Redis returns. While Redis is down, live pages are closed by the server
(1011) and reconnect with their cursor once it is back; they are pushed again at once.
"Points the page missed": final points of `train_loss` / `grad_norm` that the open page never
received (it reconnects with its cursor after an outage, so it should miss none). An earlier
run found single steps missing: the tailer's idle scan of every visible id could move its
cursor past a batch committed between its two queries; it now reads such a batch first."""


LABELS = {"redis": "PostgreSQL + Redis", "embedded": "embedded (SQLite + filesystem broker)"}


def section(stored: dict[str, dict[str, Any]]) -> str:
    from bench._results import markdown_table

    order = [b for b in ("redis", "embedded") if b in stored]
    rows: list[list[object]] = []

    def row(name: str, value: Callable[[dict[str, Any]], object]) -> None:
        rows.append([name, *(value(stored[b]) for b in order)])

    def faults(d: dict[str, Any]) -> str:
        c = Counter(f["kind"] for f in d["faults"])
        return ", ".join(f"{k} {n}" for k, n in sorted(c.items()))

    row("faults injected", faults)
    row("sweep", lambda d: f"{d['status']}, {d['trials']}/{d['max_trials']} trials")
    row("trials at the full budget", lambda d: d["full_budget_trials"])
    row("failed trials", lambda d: len(d["failed_trials"]))
    row("duplicate rung results", lambda d: d["duplicate_results"])
    row("steps lost / duplicated", lambda d: f"{d['missing_steps']} / {d['duplicated_steps']}")
    row("segments re-queued", lambda d: d["requeues"])
    row(
        "longest idle stall",
        lambda d: f"{d['longest_stall_s']:.1f} s (goal <= {d['lease_s'] + STALL_SLACK:g} s)",
    )
    row("quiet spells > lease", lambda d: ", ".join(d["stalls"]) or "none")
    row("up exits not asked for", lambda d: len(d["unplanned_up_exits"]))
    row("Ctrl-C to exit", lambda d: ", ".join(f"{s:g} s" for s in d["ctrl_c_exit_s"]))
    row("up serving after start", lambda d: ", ".join(f"{s:g} s" for s in d["up_ready_s"]))
    row("live page after recovery", lambda d: f"{d['live']['mode']}, oldest point p50 "
        f"{d['live']['oldest_p50_ms']} ms, p95 {d['live']['oldest_p95_ms']} ms")  # fmt: skip
    row("points the page missed", lambda d: d["live"]["missing_on_page"])
    row("problems", lambda d: len(d["problems"]))
    row("wall time", lambda d: f"{d['wall_s']:.0f} s")
    problems = (
        "\n".join(f"- {LABELS[b]}: {p}" for b in order for p in stored[b]["problems"])
        or "None: every fault was survived."
    )
    return (
        "## Fault injection\n\n"
        "A real Hyperband sweep (synthetic trainer, 1..9 epochs, eta 3) under `manage.py up "
        "--workers 2`, lease 5 s: three worker SIGKILLs mid-segment (one at rung >= 2), a "
        "Ctrl-C and restart of `up`; with PostgreSQL + Redis also a Redis stop of 10 s and "
        'restart (no persistence) and two `pg_terminate_backend` rounds. "Live page after '
        'recovery": how long the oldest point of each increment waited (a nudge: about one '
        "flush; the fallback poll: up to 1 s), after Redis returned (embedded: after the "
        "restart; its tailer polls every 0.1 s).\n\n"
        + markdown_table(["figure", *(LABELS[b] for b in order)], rows)
        + f"\n\nProblems:\n\n{problems}\n\n"
        "Command: `python bench/faults.py` (with `DATABASE_URL` for PostgreSQL + Redis). "
        "Machine: 2 shared cores, no GPU; run on "
        f"{', '.join(sorted({stored[b]['date'] for b in order}))}.\n\n" + NOTE
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--short", action="store_true", help="the short sweep (default: embedded only)"
    )
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="rungs-faults-"))
    env = scratch_environment(tmp)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connection

    short = args.short or connection.vendor != "postgresql"
    report = run_scenario(env, tmp / "logs", short=short)
    print(report.text())
    data = asdict(report)
    data["problems"] = report.problems()
    data["date"] = time.strftime("%Y-%m-%d")
    data["log_dir"] = ""  # a scratch folder, gone after the run
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"faults_{report.backend}.json").write_text(json.dumps(data, indent=1))
    stored = {}
    for backend in ("redis", "embedded"):
        path = RESULTS / f"faults_{backend}.json"
        if path.exists():
            stored[backend] = json.loads(path.read_text())
    from bench._results import write_section

    write_section("faults", section(stored))
    if args.keep_logs:
        print(f"logs: {tmp / 'logs'}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
