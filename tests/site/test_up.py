"""``manage.py up`` serves the site and leaves no process behind when stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> set[int]:
    """Every process whose parent chain or session leads to ``pid``'s children."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,sid="], capture_output=True, text=True).stdout
    rows = [tuple(int(x) for x in line.split()) for line in out.splitlines() if line.strip()]
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {p for p, pp, _ in rows if pp in frontier and p not in found}
        found |= children
        frontier = children
    sessions = found.copy()
    found |= {p for p, _, sid in rows if sid in sessions}
    return found


def alive(pids: set[int]) -> set[int]:
    left = set()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
        if stat and stat.split(")")[-1].split()[0] != "Z":  # zombies are already dead
            left.add(pid)
    return left


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_up_serves_login_and_stops_everything(tmp_path: Path, sig: int) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env["RUNGS_VAR_DIR"] = str(tmp_path)
    env["RUNGS_DEMO_SWEEP"] = "false"
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--demo", "--workers", "1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = None
        deadline = time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if "running at" in line:
                url = line.split("running at ")[1].split()[0]
        assert url == f"http://127.0.0.1:{port}/"
        body = ""
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(url + "accounts/login/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.3)
        assert "Log in to Rungs" in body
        children = descendants(proc.pid)
        assert len(children) >= 2, "expected daphne and a celery worker"
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 0
        assert alive(children) == set()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_up_on_a_database_not_set_up_says_to_migrate_and_starts_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["RUNGS_VAR_DIR"] = str(tmp_path)  # a new SQLite file: no tables
    out = subprocess.run(
        [sys.executable, "manage.py", "up", "--workers", "1", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode != 0
    assert "migrations not applied): run `manage.py migrate` first" in out.stderr, out.stderr
    assert "running at" not in out.stdout


def direct_children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    return {int(p) for p, pp in (line.split() for line in out.splitlines()) if int(pp) == pid}


def test_a_dead_worker_is_restarted_and_the_others_keep_running(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env["RUNGS_VAR_DIR"] = str(tmp_path)
    # A database set up first, as `up` without --demo requires (its workers would otherwise
    # fail on missing tables).
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env,
                   check=True)  # fmt: skip
    log = open(tmp_path / "up.log", "w+")  # noqa: SIM115 (read back below)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--no-web", "--workers", "2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(direct_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        first = direct_children(proc.pid)
        assert len(first) == 2
        victim, survivor = sorted(first)
        os.killpg(victim, signal.SIGKILL)
        while time.monotonic() < deadline:
            now = direct_children(proc.pid)
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "up went on running"
        now = direct_children(proc.pid)
        assert survivor in now and victim not in now and len(now) == 2
        log.seek(0)
        text = log.read()
        assert "exited with code" in text and "restarted" in text
        everything = descendants(proc.pid)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert alive(everything) == set()
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
