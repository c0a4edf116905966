"""Rungs at scale: what one sweep of 1,000 or 10,000 trials costs the server, and what a
process weighs at start.

Per size, a sweep is built in a scratch test database (SQLite; PostgreSQL too when
``DATABASE_URL`` is set) by :func:`bench.page_load.build`: successive-halving brackets of 81
(eta 3, budgets 1..81) with their rung results, ``--steps`` points of three metrics per
trial rolled up as segment ends roll them up, and the sweep's concurrency less one trial
still training, so one slot is free. Then, in a fresh process (a restarted server):

* the sweep page, ``GET /sweeps/<id>/`` through Django (gzip accepted): server time of the
  first request and the median of the next, bytes sent and uncompressed;
* the live socket's first message, built as the tailer builds it (``SweepReader.load``,
  ``LiveState.start``, ``build_snapshot``) for a page without a cursor (full) and for one
  that resumes at the newest point (what a freshly loaded page sends), as compact JSON;
* the scheduler's turn, ``advance_sweep`` (what runs after every segment end) rolled back
  each time, so every turn sees the same sweep: the first (scheduler built) and the median;
* the trials API (``GET /api/.../sweeps/<id>/trials/``, its default page) and the CSV export;
* on SQLite, with Debian's chromium, the page in a real browser (:func:`in_browser`): time
  until drawn, JS heap, DOM nodes, click to the next frame.

Once per run: each process's weight at start, VmRSS once it stops using CPU (web: daphne
on ``dashboard.asgi`` once it listens; supervisor: ``manage.py up --no-web --workers 0``),
and, for web, supervisor and a worker, the seconds and resident MB of their imports alone
(``django.setup()`` and what the process imports before it serves) and which heavy
libraries those load. Writes the "scale" section of BENCHMARKS.md.

    .venv/bin/python bench/scale.py [--sizes 1000,10000] [--steps 20] [--repeats 5]
        [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HEAVY = ("skopt", "sklearn", "scipy", "pandas", "torch", "numpy", "plotly")
HEADERS = ["database", "trials", "points", "build s", "page ms", "page MB", "socket build ms",
           "socket full MB", "socket resume MB", "turn ms", "API trials ms", "API MB",
           "CSV ms", "CSV MB"]  # fmt: skip
LIVE = 7  # trials still training: a concurrency of 8 less the slot the turn fills

# What each process imports before it serves (run in a fresh interpreter).
IMPORTS = {
    "web": "import dashboard.asgi",
    "supervisor": (
        "from django.core.management import load_command_class\n"
        "load_command_class('sweeps', 'up').check()"
    ),
    "worker": (
        "from dashboard.celery import app\n"
        "app.loader.import_default_modules()\n"
        "from trainers.registry import loadable_trainers\n"
        "loadable_trainers()"
    ),
}
IMPORT_PROBE = """
import json, sys, time
started = time.perf_counter()
import django
django.setup()
{imports}
seconds = time.perf_counter() - started
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({{"seconds": seconds, "rss_mb": int(status["VmRSS"].split()[0]) / 1024,
                  "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


# -- in the children --


def build_database(size: int, steps: int) -> dict[str, Any]:
    """A scratch test database with the sweep (``bench.page_load``'s); it outlives this
    process."""
    from bench.page_load import build_database as build_page_database

    built = build_page_database(size, steps, LIVE)
    from django.db import connection

    from sweeps.models import Sweep

    try:
        # Room for more trials, so the turn has a config to start in the free slot.
        Sweep.objects.filter(pk=built["sweep"]).update(name="scale", max_trials=size + 1000)
    except BaseException:
        connection.creation.destroy_test_db(built["original"], verbosity=0)
        raise
    return built


def _timed(fn: Any, repeats: int) -> tuple[float, float, Any]:
    """First call's seconds, the median of the next ``repeats``, and the last value."""
    times = []
    value = None
    for _ in range(repeats + 1):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return times[0], statistics.median(times[1:]), value


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _sizes(text: bytes) -> tuple[int, int]:
    return len(text), len(gzip.compress(text, compresslevel=6))


def measure(db: str, original: str, sweep_id: int, repeats: int) -> dict[str, Any]:
    """In a fresh child, as a restarted server; drops the scratch database at the end."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()
    connection.settings_dict["NAME"] = db
    try:
        from dashboard.live.reader import SweepReader
        from dashboard.live.snapshots import build_snapshot
        from dashboard.live.state import LiveState
        from sweeps.models import MetricPoint, Trial
        from sweeps.services import advance_sweep

        out: dict[str, Any] = {"vendor": connection.vendor, "points": MetricPoint.objects.count()}
        client = Client()
        client.force_login(get_user_model().objects.get(username="bench"))

        def get(url: str, **headers: str) -> Any:
            response = client.get(url, **headers)
            assert response.status_code == 200, (url, response.status_code)
            return response

        first, warm, response = _timed(
            lambda: get(f"/sweeps/{sweep_id}/", HTTP_ACCEPT_ENCODING="gzip"), repeats
        )
        html = gzip.decompress(response.content)
        out["page"] = {"first_s": first, "warm_s": warm, "raw": len(html),
                       "gzip": len(response.content)}  # fmt: skip

        def snapshots() -> tuple[bytes, bytes]:
            reader = SweepReader(sweep_id)
            loaded = reader.load()
            state = LiveState()
            state.start(loaded.sweep, loaded.trials, loaded.results, loaded.event_cursor, 0.0)
            upto = reader.tracker.cursor
            full = build_snapshot(sweep_id, upto, None, None, state.snapshot())
            resume = build_snapshot(sweep_id, upto, upto, None, state.snapshot())
            return (json.dumps(full, separators=(",", ":")).encode(),
                    json.dumps(resume, separators=(",", ":")).encode())  # fmt: skip

        first, warm, (full, resume) = _timed(snapshots, repeats)
        out["socket"] = {"first_s": first, "warm_s": warm, "full": _sizes(full),
                         "resume": _sizes(resume)}  # fmt: skip

        before = Trial.objects.filter(sweep_id=sweep_id).count()

        def turn() -> int:
            """One turn, rolled back (every turn sees the same sweep); trials it started."""
            try:
                with transaction.atomic():
                    advance_sweep(sweep_id)
                    raise _RolledBack(Trial.objects.filter(sweep_id=sweep_id).count() - before)
            except _RolledBack as undone:
                return int(undone.args[0])

        first, warm, started = _timed(turn, repeats)
        out["turn"] = {"first_s": first, "warm_s": warm, "started": started}

        url = reverse("api-sweep-trials", args=[sweep_id])
        first, warm, response = _timed(lambda: get(url), repeats)
        out["api"] = {"first_s": first, "warm_s": warm, "bytes": len(_body(response))}

        url = reverse("api-export-csv", args=[sweep_id])
        first, warm, response = _timed(lambda: get(url), max(1, repeats // 2))
        out["csv"] = {"first_s": first, "warm_s": warm, "bytes": len(_body(response))}
        if connection.vendor == "sqlite" and Path(CHROMIUM).exists():
            out["browser"] = in_browser(db, sweep_id, client.cookies["sessionid"].value, repeats)
        return out
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)


CHROMIUM = "/usr/bin/chromium"
BROWSER_HEADERS = ["trials", "drawn s", "JS heap MB", "DOM nodes", "hide click ms",
                   "select click ms"]  # fmt: skip
# Ready: the socket is live, the loss chart, the bracket and the trial table are drawn.
DRAWN = """() => document.getElementById('live').textContent === 'live'
  && document.querySelector('#chart-loss .main-svg') && document.querySelector('#bracket .cell')
  && document.querySelector('#trials tbody tr[data-trial]')"""
# A click's cost as a user sees it: from the click to the frame painted after it.
CLICK = """async (selector) => {
  const el = document.querySelector(selector);
  const t0 = performance.now();
  el.click();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return performance.now() - t0;
}"""


def in_browser(db: str, sweep_id: int, session: str, repeats: int) -> dict[str, Any]:
    """The sweep page in Chromium, served by daphne on the scratch database: seconds from
    navigation to drawn (:data:`DRAWN`; the second load, the first warms the server), the JS heap and DOM nodes then, and the median
    click-to-frame of toggling "hide finished" on the loss chart and of selecting a trial."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    env = {**os.environ, "RUNGS_SQLITE_PATH": db, "RUNGS_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "dashboard.asgi:application"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.perf_counter() + 60
        while not _listening(port) and time.perf_counter() < deadline:
            time.sleep(0.1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--enable-precise-memory-info"]
            )
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.context.add_cookies(
                [{"name": "sessionid", "value": session, "url": f"http://127.0.0.1:{port}"}]
            )
            url = f"http://127.0.0.1:{port}/sweeps/{sweep_id}/"
            page.goto(url)  # a first load warms the server (its first request, the tailer)
            page.wait_for_function(DRAWN, timeout=120_000, polling="raf")
            page.goto(url, wait_until="commit")
            page.wait_for_function(DRAWN, timeout=120_000, polling="raf")
            drawn = page.evaluate("performance.now()") / 1000
            heap = page.evaluate("performance.memory.usedJSHeapSize")
            nodes = page.evaluate("document.getElementsByTagName('*').length")
            clicks = {
                "hide": '.panel[data-chart="loss"] [data-control="hide"]',
                "select": "#trials tbody tr[data-trial] td.params",
            }
            times = {
                name: statistics.median(page.evaluate(CLICK, sel) for _ in range(repeats))
                for name, sel in clicks.items()
            }
            browser.close()
        return {"drawn_s": drawn, "heap": heap, "nodes": nodes,
                "click_ms": max(times.values()), "clicks_ms": times}  # fmt: skip
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # still computing a big sweep's panels: measured
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


class _RolledBack(Exception):
    """Undoes a timed turn."""


# -- in the parent --


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, *args]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def import_weight(env: dict[str, str], kind: str) -> dict[str, Any]:
    """Seconds and resident MB of a process's imports alone, in a fresh interpreter."""
    code = IMPORT_PROBE.format(imports=IMPORTS[kind], heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=False)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"import probe {kind} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def started_rss(env: dict[str, str], kind: str) -> dict[str, float]:
    """A real process's VmRSS once it has started: web once it listens, the supervisor
    once it stops using CPU (0.5 s without a tick)."""
    python = sys.executable
    port = _free_port()
    cmd = {
        "web": [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                "dashboard.asgi:application"],
        "supervisor": [python, "manage.py", "up", "--no-web", "--workers", "0"],
    }[kind]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        ticks, still_since = -1, time.perf_counter()
        while time.perf_counter() - started < 120:
            if proc.poll() is not None:
                raise SystemExit(f"{kind} exited with code {proc.returncode}")
            if kind == "web":
                if _listening(port):
                    break
            else:
                now_ticks = _cpu_ticks(proc.pid)
                if now_ticks != ticks:
                    ticks, still_since = now_ticks, time.perf_counter()
                elif time.perf_counter() - still_since >= 0.5:
                    break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        )
        return {"seconds": seconds, "rss_mb": int(status["VmRSS"].split()[0]) / 1024,
                "hwm_mb": int(status["VmHWM"].split()[0]) / 1024}  # fmt: skip
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=False)  # fmt: skip
    return out.stdout.strip() or "an unknown commit"


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f}" if n >= 10_000 else f"{n / 1e6:.3f}"


def _ms(first: float, warm: float) -> str:
    return f"{warm * 1000:.0f} ({first * 1000:.0f})"


def report(runs: list[dict[str, Any]], starts: dict[str, Any], args: argparse.Namespace) -> str:
    from bench._results import markdown_table

    rows = []
    for r in runs:
        page, sock, turn, api, csv = r["page"], r["socket"], r["turn"], r["api"], r["csv"]
        rows.append([
            "SQLite" if r["vendor"] == "sqlite" else "PostgreSQL",
            f"{r['size']:,}", f"{r['points']:,}", f"{r['build_s']:.0f}",
            _ms(page["first_s"], page["warm_s"]), f"{_mb(page['raw'])} / {_mb(page['gzip'])}",
            _ms(sock["first_s"], sock["warm_s"]),
            f"{_mb(sock['full'][0])} / {_mb(sock['full'][1])}",
            f"{_mb(sock['resume'][0])} / {_mb(sock['resume'][1])}",
            _ms(turn["first_s"], turn["warm_s"]),
            _ms(api["first_s"], api["warm_s"]), _mb(api["bytes"]),
            _ms(csv["first_s"], csv["warm_s"]), _mb(csv["bytes"]),
        ])  # fmt: skip
    browser_rows = [
        [f"{r['size']:,}", f"{b['drawn_s']:.1f}", f"{b['heap'] / 2**20:.0f}", f"{b['nodes']:,}",
         f"{b['clicks_ms']['hide']:.0f}", f"{b['clicks_ms']['select']:.0f}"]
        for r in runs if (b := r.get("browser"))
    ]  # fmt: skip
    browser = (
        [
            "The page in Chromium (SQLite, daphne on the scratch database, a 1,440 x 1,000 "
            "window): seconds from navigation (a second load) until the socket is live and "
            "the loss chart, the bracket and the trial table are drawn; the JS heap and DOM "
            "nodes then; "
            'click to the next painted frame (median of the repeats) for "hide finished" '
            "on the loss chart and for selecting a trial's row. Goals at 10,000 trials: "
            "drawn <= 3 s, clicks <= 100 ms.",
            "",
            markdown_table(BROWSER_HEADERS, browser_rows),
            "",
        ]
        if browser_rows
        else []
    )
    start_rows = []
    for kind in ("web", "supervisor", "worker"):
        probe = starts["imports"][kind]
        real = starts["process"].get(kind)
        start_rows.append([
            kind,
            f"{real['rss_mb']:.0f} (ready in {real['seconds']:.1f} s)" if real else "–",
            f"{probe['seconds']:.2f}", f"{probe['rss_mb']:.0f}",
            ", ".join(probe["heavy"]) or "none",
        ])  # fmt: skip
    return "\n".join(
        [
            "## Scale: one sweep of many trials, and a process at start",
            "",
            f"`.venv/bin/python bench/scale.py --sizes {args.sizes}` — a sweep of that many "
            "trials in successive-halving brackets of 81 (eta 3, budgets 1..81, rung results "
            f"for every rung reached), {args.steps} steps of train_loss, grad_norm and lr per "
            f"trial, rolled up; {LIVE} trials still training and one slot free. Measured in a "
            "fresh process after the build. Times are ms: the median of "
            f"{args.repeats} repeats, the first call (a cold process) in brackets. Sizes are "
            "MB: raw / gzip. Page: `GET /sweeps/<id>/` through Django. Socket: the tailer's "
            "first message to a page without a cursor (full: the rows of the trials a page "
            "is shown at first, at most 200 of a big sweep, the thinned curves of 60 of "
            "them, and the bracket as it is shown) "
            "and to a page that resumes at the newest point (what a freshly loaded page "
            "gets), compact JSON. Turn: `advance_sweep`, the service run after every segment "
            "end (decide, apply, fill the free slot: it started "
            + ", ".join(sorted({str(r["turn"]["started"]) for r in runs}))
            + " trial), rolled back after each. API: the "
            "trials endpoint's default page. CSV: the trials export. Code at "
            f"{_commit()}. Machine: "
            f"{platform.node()} ({os.cpu_count()} cores, shared with other engineers' tests "
            f"and benchmarks), Python {platform.python_version()}; load average "
            f"{LOAD_BEFORE[0]:.1f} before, {os.getloadavg()[0]:.1f} after.",
            "",
            markdown_table(HEADERS, rows),
            "",
            *browser,
            "A process at start, in MB resident. Process: the real one (web: daphne on "
            "`dashboard.asgi`, once it listens; supervisor: `manage.py up --no-web --workers "
            "0`, once idle). Imports: `django.setup()` and what that process imports before "
            "it serves, alone in a fresh interpreter (web: the ASGI application and its URL "
            "conf; supervisor: the `up` command and the system checks; worker: the Celery "
            "app, its task modules and the trainers it registers). Goal: <= 150 MB for web "
            "and supervisor. Before the heavy libraries were imported where they are used "
            "(28c92f7, 2026-12-05, same machine): 273-274 MB for each of the three, all with "
            "skopt, sklearn, scipy and pandas loaded; imports 1.9-2.2 s at load 2, and "
            "3.9-4.2 s against 1.7-1.9 s after (c3001f0) when the two ran in turn at load 5.",
            "",
            markdown_table(
                ["process", "process MB", "imports s", "imports MB", "heavy libraries loaded"],
                start_rows,
            ),
        ]
    )


LOAD_BEFORE = [0.0]


def main() -> None:
    LOAD_BEFORE[0] = os.getloadavg()[0]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="trials per sweep, comma-separated")
    parser.add_argument("--steps", type=int, default=20, help="steps per trial (3 metrics each)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build_database(args.build, args.steps)))
        return
    if args.measure:
        built = json.loads(args.measure)
        print(json.dumps(measure(built["db"], built["original"], built["sweep"], args.repeats)))
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    base["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    base["RUNGS_LOG_LEVEL"] = "WARNING"
    backends = [base]
    if os.environ.get("DATABASE_URL"):
        backends.append({**base, "DATABASE_URL": os.environ["DATABASE_URL"]})
    with tempfile.TemporaryDirectory(prefix="rungs-scale-") as var:
        starts: dict[str, Any] = {"imports": {}, "process": {}}
        env = {**base, "RUNGS_VAR_DIR": var}
        for kind in IMPORTS:
            starts["imports"][kind] = import_weight(env, kind)
        # `up` starts only on a database that is set up.
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], env=env, cwd=ROOT,
                       check=True)  # fmt: skip
        for kind in ("web", "supervisor"):
            starts["process"][kind] = started_rss(env, kind)
        print(json.dumps(starts), flush=True)
    runs = []
    for size in sizes:
        for env in backends:
            built = _child(env, "--build", str(size), "--steps", str(args.steps))
            # Only what the child needs: the build's per-trial roll-up times would pass the
            # kernel's limit on one argument (128 KiB) at 10,000 trials.
            where = {k: built[k] for k in ("db", "original", "sweep")}
            measured = _child(env, "--measure", json.dumps(where), "--repeats", str(args.repeats))
            runs.append({"size": size, "build_s": built["build_s"], **measured})
            print(json.dumps(runs[-1]), flush=True)
    text = report(runs, starts, args)
    print(text)
    if not args.no_write:
        from bench._results import write_section

        write_section("scale", text)


if __name__ == "__main__":
    main()
