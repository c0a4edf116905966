"""Metric point reported -> drawn in the browser, embedded and with PostgreSQL + Redis.

For each set-up a child process makes a scratch database, starts daphne on it, opens the
sweep page in chromium (Playwright, Debian's ``/usr/bin/chromium``) and, for the "20 pages"
rows, 20 more WebSocket clients (``websockets``) on the same sweep. A trainer-like loop then
reports a step every ``--step-ms`` through the real :class:`trainers.reporting.Reporter`
(the flush interval the runner uses, ``write_points``, ``nudge_sweep``), each point stamped
with the wall clock when it is logged. The page records, once it has drawn an increment
(its points added to the charts' SVG lines, or Plotly's draw done), the clock minus the
log time of its newest and of its oldest point (the oldest waited longest: it includes
the reporter's buffering), and the same when its socket received it (the draw is the
difference); the WebSocket clients record it at receipt.
Each set-up runs ``--repeat`` times, the set-ups taking turns so that the other work on the
machine weighs on all alike; the table gives the median over the runs of each run's
percentiles. Writes the "live_latency" section of BENCHMARKS.md.

    .venv/bin/python bench/live_latency.py [--seconds 15] [--step-ms 10] [--repeat 3] [--no-redis]

PostgreSQL: ``DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/test; a scratch
database is made next to it), Redis: ``REDIS_URL`` (default redis://127.0.0.1:6379/0; the
bench uses database 13 of that server so it does not meet other runs' groups).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
GOALS_MS = {"redis": 50.0, "embedded": 300.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# --- the child: one set-up -----------------------------------------------------------------


def seed() -> tuple[int, int, str]:
    """User, session, a running sweep with one running trial; returns ids and the cookie.

    The sweep's id is new to the Redis server (its pid), so its channel-layer group holds
    no member an earlier run left behind (a killed server never leaves its groups)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from sweeps.models import Sweep, Trial

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-password")
    sweep = Sweep.objects.create(
        pk=1_000_000 + os.getpid(), name="latency", owner=user, trainer="synthetic", status="running",
        space={"lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}},
        scheduler={"name": "fifo", "min_resource": 1, "max_resource": 1, "eta": 3},
    )  # fmt: skip
    trial = Trial.objects.create(
        sweep=sweep, number=1, params={"lr": 0.01}, status="running", worker="bench", budget=1
    )
    client = Client()
    client.force_login(user)
    return sweep.pk, trial.pk, client.cookies["sessionid"].value


def report_steps(sweep_id: int, trial_id: int, seconds: float, step_s: float) -> int:
    """A training loop's reporting, through the real Reporter; returns steps reported."""
    from django.conf import settings

    from sweeps.ingest import write_points
    from sweeps.nudges import nudge_sweep
    from trainers.reporting import Reporter

    reporter = Reporter(
        write=lambda points: write_points(sweep_id, trial_id, points),
        heartbeat=lambda: "continue",
        nudge=lambda: nudge_sweep(sweep_id),
        flush_seconds=settings.RUNGS_METRIC_FLUSH_SECONDS,
    )
    step = 0
    end = time.monotonic() + seconds
    next_at = time.monotonic()
    while time.monotonic() < end:
        step += 1
        reporter.step(step, train_loss=1.0 / step, grad_norm=1.0, lr=0.01, samples=32)
        next_at += step_s
        time.sleep(max(0.0, next_at - time.monotonic()))
    reporter.flush()
    return step


async def socket_clients(
    url: str, origin: str, cookie: str, n: int, stop: threading.Event, ready: threading.Event
) -> list[list[float]]:
    """``n`` WebSocket pages; each records [newest, oldest] latency per increment."""
    from websockets.asyncio.client import connect

    samples: list[list[float]] = []
    opened = 0

    async def page() -> None:
        nonlocal opened
        async with connect(url, origin=origin, additional_headers={"Cookie": f"sessionid={cookie}"},
                           max_size=None) as ws:  # fmt: skip
            await ws.recv()  # the snapshot
            opened += 1
            if opened == n:
                ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                now = time.time()
                msg = json.loads(raw)
                if msg.get("type") == "inc" and msg.get("tmax"):
                    samples.append([now - msg["tmax"], now - msg["tmin"]])

    await asyncio.gather(*(page() for _ in range(n)))
    return samples


def measure(mode: str, pages: int, seconds: float, step_ms: float) -> dict[str, Any]:
    import django

    django.setup()
    from django.conf import settings

    sweep_id, trial_id, cookie = seed()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log = Path(os.environ["RUNGS_VAR_DIR"]) / "daphne.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "dashboard.asgi:application"],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=server_log.open("w"),
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/health/", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        from playwright.sync_api import sync_playwright

        stop, ready = threading.Event(), threading.Event()
        ws_samples: list[list[float]] = []
        clients = None
        if pages > 1:
            url = f"ws://127.0.0.1:{port}/ws/sweeps/{sweep_id}/"

            def run_clients() -> None:
                ws_samples.extend(
                    asyncio.run(socket_clients(url, base, cookie, pages, stop, ready))
                )

            clients = threading.Thread(target=run_clients, daemon=True)
            clients.start()
            if not ready.wait(30):
                raise RuntimeError("the WebSocket clients did not connect")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = browser.new_context()
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
            page = context.new_page()
            page.goto(f"{base}/sweeps/{sweep_id}/")
            page.wait_for_function("document.getElementById('live').textContent === 'live'")
            page.wait_for_timeout(500)
            page.evaluate("Rungs.latency.length = 0")
            reporter = threading.Thread(
                target=report_steps, args=(sweep_id, trial_id, seconds, step_ms / 1000), daemon=True
            )
            reporter.start()
            reporter.join()
            page.wait_for_timeout(1500)
            browser_samples = page.evaluate("Rungs.latency.slice()")
            received_samples = page.evaluate("Rungs.received ? Rungs.received.slice() : []")
            points = page.evaluate("document.getElementById('chart-loss').data[0].x.length")
            browser.close()
        stop.set()
        if clients is not None:
            clients.join(10)
        # A socket the server closed on an error stops recording: numbers without it lie.
        errors = server_log.read_text()
        if "Exception inside application" in errors:
            raise RuntimeError(f"the server failed while measuring:\n{errors[-3000:]}")
        return {
            "mode": mode,
            "pages": pages,
            "browser": browser_samples,
            "received": received_samples,
            "sockets": ws_samples,
            "drawn_steps": points,
            "flush_s": settings.RUNGS_METRIC_FLUSH_SECONDS,
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
        if settings.REDIS_URL:  # the killed server's member of the sweep's group
            import redis

            redis.Redis.from_url(settings.REDIS_URL).delete(f"asgi:group:sweep-{sweep_id}")


# --- the parent: set-ups, scratch databases, report ------------------------------------------


def scratch_postgres(url: str) -> tuple[str, Any]:
    import psycopg

    parsed = urlparse(url)
    name = f"rungs_bench_latency_{os.getpid()}"
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return parsed._replace(path=f"/{name}").geturl(), drop


def run_setup(mode: str, pages: int, args: argparse.Namespace) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="dashboard.settings", RUNGS_LOG_LEVEL="WARNING")
    load = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="rungs-bench-latency-"))
    env["RUNGS_VAR_DIR"] = str(tmp)
    cleanup = None
    if mode == "redis":
        env["DATABASE_URL"], cleanup = scratch_postgres(os.environ.get("DATABASE_URL", DEFAULT_PG))
        redis = urlparse(os.environ.get("REDIS_URL", DEFAULT_REDIS))
        env["REDIS_URL"] = redis._replace(path="/13").geturl()
    try:
        cmd = [sys.executable, __file__, "--child", mode, str(pages), "--seconds", str(args.seconds),
               "--step-ms", str(args.step_ms)]  # fmt: skip
        out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit(f"{mode} x{pages} failed:\n{out.stderr[-4000:]}")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        result["load"] = load
        return result
    finally:
        if cleanup is not None:
            cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    from bench._results import markdown_table

    rows = []
    setups = sorted(
        {(r["mode"], r["pages"]) for r in results}, key=lambda k: (k[0] == "redis", k[1])
    )
    for mode, pages in setups:
        runs = [r for r in results if (r["mode"], r["pages"]) == (mode, pages)]
        label = "PostgreSQL + Redis" if mode == "redis" else "embedded (SQLite, in-memory layer)"
        goal = GOALS_MS[mode]
        open_pages = "1 (browser)" if pages == 1 else f"{pages} sockets + browser"
        for who, key in (("browser, drawn", "browser"), ("browser, received", "received"),
                         ("sockets, received", "sockets")):  # fmt: skip
            per_run = [r[key] for r in runs if r.get(key)]
            if not per_run:
                continue

            def med(q: float, i: int, samples: list[list[list[float]]] = per_run) -> float:
                return statistics.median(
                    percentile([1000 * s[i] for s in one], q) for one in samples
                )

            p95s = sorted(percentile([1000 * s[1] for s in one], 0.95) for one in per_run)
            p95 = med(0.95, 1)
            rows.append([
                label, open_pages, who, len(per_run),
                f"{statistics.median(len(one) for one in per_run):.0f}",
                f"{med(0.5, 1):.0f}", f"{p95:.0f}", f"{p95s[0]:.0f}–{p95s[-1]:.0f}",
                f"{med(0.5, 0):.0f}", f"{med(0.95, 0):.0f}",
                f"{1000 * runs[0]['flush_s']:.0f}",
                ("yes" if p95 <= goal else "**no**") + f" (<= {goal:.0f})" if key == "browser" else "",
            ])  # fmt: skip
    loads = sorted(r["load"] for r in results)
    return "\n".join(
        [
            "## Live latency: metric point reported -> drawn in the browser",
            "",
            f"`.venv/bin/python bench/live_latency.py --repeat {args.repeat}` — a loop reports one "
            f"step (train_loss, grad_norm, lr, samples_per_s) every {args.step_ms:g} ms for "
            f"{args.seconds:g} s through the real `Reporter` (write_points + nudge_sweep, the "
            "runner's flush interval); daphne serves the sweep page to chromium, which records "
            "for every increment, once it has drawn it (the points added to the charts' SVG "
            "lines, or Plotly's draw done; the screen shows it at the next frame), the clock "
            "minus the log time of its oldest point (all of the path: the reporter's buffer, "
            "the write, the nudge or poll, "
            "the tailer's read, the socket, the draw) and of its newest, and the same when its "
            'socket received the increment ("browser, received": drawn minus received is the '
            'page\'s part). "20 pages": 20 more WebSocket clients watch the same sweep (one '
            "shared tailer serves them all), recording at receipt. Each set-up ran "
            f"{args.repeat} times, the set-ups taking turns; each cell is the median over the "
            "runs of that run's percentile, and the p95 range shows the spread between runs. "
            f"Machine: {platform.node()} ({os.cpu_count()} cores, shared with other work), "
            "server, browser, clients and reporter all on it. Load average (1 min) before the "
            f"runs: {loads[0]:.1f}–{loads[-1]:.1f}, median {statistics.median(loads):.1f} (other "
            "work on the same cores inflates every number).",
            "",
            markdown_table(
                [
                    "set-up",
                    "open pages",
                    "measured at",
                    "runs",
                    "increments per run",
                    "oldest p50 ms",
                    "oldest p95 ms",
                    "oldest p95 range ms",
                    "newest p50 ms",
                    "newest p95 ms",
                    "reporter flush ms",
                    "meets goal (p95, oldest, drawn)",
                ],  # fmt: skip
                rows,
            ),
            "",
            "Goals: p95 <= 50 ms with Redis, <= 300 ms embedded. Embedded, the tailer polls the "
            "database every 100 ms (the in-memory layer cannot carry a worker's nudge across "
            "processes); with Redis the worker's nudge wakes it, with a 1 s fallback poll. "
            "The page extends the drawn lines itself while the new points lie inside the view "
            "and widens the x range ahead of them (a full Plotly redraw blocked the page for "
            "15-40 ms, and each one put increments behind it); Plotly computes the new points "
            "(for hover) every 10 s, or each second while the pointer is on a chart, which is "
            "not the case here.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--step-ms", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each set-up")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PAGES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, pages = args.child[0], int(args.child[1])
        print(json.dumps(measure(mode, pages, args.seconds, args.step_ms)))
        return
    results = []
    for _ in range(args.repeat):
        for mode in ("embedded",) + (() if args.no_redis else ("redis",)):
            for pages in (1, 20):
                results.append(run_setup(mode, pages, args))
    text = report(results, args)
    print(text)
    if not args.no_write:
        from bench._results import write_section

        write_section("live_latency", text)


if __name__ == "__main__":
    main()
