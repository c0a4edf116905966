"""Per-trial overhead: Rungs against Optuna's RDB storage on the same database.

A trial that does almost nothing, so what is measured is the bookkeeping around it:

* **Rungs**: a real Celery worker (solo pool, one trial at a time) runs a FIFO sweep of the
  synthetic trainer for one epoch of one step (train loss, gradient norm, learning rate and
  the validation loss stored as points, the rung result, the audit events, the scheduler's
  turn, the broker round trip to the next trial). Per trial: the time from the first
  segment's start to the sweep's end, over the trials after the first.
* **Optuna** 5 with ``RDBStorage``: ``study.optimize`` of an objective that samples the same
  three parameters (random sampler, as Rungs here), reports one intermediate value and
  returns it. Per trial: wall time over the trials after a warm-up of 5.

Both run on the embedded database (SQLite files) and, with ``DATABASE_URL``, on PostgreSQL
(scratch databases ``rungs_bench`` and ``optuna_bench``, or ``rungs_<name>`` and
``optuna_<name>`` with ``--scratch <name>``; Rungs also uses ``REDIS_URL``, whose database
is flushed). Each is repeated and the median is reported::

    .venv/bin/pip install --no-deps -r requirements-bench.txt   # Optuna is not a dependency
    python bench/overhead.py                   # SQLite only
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/14 \\
        python bench/overhead.py               # SQLite, then PostgreSQL (+ Redis for Rungs)

Writes the ``overhead`` section of BENCHMARKS.md (``--no-write`` to only print).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPACE = {
    "lr": {"type": "float", "low": 1e-3, "high": 0.5, "log": True},
    "width": {"type": "int", "low": 8, "high": 512, "log": True},
    "momentum": {"type": "float", "low": 0.0, "high": 0.9},
}
WARMUP = 5


def _postgres(url: str, name: str) -> str:
    """A fresh scratch database ``name`` beside ``url``'s; its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{url.rpartition('/')[0]}/{name}"


# --- Rungs ---------------------------------------------------------------------------------

RUNGS_SCRIPT = """
import json, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from sweeps import services
from sweeps.models import Event, Sweep, Worker

call_command("migrate", verbosity=0)
user, _ = get_user_model().objects.get_or_create(username="bench")
n, space, worker_pid = int(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
# The worker registers once it has imported torch and connected: the clock starts after.
deadline = time.monotonic() + 300
while not Worker.objects.filter(pid=worker_pid).exists() and time.monotonic() < deadline:
    time.sleep(0.2)
time.sleep(1)
spec = {
    "name": "overhead", "trainer": "synthetic", "space": space,
    "trainer_args": {"steps_per_epoch": 1},
    "sampler": {"name": "random"}, "scheduler": {"name": "fifo", "max_resource": 1},
    "max_trials": n, "concurrency": 1, "seed": 0,
}
sweep = services.create_sweep(spec, user)
deadline = time.monotonic() + 600
while Sweep.objects.get(pk=sweep.pk).status == "running" and time.monotonic() < deadline:
    time.sleep(0.2)
sweep.refresh_from_db()
starts = list(Event.objects.filter(sweep=sweep, kind="segment_started")
              .order_by("id").values_list("created_at", flat=True))
end = Event.objects.filter(sweep=sweep).order_by("-id").values_list("created_at", flat=True)[0]
span = (end - starts[0]).total_seconds()
print(json.dumps({"status": sweep.status, "trials": len(starts), "per_trial_s": span / (len(starts) - 1)}))
"""


def rungs_per_trial(
    n: int, database_url: str | None, redis_url: str | None, scratch: str = "bench"
) -> float:
    """Seconds per trial of one Rungs sweep of ``n`` trivial trials on a fresh database."""
    from bench.dispatch_gap import solo_worker

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RUNGS_VAR_DIR": tmp, "DJANGO_SETTINGS_MODULE": "dashboard.settings"}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        if database_url:
            env["DATABASE_URL"] = _postgres(database_url, f"rungs_{scratch}")
        if redis_url:
            env["REDIS_URL"] = redis_url
            import redis

            redis.Redis.from_url(redis_url).flushdb()
        # Migrate before the worker starts, so it finds its tables.
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env,
                       check=True)  # fmt: skip
        worker = solo_worker(env)
        try:
            out = subprocess.run(
                [sys.executable, "-c", RUNGS_SCRIPT, str(n), json.dumps(SPACE), str(worker.pid)],
                cwd=ROOT, env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status"] != "completed" or result["trials"] != n:
        raise RuntimeError(f"the Rungs sweep did not complete: {result}")
    return float(result["per_trial_s"])


# --- Optuna --------------------------------------------------------------------------------


def optuna_per_trial(n: int, storage_url: str) -> float:
    """Seconds per trial of ``study.optimize`` on ``storage_url`` (after a warm-up)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(storage_url)
    study = optuna.create_study(
        storage=storage, study_name="overhead", sampler=optuna.samplers.RandomSampler(seed=0)
    )

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 0.5, log=True)
        width = trial.suggest_int("width", 8, 512, log=True)
        momentum = trial.suggest_float("momentum", 0.0, 0.9)
        value = (lr - 0.05) ** 2 + 1 / width + momentum * 0.01
        trial.report(value, step=1)
        return value

    study.optimize(objective, n_trials=WARMUP)
    started = time.perf_counter()
    study.optimize(objective, n_trials=n)
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--scratch",
        default="bench",
        help="PostgreSQL scratch databases rungs_<this>, optuna_<this>",
    )
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    backends: list[tuple[str, str | None]] = [("SQLite", None)]
    if database_url:
        backends.append(("PostgreSQL", database_url))
    rows = []
    for label, url in backends:
        rungs, optuna_ = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            rungs.append(
                rungs_per_trial(args.trials, url, redis_url if url else None, args.scratch)
            )
            with tempfile.TemporaryDirectory() as tmp:
                storage = (
                    f"sqlite:///{tmp}/optuna.db"
                    if url is None
                    else _postgres(url, f"optuna_{args.scratch}").replace(
                        "postgres://", "postgresql+psycopg://"
                    )
                )
                optuna_.append(optuna_per_trial(args.trials, storage))
        r, o = statistics.median(rungs) * 1000, statistics.median(optuna_) * 1000
        rungs_label = (
            "embedded (SQLite + filesystem broker)" if url is None else "PostgreSQL + Redis"
        )
        rows.append([label, rungs_label, round(r, 1), round(o, 1), round(r / o, 2)])
        print(f"{label:10s} Rungs {r:6.1f} ms  Optuna RDB {o:6.1f} ms  ratio {r / o:.2f}  "
              f"(Rungs runs {', '.join(f'{x * 1000:.1f}' for x in rungs)}; "
              f"Optuna {', '.join(f'{x * 1000:.1f}' for x in optuna_)})", flush=True)  # fmt: skip
    if args.no_write:
        return
    import optuna

    from bench._results import markdown_table, write_section

    write_section(
        "overhead",
        "## Per-trial overhead against Optuna's RDB storage\n\n"
        f"{args.trials} trivial trials, one at a time, median of {args.repeats} runs each "
        "(interleaved). Rungs: a real Celery worker (solo pool), FIFO, the synthetic trainer "
        "for one step, its points, rung result, events, the scheduler's turn and the broker "
        f"round trip per trial. Optuna {optuna.__version__}: `study.optimize` with "
        "`RDBStorage`, random sampler, one `trial.report` per trial. Goal: Rungs ≤ 1.0× "
        "Optuna on both databases.\n\n"
        + markdown_table(
            ["database", "Rungs runs on", "Rungs ms/trial", "Optuna ms/trial", "Rungs / Optuna"],
            rows,
        )  # fmt: skip
        + "\n\nCommand: `python bench/overhead.py` (with `DATABASE_URL` and `REDIS_URL` for "
        "PostgreSQL + Redis). Machine: 2 shared cores, no GPU; load average "
        f"{os.getloadavg()[0]:.1f} at the end of the run.",
    )


if __name__ == "__main__":
    main()
