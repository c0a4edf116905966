"""A real Celery worker, in its own process, on the test database (the ``worker`` fixture)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from sweeps.models import Sweep

ROOT = Path(__file__).resolve().parents[1]


class Worker:
    """A ``celery worker --pool solo`` subprocess that can be SIGKILLed and restarted."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir, self.proc = env, log_dir, None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_dir / f"worker-{self.starts}.log", "w")  # noqa: SIM115 (lives with the process)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--pool", "solo", "-Q", "celery",
             "--without-gossip", "--without-mingle", "--loglevel", "INFO", "-n", f"test{self.starts}@%h"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.log_dir.glob("worker-*.log")))


def test_database_env() -> dict[str, str]:
    """Environment that points a child process at this test run's database."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["RUNGS_SQLITE_PATH"] = str(db["NAME"])
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        env["DATABASE_URL"] = (
            f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    return env


@pytest.fixture
def worker(transactional_db: None, tmp_path: Path, settings: Any) -> Iterator[Worker]:
    settings.RUNGS_LEASE_SECONDS = 5.0
    env = test_database_env()
    env.update(
        RUNGS_LEASE_SECONDS="5",
        RUNGS_HEARTBEAT_SECONDS="0.5",
        RUNGS_CHECKPOINT_DIR=str(tmp_path / "ckpt"),
    )
    settings.RUNGS_CHECKPOINT_DIR = tmp_path / "ckpt"
    w = Worker(env, tmp_path)
    w.start()
    yield w
    w.kill()


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, worker: Worker | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}\n" + (worker.logs() if worker else "")
    )


def wait_done(sweep: Sweep, timeout: float, worker: Worker) -> Sweep:
    def done() -> bool:
        sweep.refresh_from_db()
        return sweep.status in ("completed", "cancelled", "failed")

    wait_for(done, timeout, f"sweep {sweep.pk} to finish", worker)
    return sweep
