"""First render of a big sweep page: 1,000 trials x 1,000 steps x 3 metrics (3 M points).

Builds the sweep in a scratch test database (SQLite, and PostgreSQL when reachable):
1,000 trials in successive-halving brackets of 81 (eta 3, budgets 1..81) with their rung
results, and for every trial ``train_loss``, ``grad_norm`` and ``lr`` at 1,000 steps. Then
times ``GET /sweeps/<id>/`` in-process (Django's test client, gzip accepted): the server
time of the whole response (queries, thinning, figures, template, gzip) and the bytes sent.
The first request of the process is reported apart from the next ones. Writes the
"page_load" section of BENCHMARKS.md.

    .venv/bin/python bench/page_load.py [--trials 1000] [--steps 1000] [--repeats 5] [--no-postgres]

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


def build(trials: int, steps: int) -> int:
    """Create the sweep (scratch database); returns its id."""
    from django.contrib.auth import get_user_model

    from sweeps.ingest import write_points
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
    RungResult.objects.bulk_create(results, batch_size=2000)
    Trial.objects.bulk_update(updates, ["rung", "budget", "best_value", "status"], batch_size=500)
    now = time.time()
    for t in Trial.objects.filter(sweep=sweep):
        points = []
        scale = rng.uniform(0.5, 2.0)
        for s in range(1, steps + 1):
            loss = scale * math.exp(-s / 300) + 0.05 * rng.random()
            points += [("train_loss", s, loss, now), ("grad_norm", s, 2 * loss + rng.random(), now),
                       ("lr", s, t.params["lr"] * (1 - s / (steps + 1)), now)]  # fmt: skip
        write_points(sweep.pk, t.pk, points)
    # Fresh statistics, as autovacuum (PostgreSQL) would have gathered them by now; without
    # them PostgreSQL plans for a few dozen rows and sorts 3 M on disk.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return sweep.pk


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
        "thinned series (SQL)", queries.metric_series, sweep_id, names=queries.SWEEP_CHART_METRICS
    )
    timed("curve figures", plots.chart_figures, data["series"], {t["id"]: t for t in trials})
    summary = queries.summarize(sweep, trials)
    timed("analysis panels", analytics.panels, summary, trials, results)
    timed("whole snapshot again (curves now cached)", tailer.page_snapshot, sweep)
    return out


def measure(trials: int, steps: int, repeats: int) -> dict[str, Any]:
    """In a child: build the sweep in a scratch database and time the page."""
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    if connection.vendor == "postgresql":
        connection.settings_dict["TEST"]["NAME"] = f"test_bench_page_{os.getpid()}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        started = time.perf_counter()
        sweep_id = build(trials, steps)
        built = time.perf_counter() - started
        from sweeps.models import MetricPoint

        n_points = MetricPoint.objects.count()
        client = Client()
        assert client.login(username="bench", password="bench-password")
        times, sizes = [], []
        for _ in range(repeats + 1):
            started = time.perf_counter()
            response = client.get(f"/sweeps/{sweep_id}/", HTTP_ACCEPT_ENCODING="gzip")
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
            assert response["Content-Encoding"] == "gzip"
            sizes.append((len(response.content), len(gzip.decompress(response.content))))
        # Process warm (imports, templates), cache cold: the aggregation of every trial again.
        from django.core.cache import cache

        cache.clear()
        started = time.perf_counter()
        client.get(f"/sweeps/{sweep_id}/", HTTP_ACCEPT_ENCODING="gzip")
        cache_cold = time.perf_counter() - started
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
            "points": n_points,
            "build_s": built,
            "first_s": times[0],
            "cache_cold_s": cache_cold,
            "warm_s": times[1:],
            "gzip_bytes": sizes[-1][0],
            "raw_bytes": sizes[-1][1],
            "parts": parts,
        }
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


def run_child(env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--trials", str(args.trials), "--steps",
           str(args.steps), "--repeats", str(args.repeats)]  # fmt: skip
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    from bench._results import markdown_table

    rows = []
    for r in results:
        warm = statistics.median(r["warm_s"])
        ok = (
            r["cache_cold_s"] <= GOAL_SECONDS
            and warm <= GOAL_SECONDS
            and r["gzip_bytes"] <= GOAL_BYTES
        )
        name = "SQLite " + r["version"] if r["vendor"] == "sqlite" else "PostgreSQL " + r["version"]
        rows.append([name, f"{r['points']:,}", f"{r['first_s'] * 1000:.0f}",
                     f"{r['cache_cold_s'] * 1000:.0f}", f"{warm * 1000:.0f}",
                     f"{r['gzip_bytes'] / 1e6:.2f}", f"{r['raw_bytes'] / 1e6:.2f}",
                     "yes" if ok else "**no**"])  # fmt: skip
    parts = []
    for r in results:
        name = "SQLite" if r["vendor"] == "sqlite" else "PostgreSQL"
        parts.append(
            name + ": " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in r["parts"].items())
        )
    return "\n".join(
        [
            "## Sweep page, first render (1,000 trials x 1,000 steps x 3 metrics)",
            "",
            f"`.venv/bin/python bench/page_load.py` — {args.trials:,} trials in successive-halving "
            f"brackets of 81 (eta 3, budgets 1..81, rung results for every rung reached), each with "
            f"train_loss, grad_norm and lr at {args.steps:,} steps; `GET /sweeps/<id>/` through "
            "the whole Django stack (test client, gzip accepted), server time = request in to "
            "response out. Cold process: the first request after start (it also pays the "
            "imports, e.g. scikit-learn for the importance panel); cold cache: a warm process "
            "after clearing the cache of thinned curves, i.e. every trial aggregated again; "
            f"warm: the median of {args.repeats} requests. "
            f"Goal: <= {GOAL_SECONDS:g} s and <= 2 MB sent. Machine: {platform.node()} "
            f"({os.cpu_count()} cores, shared), Python {platform.python_version()}. "
            + f"Load average before it started: {LOAD_BEFORE[0]:.1f} (other work on the same cores "
            "inflates every number).",
            "",
            markdown_table(
                [
                    "database",
                    "points",
                    "cold process ms",
                    "cold cache ms",
                    "warm ms (median)",
                    "MB sent (gzip)",
                    "MB uncompressed",
                    "meets goal (cold cache, warm, bytes)",
                ],
                rows,
            ),
            "",
            "Where the time goes (one more render with a cold cache, timed part by part): "
            + "; ".join(parts)
            + ".",
            "",
            "The page carries every trial's curves thinned on the database (GROUP BY on one "
            "integer key: min and max per step bucket of each series, so spikes survive), the "
            "bracket, the trial table and the analysis panels; the live socket then resumes "
            "from the page's cursor and appends raw points. The "
            "thinned curves of finished trials are kept in Django's cache (they never "
            "change), so later renders aggregate only the trials still training — all of them "
            "finished here, the best case; a sweep with running trials re-reads those.",
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
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.trials, args.steps, args.repeats)))
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
