"""``manage.py up``: run the whole of Rungs on this machine.

Starts daphne (web + WebSockets) and Celery workers as child processes, prints the URL, and
supervises them: a child that dies is started again (with a growing back-off) while the
others keep running. On Ctrl-C or SIGTERM it stops them all, leaving no process behind;
workers first checkpoint their running segments and put them back in the queue.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

# Seconds before a child that exited is started again, growing while it keeps failing; a
# child that ran this long since its last start counts as healthy again.
RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
HEALTHY_SECONDS = 60.0


def parse_gpus(value: str) -> list[str]:
    """``all`` -> every visible CUDA device; ``0,1`` -> those ids; ``''`` -> none."""
    if value in ("", "none"):
        return []
    if value == "all":
        try:
            import torch

            return [str(i) for i in range(torch.cuda.device_count())]
        except ImportError:
            return []
    ids = [part.strip() for part in value.split(",") if part.strip()]
    if not all(i.isdigit() for i in ids):
        raise CommandError(
            f"--gpus must be 'all' or a list of device numbers like 0,1; got {value!r}"
        )
    return ids


def unapplied_migrations() -> int:
    """How many migrations the database still lacks."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


class Command(BaseCommand):
    help = "Start daphne and Celery workers; stop them all on Ctrl-C or SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2, help="CPU workers (default 2)")
        parser.add_argument("--gpus", default="", help="'all' or '0,1': one GPU worker per device")
        parser.add_argument("--no-web", action="store_true", help="only workers (another machine)")
        parser.add_argument(
            "--demo", action="store_true", help="migrate, create demo/demo and a demo sweep"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["workers"] < 0:
            raise CommandError(f"--workers must be >= 0, got {opts['workers']}")
        if not 0 < opts["port"] < 65536:
            raise CommandError(f"--port must be between 1 and 65535, got {opts['port']}")
        gpus = parse_gpus(opts["gpus"])
        if opts["demo"]:
            call_command("migrate", interactive=False, verbosity=0)
            from sweeps.demo import ensure_demo

            for line in ensure_demo():
                self.stdout.write(line)
        elif missing := unapplied_migrations():
            # Else the server would say it runs while every worker and page fails on
            # missing tables.
            raise CommandError(
                f"the database is not set up ({missing} migrations not applied): run "
                "`manage.py migrate` first, or `manage.py up --demo`, which migrates"
            )

        children = [Child(name, cmd, env) for name, cmd, env in self.child_specs(opts, gpus)]
        for child in children:
            child.start()
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        if not opts["no_web"]:
            self.stdout.write(
                f"Rungs is running at http://{opts['host']}:{opts['port']}/  (Ctrl-C stops it)"
            )
        self.stdout.flush()
        try:
            while not stopping:
                for child in children:
                    self.supervise(child)
                time.sleep(0.2)
        finally:
            self.stop_children(children)

    def supervise(self, child: Child) -> None:
        """Restart a child that exited, after a back-off that grows while it keeps failing;
        the others keep running (a lost worker's segment is re-queued by the reaper)."""
        if child.restart_at is not None:
            if time.monotonic() >= child.restart_at:
                child.start()
                self.stderr.write(f"{child.name} restarted (pid {child.proc.pid})")
            return
        code = child.proc.poll() if child.proc is not None else None
        if code is None:
            return
        delay = child.exited()
        self.stderr.write(f"{child.name} exited with code {code}; restarting it in {delay:g} s")
        self.stderr.flush()

    def child_specs(
        self, opts: dict[str, Any], gpus: list[str]
    ) -> list[tuple[str, list[str], dict[str, str]]]:
        python = sys.executable
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "PYTHONUNBUFFERED": "1",
        }
        specs: list[tuple[str, list[str], dict[str, str]]] = []
        if not opts["no_web"]:
            # daphne's WebSocket limit (it applies to what it sends too) is the socket's cap.
            specs.append(("web", [python, "-m", "daphne", "-b", opts["host"], "-p", str(opts["port"]),
                                  "--websocket-max-message-size", str(settings.RUNGS_SOCKET_MAX_BYTES),
                                  "dashboard.asgi:application"], env))  # fmt: skip
        worker = [python, "-m", "celery", "-A", "dashboard", "worker", "--pool", "solo",
                  "--loglevel", "INFO", "--without-gossip", "--without-mingle"]  # fmt: skip
        for i in range(opts["workers"]):
            specs.append((f"cpu-worker-{i}", [*worker, "-Q", "celery,cpu", "-n", f"cpu{i}@%h"],
                          {**env, "CUDA_VISIBLE_DEVICES": ""}))  # fmt: skip
        for gpu in gpus:
            specs.append((f"gpu-worker-{gpu}", [*worker, "-Q", "celery,gpu", "-n", f"gpu{gpu}@%h"],
                          {**env, "CUDA_VISIBLE_DEVICES": gpu}))  # fmt: skip
        return specs

    def stop_children(self, children: list[Child]) -> None:
        """SIGTERM every child: workers checkpoint their running segment and put it back in
        the queue (see trainers.runner), so a restarted stack resumes it at once. Whatever is
        left after the grace period is killed."""
        running = [c.proc for c in children if c.proc is not None]
        for proc in running:
            signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + settings.RUNGS_STOP_GRACE_SECONDS
        for proc in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in running:  # anything left in a child's group, stubborn or orphaned
            signal_group(proc, signal.SIGKILL)
            proc.wait()
        self.stdout.write("Rungs stopped.")


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


class Child:
    """One supervised child process: how to start it and when to start it again."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        self.name, self.cmd, self.env = name, cmd, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.failures = 0
        self.restart_at: float | None = None

    def start(self) -> None:
        # Its own session: Ctrl-C reaches `up` alone, which stops children in order, and a
        # child's group (a worker and the fitting process it spawned) is stopped together.
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, cwd=settings.BASE_DIR, start_new_session=True
        )
        self.started, self.restart_at = time.monotonic(), None

    def exited(self) -> float:
        """Note an exit; return the back-off before the restart."""
        assert self.proc is not None
        signal_group(self.proc, signal.SIGKILL)  # whatever it left behind in its group
        now = time.monotonic()
        if now - self.started > HEALTHY_SECONDS:
            self.failures = 0
        delay = RESTART_BACKOFF[min(self.failures, len(RESTART_BACKOFF) - 1)]
        self.failures += 1
        self.restart_at = now + delay
        return delay
