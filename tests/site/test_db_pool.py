"""PostgreSQL connections are pooled per process: bounded by ``RUNGS_DB_POOL_SIZE``, a burst
of requests waits for a free connection instead of failing, and a connection the server
ended is replaced instead of failing the next request. Skipped on the embedded SQLite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import close_old_connections, connection
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.dashboard.conftest import make_sweep, make_trial
from tests.site.test_up import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="pooling is for PostgreSQL (DATABASE_URL)",
    ),
    pytest.mark.django_db(transaction=True),
]


def _conninfo(dbname: str | None = None) -> dict[str, Any]:
    db = connection.settings_dict
    return {
        "host": db["HOST"] or None,
        "port": db["PORT"] or None,
        "user": db["USER"] or None,
        "password": db["PASSWORD"] or None,
        "dbname": dbname or db["NAME"],
        "autocommit": True,
    }


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def test_connections_come_from_a_bounded_pool() -> None:
    db = connection.settings_dict
    assert db["CONN_MAX_AGE"] == 0  # Django hands each connection back after use
    pool = connection.pool
    assert pool is not None
    assert pool.max_size == settings.RUNGS_DB_POOL_SIZE
    assert pool.min_size <= pool.max_size
    assert db["OPTIONS"]["application_name"]


def test_a_connection_the_server_ended_is_replaced_not_an_error() -> None:
    first = _backend_pid()
    close_old_connections()  # what the end of a request (or a worker's next task) does
    assert connection.connection is None  # back in the pool, still open there
    with psycopg.connect(**_conninfo()) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [first])
        for _ in range(100):
            gone = admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [first])
            if gone.fetchone() is None:
                break
            time.sleep(0.02)
    second = _backend_pid()  # the pool checked the connection before lending it
    assert second != first


def test_a_forked_child_does_not_share_the_parents_pool() -> None:
    from django.db.backends.postgresql.base import DatabaseWrapper

    _backend_pid()  # the pool is open, its connections lent by this process
    assert DatabaseWrapper._connection_pools
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0 if not DatabaseWrapper._connection_pools else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# --- a burst against a real server ------------------------------------------------------------

POOL_SIZE = 4
REQUESTS = 500
AT_ONCE = 50


class _Server:
    def __init__(self, proc: subprocess.Popen[str], url: str, app_name: str) -> None:
        self.proc, self.url, self.app_name = proc, url, app_name


@pytest.fixture
def daphne(tmp_path: Path) -> Any:
    """daphne serving this test's database with a pool of ``POOL_SIZE``; its connections
    carry an application name of their own, so pg_stat_activity tells them apart."""
    db = connection.settings_dict
    app_name = f"rungs-burst-{uuid.uuid4().hex[:8]}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DATABASE_URL=f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        f"?application_name={app_name}",
        RUNGS_DB_POOL_SIZE=str(POOL_SIZE),
        RUNGS_VAR_DIR=str(tmp_path),
        RUNGS_DEBUG="true",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "dashboard.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/accounts/login/", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"daphne did not start: {proc.stderr.read()}") from None
                time.sleep(0.2)
        yield _Server(proc, url, app_name)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _held(admin: psycopg.Connection[Any], app_name: str) -> int:
    row = admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app_name]
    ).fetchone()
    return int(row[0]) if row else 0


def _get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 599  # no answer at all counts as a failure too


@pytest.mark.slow
def test_a_burst_of_gets_queues_for_the_pool_instead_of_failing(daphne: _Server, user: Any) -> None:
    sweep = make_sweep(user)
    for n in range(1, 6):
        make_trial(sweep, n, status="running")
    token = Token.objects.create(user=user).key
    url = daphne.url + reverse("api-sweep", args=[sweep.pk])
    assert _get(url, token) == 200

    peak = 0
    stop = threading.Event()
    with psycopg.connect(**_conninfo()) as admin:

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _held(admin, daphne.app_name))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with ThreadPoolExecutor(AT_ONCE) as pool:
                statuses = Counter(pool.map(lambda _: _get(url, token), range(REQUESTS)))
        finally:
            stop.set()
            sampler.join()
        held_after = _held(admin, daphne.app_name)

        # The server ends every connection the site holds: none of the next requests fails.
        pids = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [daphne.app_name]
        ).fetchall()
        for (pid,) in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        with ThreadPoolExecutor(10) as pool:
            after_kill = Counter(pool.map(lambda _: _get(url, token), range(40)))

    failed = sum(n for status, n in statuses.items() if status >= 500)
    print(
        f"\n{REQUESTS} GETs, {AT_ONCE} at a time: statuses {dict(statuses)}, {failed} 5xx; "
        f"connections held by daphne: peak {peak}, after {held_after}, pool size {POOL_SIZE}; "
        f"after pg_terminate_backend of {len(pids)}: {dict(after_kill)}"
    )
    assert statuses == {200: REQUESTS}
    assert 1 <= peak <= POOL_SIZE
    assert held_after <= POOL_SIZE
    assert after_kill == {200: 40}
