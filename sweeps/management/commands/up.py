"""``manage.py up``: run the whole of Rungs on this machine.

Starts daphne (web + WebSockets) and Celery workers as child processes, prints the URL, and
on Ctrl-C or SIGTERM stops them all, leaving no process behind. Each child runs in its own
process group so that the group (a worker and anything it forked) is stopped together.
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

STOP_GRACE_SECONDS = 10.0


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

        children = self.start_children(opts, gpus)
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
        code = 0
        try:
            while not stopping:
                for name, proc in children:
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping")
                        stopping, code = True, 1
                time.sleep(0.2)
        finally:
            self.stop_children(children)
        if code:
            sys.exit(code)

    def start_children(
        self, opts: dict[str, Any], gpus: list[str]
    ) -> list[tuple[str, subprocess.Popen[bytes]]]:
        python = sys.executable
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "PYTHONUNBUFFERED": "1",
        }
        specs: list[tuple[str, list[str], dict[str, str]]] = []
        if not opts["no_web"]:
            specs.append(("web", [python, "-m", "daphne", "-b", opts["host"], "-p", str(opts["port"]),
                                  "dashboard.asgi:application"], env))  # fmt: skip
        worker = [python, "-m", "celery", "-A", "dashboard", "worker", "--pool", "solo",
                  "--loglevel", "INFO", "--without-gossip", "--without-mingle"]  # fmt: skip
        for i in range(opts["workers"]):
            specs.append((f"cpu-worker-{i}", [*worker, "-Q", "celery,cpu", "-n", f"cpu{i}@%h"],
                          {**env, "CUDA_VISIBLE_DEVICES": ""}))  # fmt: skip
        for gpu in gpus:
            specs.append((f"gpu-worker-{gpu}", [*worker, "-Q", "celery,gpu", "-n", f"gpu{gpu}@%h"],
                          {**env, "CUDA_VISIBLE_DEVICES": gpu}))  # fmt: skip
        children = []
        for name, cmd, child_env in specs:
            proc = subprocess.Popen(
                cmd, env=child_env, cwd=settings.BASE_DIR, start_new_session=True
            )
            children.append((name, proc))
        return children

    def stop_children(self, children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
        for _, proc in children:
            self.signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for _, proc in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for _, proc in children:  # anything left in a child's group, stubborn or orphaned
            self.signal_group(proc, signal.SIGKILL)
            proc.wait()
        self.stdout.write("Rungs stopped.")

    @staticmethod
    def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
