"""First render of a big sweep page: 1,000 trials x 1,000 steps x 3 metrics (3 M points).

Builds the sweep in a scratch test database (SQLite, and PostgreSQL when reachable):
1,000 trials in successive-halving brackets of 81 (eta 3, budgets 1..81) with their rung
results, and for every trial ``train_loss``, ``grad_norm`` and ``lr`` at 1,000 steps, rolled
up as segment ends roll them up (``sweeps.ingest.roll_up``). The sweep's last ``--live``
trials are still training: their rollups stop half way and the rest of their points is a
tail past them. Then, in fresh processes one after the other (what a restarted server is),
times ``GET /sweeps/<id>/`` in-process (Django's test client, gzip accepted): the server
time of the whole response (queries, thinning, figures, template, gzip) and the bytes sent.
The first request of a process is reported apart from the next ones. Writes the
"page_load" section of BENCHMARKS.md.

    .venv/bin/python bench/page_load.py [--trials 1000] [--steps 1000] [--live 8]
        [--repeats 5] [--restarts 3] [--no-postgres] [--no-write]

PostgreSQL: ``DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/test"
METRICS = ("train_loss", "grad_norm", "lr")
GOAL_SECONDS, GOAL_BYTES = 1.0, 2_000_000


def build(trials: int, steps: int, live: int) -> tuple[int, list[float]]:
    """Create the sweep (scratch database); returns its id and the seconds each roll-up
    (a segment end's) took."""
    from django.contrib.auth import get_user_model

    from sweeps.ingest import roll_up, write_points
    from sweeps.models import RungResult, Sweep, Trial

    user = get_user_model().objects.create_user("bench", password="bench-password")
    space = {
        "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
        "width": {"type": "int", "low": 8, "high": 512, "log": True},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9},
    }
    sweep = Sweep.objects.create(
        name="page load", owner=user, trainer="synthetic", space=space, status="running",
        scheduler={"name": "sha", "min_resource": 1, "max_resource": 81, "eta": 3},
        sampler={"name": "random"}, max_trials=trials, concurrency=8,
    )  # fmt: skip
    rng = random.Random(0)
    budgets = [1.0, 3.0, 9.0, 27.0, 81.0]
    rows, results = [], []
    for n in range(1, trials + 1):
        params = {
            "lr": 10 ** rng.uniform(-4, 0),
            "width": int(2 ** rng.uniform(3, 9)),
            "momentum": rng.uniform(0, 0.9),
        }
        rows.append(Trial(sweep=sweep, number=n, params=params, bracket=(n - 1) // 81, step=steps))
    Trial.objects.bulk_create(rows)
    trials_by_bracket: dict[int, list[Trial]] = {}
    for t in Trial.objects.filter(sweep=sweep).order_by("number"):
        trials_by_bracket.setdefault(t.bracket, []).append(t)
    updates = []
    for members in trials_by_bracket.values():
        alive = members
        for rung, budget in enumerate(budgets):
            scored = sorted(((rng.random() / (rung + 1), t) for t in alive), key=lambda p: p[0])
            results += [
                RungResult(sweep=sweep, trial=t, rung=rung, budget=budget, value=v)
                for v, t in scored
            ]
            keep = max(1, len(alive) // 3) if rung < len(budgets) - 1 else 0
            for v, t in scored[keep:]:
                t.rung, t.budget, t.best_value = rung, budget, v
                t.status = "completed" if rung == len(budgets) - 1 else "stopped"
                updates.append(t)
            alive = [t for _, t in scored[:keep]]
            if not alive:
                break
    # The last trials to reach the top rung are still training it (the sweep's concurrency).
    top = [t for t in updates if t.status == "completed"][-live:] if live else []
    results = [r for r in results if not (r.trial in top and r.rung == len(budgets) - 1)]
    for t in top:
        t.status, t.best_value = "running", None
    RungResult.objects.bulk_create(results, batch_size=2000)
    Trial.objects.bulk_update(updates, ["rung", "budget", "best_value", "status"], batch_size=500)
    Trial.objects.filter(pk__in=[t.pk for t in top]).update(worker="bench:1", step=steps // 2)
    now = time.time()
    rolled: list[float] = []
    training = {t.pk for t in top}
    for t in Trial.objects.filter(sweep=sweep):
        points = []
        scale = rng.uniform(0.5, 2.0)
        for s in range(1, steps + 1):
            loss = scale * math.exp(-s / 300) + 0.05 * rng.random()
            points += [("train_loss", s, loss, now), ("grad_norm", s, 2 * loss + rng.random(), now),
                       ("lr", s, t.params["lr"] * (1 - s / (steps + 1)), now)]  # fmt: skip
        # A trial still training ended its last segment half way; the rest is its tail.
        done = points[: len(points) // 2] if t.pk in training else points
        write_points(sweep.pk, t.pk, done)
        started = time.perf_counter()
        roll_up(t)  # what finish_segment does when the segment ends
        rolled.append(time.perf_counter() - started)
        write_points(sweep.pk, t.pk, points[len(done) :])
    # Fresh statistics, as autovacuum (PostgreSQL) would have gathered them by now; without
    # them PostgreSQL plans for a few dozen rows and sorts 3 M on disk. SQLite gathers none
    # by itself (and Rungs never runs ANALYZE), so it plans without them here too.
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return sweep.pk, rolled


def breakdown(sweep_id: int) -> dict[str, float]:
    """Seconds spent in each part of the first render's snapshot."""
    from dashboard import analytics, plots, tailer
    from sweeps import queries
    from sweeps.models import Sweep

    sweep = Sweep.objects.select_related("owner").get(pk=sweep_id)
    out: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        value = fn(*args, **kwargs)
        out[name] = time.perf_counter() - started
        return value

    trials = timed("trial rows", queries.trial_rows, sweep)
    results = timed("rung results", queries.rung_results, sweep)
    plan = queries.planned_rungs(sweep, sorted({t["bracket"] for t in trials}))
    timed("bracket", queries.bracket_payload, sweep, trials, results, plan)
    data = timed(
        "curves (rollups + tails)", queries.metric_series, sweep_id,
        names=queries.SWEEP_CHART_METRICS,
    )  # fmt: skip
    timed("curve figures", plots.chart_figures, data["series"], {t["id"]: t for t in trials})
    summary = queries.summarize(sweep, trials)
    timed("analysis panels (forest fitted)", analytics.panels, summary, trials, results)
    timed("analysis panels (importance cached)", analytics.panels, summary, trials, results)
    timed("whole snapshot", tailer.page_snapshot, sweep)
    return out


def build_database(trials: int, steps: int, live: int) -> dict[str, Any]:
    """In a child: a scratch test database with the sweep; it outlives this process."""
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    if connection.vendor == "postgresql":
        connection.settings_dict["TEST"]["NAME"] = f"test_bench_page_{os.getpid()}"
    original = connection.settings_dict["NAME"]
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        started = time.perf_counter()
        sweep_id, rolled = build(trials, steps, live)
        return {"db": str(name), "original": str(original), "sweep": sweep_id,
                "build_s": time.perf_counter() - started, "rollup_s": rolled}  # fmt: skip
    except BaseException:
        connection.creation.destroy_test_db(str(original), verbosity=0)
        raise


def storage_mb() -> dict[str, float]:
    """Megabytes on disk of the metric points (with their indexes) and of the rollups."""
    from django.db import connection

    tables = {"points": "sweeps_metricpoint", "rollups": "sweeps_seriesrollup"}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = "SELECT pg_total_relation_size(%s)"
        else:  # dbstat: every page of the table and of its indexes
            sql = (
                "SELECT SUM(pgsize) FROM dbstat "
                "WHERE name IN (SELECT name FROM sqlite_master WHERE tbl_name = %s)"
            )
        out = {}
        for key, table in tables.items():
            cursor.execute(sql, [table])
            out[key] = (cursor.fetchone()[0] or 0) / 1e6
    return out


def render(db: str, original: str, sweep_id: int, repeats: int, last: bool) -> dict[str, Any]:
    """In a fresh child, as a restarted server: set Django up, then time the page. The
    ``last`` one also times the parts and drops the scratch database."""
    started = time.perf_counter()
    import django

    django.setup()
    setup_s = time.perf_counter() - started
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    connection.settings_dict["NAME"] = db
    try:
        from sweeps.models import MetricPoint, SeriesRollup

        client = Client()
        client.force_login(get_user_model().objects.get(username="bench"))
        times, sizes = [], []
        for _ in range(repeats + 1):
            started = time.perf_counter()
            response = client.get(f"/sweeps/{sweep_id}/", HTTP_ACCEPT_ENCODING="gzip")
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
            assert response["Content-Encoding"] == "gzip"
            sizes.append((len(response.content), len(gzip.decompress(response.content))))
        # Process warm (imports, templates), Django's cache cleared: the importance panel's
        # forest is fitted again (the curves come from the database's rollups either way).
        from django.core.cache import cache

        cache.clear()
        started = time.perf_counter()
        client.get(f"/sweeps/{sweep_id}/", HTTP_ACCEPT_ENCODING="gzip")
        cache_cold = time.perf_counter() - started
        if not last:
            return {"setup_s": setup_s, "first_s": times[0], "cache_cold_s": cache_cold,
                    "warm_s": times[1:]}  # fmt: skip
        cache.clear()
        parts = breakdown(sweep_id)
        version = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                version = cursor.fetchone()[0].split()[0]
        return {
            "vendor": connection.vendor,
            "version": str(version) if version else __import__("sqlite3").sqlite_version,
            "points": MetricPoint.objects.count(),
            "rollup_rows": SeriesRollup.objects.count(),
            "setup_s": setup_s,
            "first_s": times[0],
            "cache_cold_s": cache_cold,
            "warm_s": times[1:],
            "gzip_bytes": sizes[-1][0],
            "raw_bytes": sizes[-1][1],
            "parts": parts,
            "storage_mb": storage_mb(),
        }
    finally:
        if last:
            connection.creation.destroy_test_db(original, verbosity=0)


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, *args]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_child(env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Build in one child, then render in ``--restarts`` fresh ones, one after the other
    (the last drops the scratch database); a restart's numbers are its median."""
    built = _child(env, "--build", "--trials", str(args.trials), "--steps", str(args.steps),
                   "--live", str(args.live))  # fmt: skip
    runs = []
    for i in range(args.restarts):
        last = "1" if i == args.restarts - 1 else "0"
        runs.append(_child(env, "--render", json.dumps(built), "--repeats", str(args.repeats),
                           "--last", last))  # fmt: skip
    out = {**built, **runs[-1]}
    for key in ("setup_s", "first_s", "cache_cold_s"):
        out[key] = statistics.median(r[key] for r in runs)
        out[key + "_all"] = [r[key] for r in runs]
    out["warm_s"] = [t for r in runs for t in r["warm_s"]]
    return out


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    from bench._results import markdown_table

    rows = []
    for r in results:
        warm = statistics.median(r["warm_s"])
        ok = (
            max(r["first_s"], r["cache_cold_s"], warm) <= GOAL_SECONDS
            and r["gzip_bytes"] <= GOAL_BYTES
        )
        name = "SQLite " + r["version"] if r["vendor"] == "sqlite" else "PostgreSQL " + r["version"]
        first = "–".join(f"{t * 1000:.0f}" for t in (min(r["first_s_all"]), max(r["first_s_all"])))
        rows.append([name, f"{r['points']:,}", f"{r['rollup_rows']:,}",
                     f"{statistics.median(r['rollup_s']) * 1000:.1f}",
                     f"{r['setup_s']:.1f}", f"{r['first_s'] * 1000:.0f} ({first})",
                     f"{r['cache_cold_s'] * 1000:.0f}", f"{warm * 1000:.0f}",
                     f"{r['gzip_bytes'] / 1e6:.2f}", f"{r['raw_bytes'] / 1e6:.2f}",
                     "yes" if ok else "**no**"])  # fmt: skip
    parts = []
    for r in results:
        name = "SQLite" if r["vendor"] == "sqlite" else "PostgreSQL"
        parts.append(
            name + ": " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in r["parts"].items())
        )
    storage = []
    for r in results:
        name = "SQLite" if r["vendor"] == "sqlite" else "PostgreSQL"
        mb = r["storage_mb"]
        storage.append(f"{name} {mb['rollups']:.0f} MB next to {mb['points']:.0f} MB")
    live, steps = args.live, args.steps
    return "\n".join(
        [
            "## Sweep page, first render (1,000 trials x 1,000 steps x 3 metrics)",
            "",
            f"`.venv/bin/python bench/page_load.py` — {args.trials:,} trials in successive-halving "
            f"brackets of 81 (eta 3, budgets 1..81, rung results for every rung reached), each with "
            f"train_loss, grad_norm and lr at {steps:,} steps, rolled up as their segment ends "
            f"roll them up; {live} of them (the sweep's concurrency) are still training their top "
            f"rung: their rollups stop at step {steps // 2} and the rest of their points is a "
            "tail the page aggregates from the points table. `GET /sweeps/<id>/` through the "
            "whole Django stack (test client, gzip accepted), server time = request in to "
            f"response out, in {args.restarts} fresh processes one after the other (restarted "
            "servers). Process start: their `django.setup()`, paid before a server accepts a "
            "connection (median). Cold process: their first request, which also imports the "
            "URL conf (DRF and drf-spectacular for the API), compiles the templates and opens "
            "the database connection (median, and the range). Cold cache: then Django's cache "
            "cleared (the importance panel is not cached: the first render leaves it to the "
            "socket, which computes it as the page connects; curves come from the database "
            f"either way). Warm: the median of their {args.restarts} x {args.repeats} next "
            f"requests. Roll-up: what one segment end adds, folding a trial's {3 * steps:,} "
            "points into its rollups (median over trials). Goal: <= "
            f"{GOAL_SECONDS:g} s and <= 2 MB sent. Machine: {platform.node()} ({os.cpu_count()} "
            "cores, shared: other engineers' tests and benchmarks ran on them at the same "
            f"time), Python {platform.python_version()}. Load average: {LOAD_BEFORE[0]:.1f} "
            f"before it started, {os.getloadavg()[0]:.1f} at the end; every number here is "
            "inflated by it, and varies from run to run.",
            "",
            markdown_table(
                [
                    "database",
                    "points",
                    "rollup rows",
                    "roll-up ms per segment end",
                    "process start s",
                    "cold process ms (range)",
                    "cold cache ms",
                    "warm ms (median)",
                    "MB sent (gzip)",
                    "MB uncompressed",
                    "meets goal (cold process, cold cache, warm, bytes)",
                ],
                rows,
            ),
            "",
            "Where the time goes (the last process, Django's cache cleared, part by part): "
            + "; ".join(parts)
            + ".",
            "",
            "The page carries every trial's curves thinned to a point budget (min and max per "
            "power-of-two step bucket of each series, so spikes survive), the bracket, the "
            "trial table and the analysis panels; the live socket then resumes from the "
            "page's cursor and appends raw points. Each series is stored drawn at six budgets "
            "(`SeriesRollup`: 8 to 256 buckets, the finest with its buckets; folded forward "
            "at every segment end, folded again when the reaper drops points they held), so a "
            "render reads one small row per series and aggregates on the database only the "
            "points past them: the tails of trials still training. Bucketing is exact, so the "
            "curves are the ones thinning every point gives (tests compare them). Storage on "
            "disk, rollups next to the points with their indexes: " + "; ".join(storage) + " "
            "(a series' rollups stay about 500 buckets however long it trains, so their share "
            "falls as trials get longer). Before rollups (all trials finished, curves only in "
            "Django's cache, the forest fitted on every render, 2026-11-24, load 7.0): cold "
            "process 3458 / 1901 ms, cold cache 3189 / 1461 ms, warm 335 / 418 ms (SQLite / "
            "PostgreSQL), nearly all of the cold time a GROUP BY over the 3 M points.",
        ]
    )


LOAD_BEFORE = [0.0]


def main() -> None:
    LOAD_BEFORE[0] = os.getloadavg()[0]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    parser.add_argument("--live", type=int, default=8, help="trials still training")
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--restarts", type=int, default=3, help="fresh processes that render")
    parser.add_argument("--render", help=argparse.SUPPRESS)
    parser.add_argument("--last", default="1", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build_database(args.trials, args.steps, args.live)))
        return
    if args.render:
        built = json.loads(args.render)
        last = args.last == "1"
        print(
            json.dumps(render(built["db"], built["original"], built["sweep"], args.repeats, last))
        )
        return
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    base.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    base["RUNGS_LOG_LEVEL"] = "WARNING"
    results = [run_child(base, args)]
    if not args.no_postgres:
        results.append(
            run_child({**base, "DATABASE_URL": os.environ.get("DATABASE_URL", DEFAULT_PG)}, args)
        )
    text = report(results, args)
    print(text)
    if not args.no_write:
        from bench._results import write_section

        write_section("page_load", text)


if __name__ == "__main__":
    main()
