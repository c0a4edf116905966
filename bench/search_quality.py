"""Search quality: regret against total budget spent, on multi-fidelity synthetic objectives.

Rungs' samplers under its schedulers (Bayesian GP and random under Hyperband and ASHA,
random under FIFO) against peers: Optuna's TPE sampler with its Hyperband pruner, DEHB and
Syne Tune's Hyper-Tune (``bench/search_peers.py`` says how each is driven). The objectives
(``bench/objectives.py``) are simulated training runs with a budget ``b`` of 1..R=81 units:
Branin and Hartmann-6 with a fading misleading term; ``lr_trap``, a learning-rate sweep whose
low budgets favour high learning rates that end worse; ``hartmann6_bad``, mf-prior-bench's
"bad" multi-fidelity Hartmann-6 (low budgets flatten and invert it, with large noise); and
``mixed``, with categorical and integer parameters. Regret is ``f(incumbent) - f*`` on the
noiseless full-budget value, the incumbent being the best result at the highest rung reached
so far. Budget is counted in resource units actually trained, all workers together (a
promoted trial resumes from its checkpoint); every result that arrives with spent <= budget
counts.

Run (Optuna, DEHB and Syne Tune are not Rungs dependencies; the default run needs about 1800
CPU seconds, i.e. 15-20 minutes on 2 idle cores: Bayes + Hyperband takes 9-66 CPU s a run,
Branin the most, the others under 8)::

    .venv/bin/pip install --no-deps -r requirements-bench.txt   # keeps numpy etc. as pinned
    nice .venv/bin/python -m bench.search_quality --jobs 2
    # quick look:  --seeds 3 --budget 20 --no-write
    # reproducibility: the same command twice, with --save-traces /tmp/a.json and then
    # /tmp/b.json (e.g. --seeds 2 --budget 5 --no-write), then: cmp /tmp/a.json /tmp/b.json

Writes the ``search_quality`` section of BENCHMARKS.md and bench/results/search_quality.png.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench._results import markdown_table, write_section
from bench.objectives import PROBLEMS, Problem, R
from bench.search_peers import (
    ETA,
    WORKERS,
    Incumbent,
    Trace,
    run_dehb,
    run_optuna,
    run_syne_tune,
    versions,
)
from sweeps.search import build_sampler, build_scheduler, parse_space
from sweeps.search.simulate import Simulator

RESULTS = Path(__file__).resolve().parent / "results"
BAYES_HB = "bayes:hyperband"
TPE_HB = "optuna:tpe+hyperband"
RANDOM_HB = "random:hyperband"
DEHB = "dehb"
SYNE = "syne-tune:hypertune"
DEFAULT_METHODS = [BAYES_HB, RANDOM_HB, "random:asha", "random:fifo", TPE_HB, DEHB]
# Bayes + ASHA is not in the default set either: at 60 full trainings one run took 49 CPU s on
# lr_trap and over 225 on mixed and hartmann6 (ASHA's many rung-1 results make a large GP),
# against 9-66 for Bayes + Hyperband; with it the default run would not fit in 40 minutes on 2
# cores. Add it with --methods.
ASHA_NOTE = (
    "Bayes + ASHA is not in the default set: at 60 full trainings a run took 49 CPU s on "
    "lr_trap and over 225 on mixed and hartmann6 (Bayes + Hyperband: 9 to 66), too long for the "
    "default run; add `bayes:asha` with `--methods`."
)
# Syne Tune's Hyper-Tune runs with --methods ...,syne-tune:hypertune only: its GP (refitted
# with its hyperparameters at every suggestion) took 540 s a run at a budget of 10 full
# trainings where Bayes + Hyperband took 5 s, so 10 seeds x 5 objectives x 60 budgets would
# take hours.
SLOW_NOTE = (
    "Syne Tune Hyper-Tune is not in the default set: at 10 full trainings a run took about 100x "
    "a Bayes + Hyperband run (540 s against 5 s wall, same shared 2-core machine; its GP grows "
    "with every rung result), hours for the default 10 seeds x 60 budgets; run it with "
    "`--methods ...,syne-tune:hypertune` on fewer seeds or a smaller budget."
)
PEERS = {TPE_HB: "optuna", DEHB: "dehb", SYNE: "syne_tune"}  # method -> module it needs
# Checkpoints, in full trainings, for a budget of 60 (scaled with --budget).
MARKS_60 = (1, 2, 3, 5, 10, 20, 30, 45, 60)


# --- one run --------------------------------------------------------------------------------


def run_rungs(problem: Problem, sampler: str, scheduler: str, seed: int, budget: float) -> Trace:
    space = parse_space(problem.space)
    sampler_cfg: dict[str, Any] = {"name": sampler}
    if sampler == "bayes":
        sampler_cfg.update({"base_estimator": "GP", "acq_func": "EI", "n_initial_points": 10})
    sched = build_scheduler(
        {"name": scheduler, "min_resource": 1, "max_resource": R, "eta": ETA},
        space,
        build_sampler(sampler_cfg, space, seed),
    )
    inc = Incumbent(problem)
    sim = Simulator(sched, lambda x, b, t: problem.value(x, b, t, seed), workers=WORKERS)
    # advance() moves time to the next result; results that arrive at the instant the budget
    # runs out come one by one (later ones with no time passing) and all count.
    while True:
        sim.decide()
        t = sim.advance()
        if t is None or sim.spent > budget:
            break
        inc.report(sim.spent, t.rung, t.results[t.rung], t.params)
    return inc.trace


def run_method(problem: Problem, method: str, seed: int, budget: float) -> Trace:
    if method == TPE_HB:
        return run_optuna(problem, seed, budget)
    if method == DEHB:
        return run_dehb(problem, seed, budget)
    if method == SYNE:
        return run_syne_tune(problem, seed, budget)
    sampler, scheduler = method.split(":", 1)
    return run_rungs(problem, sampler, scheduler, seed, budget)


def run_task(task: tuple[str, str, int, float]) -> tuple[tuple[str, str, int, float], Trace, float]:
    """One run; also its CPU seconds (all its threads), steadier than wall time on a shared machine."""
    problem, method, seed, budget = task
    started = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = run_method(PROBLEMS[problem], method, seed, budget)
    return task, trace, time.process_time() - started


# --- analysis -------------------------------------------------------------------------------


def regret_at(trace: Sequence[tuple[float, float]], spent: float) -> float:
    """Regret after ``spent`` units (inf before the first result)."""
    value = math.inf
    for s, r in trace:
        if s > spent:
            break
        value = r
    return value


def spearman_low_vs_full(problem: Problem, budget: float = 1, n: int = 2000) -> float:
    """Rank correlation between observed values at ``budget`` and the true value."""
    from scipy.stats import spearmanr

    from sweeps.search.samplers.base import History

    sampler = build_sampler({"name": "random"}, parse_space(problem.space), 0)
    xs = [p.params for p in sampler.propose(History(), n)]
    low = [problem.value(x, budget, i, 0) for i, x in enumerate(xs)]
    full = [problem.f(x) for x in xs]
    return float(spearmanr(low, full).statistic)


def summarise(runs: list[Trace], marks: Sequence[float]) -> np.ndarray:
    """(3, len(marks)): median, q1, q3 of regret over seeds at each checkpoint (units)."""
    at = np.array([[regret_at(t, m) for m in marks] for t in runs])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array(
            [np.median(at, axis=0), np.percentile(at, 25, axis=0), np.percentile(at, 75, axis=0)]
        )


def _g(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{v:.3g}"


def verdict_lines(
    p: str, stats: Mapping[str, np.ndarray], marks_full: Sequence[float]
) -> tuple[list[str], bool | None]:
    """Computed verdicts for Bayes + Hyperband on one objective; second: final <= 0.8 x TPE."""
    if BAYES_HB not in stats:
        return [], None
    me = stats[BAYES_HB][0]
    lines: list[str] = []
    good = None

    def at(i: int) -> str:
        return f"{marks_full[i]:.3g}"

    if TPE_HB in stats:
        tpe = stats[TPE_HB][0]
        worse = [i for i in range(len(marks_full)) if not me[i] <= tpe[i]]
        ratio = me[-1] / tpe[-1] if tpe[-1] > 0 else math.inf
        good = bool(me[-1] <= 0.8 * tpe[-1])
        lines.append(
            f"- **{p}**: Bayes+HB ≤ TPE+HB at every checkpoint: "
            + (
                "yes"
                if not worse
                else "no, worse at "
                + ", ".join(f"{at(i)} ({_g(me[i])} vs {_g(tpe[i])})" for i in worse)
            )
            + f"; final ratio Bayes+HB / TPE+HB = {ratio:.2f} ({_g(me[-1])} vs {_g(tpe[-1])})."
        )
    if RANDOM_HB in stats:
        rnd = stats[RANDOM_HB][0]
        worse = [i for i in range(len(marks_full)) if marks_full[i] >= 2 * marks_full[-1] / 60]
        worse = [i for i in worse if not me[i] <= rnd[i]]
        lines.append(
            "  Bayes+HB ≤ random+HB at every checkpoint from 2 full trainings on: "
            + (
                "yes"
                if not worse
                else "no, worse at "
                + ", ".join(f"{at(i)} ({_g(me[i])} vs {_g(rnd[i])})" for i in worse)
            )
            + "."
        )
    for peer, name in ((DEHB, "DEHB"), (SYNE, "Syne Tune Hyper-Tune")):
        if peer in stats:
            other = stats[peer][0]
            better = [i for i in range(len(marks_full)) if other[i] < me[i]]
            lines.append(
                f"  {name} beats Bayes+HB at: "
                + (
                    ", ".join(f"{at(i)} ({_g(other[i])} vs {_g(me[i])})" for i in better)
                    if better
                    else "no checkpoint"
                )
                + "."
            )
    return lines, good


def available(methods: list[str]) -> tuple[list[str], list[str]]:
    """The methods whose peer library imports, and a note for each one dropped."""
    import importlib

    kept, notes = [], []
    for m in methods:
        module = PEERS.get(m)
        if module is not None:
            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001 - any failure to import drops the peer
                notes.append(f"{m} dropped: {module} does not import ({exc.__class__.__name__}).")
                continue
        kept.append(m)
    return kept, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="first seed (seeds offset .. offset+seeds-1); tune on other seeds than the report's 0-9",
    )
    parser.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help="comma-separated; Rungs' are sampler:scheduler (e.g. sobol:asha), peers "
        + ", ".join(PEERS),
    )
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated")
    parser.add_argument("--save-traces", type=Path, help="write every run's trace here (JSON)")
    parser.add_argument(
        "--budget", type=float, default=60, help="total budget, in full trainings (x R units)"
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone"
    )
    args = parser.parse_args(argv)
    budget = args.budget * R

    methods, notes = available([m.strip() for m in args.methods.split(",") if m.strip()])
    if SYNE not in methods:
        notes.append(SLOW_NOTE)
    if "bayes:asha" not in methods:
        notes.append(ASHA_NOTE)
    for note in notes:
        print(note, file=sys.stderr)
    problems = [p for p in args.problems.split(",") if p in PROBLEMS]
    seeds = range(args.seed_offset, args.seed_offset + args.seeds)
    tasks = [(p, m, seed, budget) for p in problems for m in methods for seed in seeds]
    # Slow runs first, so the pool's last minutes are not one long straggler.
    slow = {SYNE: 0, BAYES_HB: 1, "bayes:asha": 1, DEHB: 2}
    order = sorted(range(len(tasks)), key=lambda i: (slow.get(tasks[i][1], 3), i))
    traces: dict[tuple[str, str], list[Trace]] = {}
    seconds: dict[str, list[float]] = {}
    raw: list[dict[str, Any]] = []
    started = time.perf_counter()
    # Syne Tune keeps state between runs in one process (a second identical run in the same
    # process proposes slightly different configs; fresh processes agree), so its runs get a
    # fresh process each. Rungs, Optuna and DEHB repeat exactly within a process.
    fresh = [tasks[i] for i in order if tasks[i][1] == SYNE]
    results = []
    if fresh:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=ctx, max_tasks_per_child=1) as pool:
            results += list(pool.map(run_task, fresh))
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results += list(pool.map(run_task, [tasks[i] for i in order if tasks[i][1] != SYNE]))
    wall = time.perf_counter() - started
    results.sort(key=lambda r: tasks.index(r[0]))
    for (p, m, seed, _b), trace, secs in results:
        traces.setdefault((p, m), []).append(trace)
        seconds.setdefault(m, []).append(secs)
        raw.append({"problem": p, "method": m, "seed": seed, "trace": trace})
    if args.save_traces:
        args.save_traces.write_text(json.dumps(raw))

    marks_full = [m * args.budget / 60 for m in MARKS_60]
    marks = [m * R for m in marks_full]
    corr = {
        p: (spearman_low_vs_full(PROBLEMS[p], 1), spearman_low_vs_full(PROBLEMS[p], 3))
        for p in problems
    }
    sections: list[str] = []
    goods: list[bool] = []
    for p in problems:
        stats = {m: summarise(traces[(p, m)], marks) for m in methods}
        rows = [
            [m, *(f"{_g(s[0][i])} [{_g(s[1][i])}, {_g(s[2][i])}]" for i in range(len(marks)))]
            for m, s in stats.items()
        ]
        table = markdown_table(["method", *(f"@{m:.3g}" for m in marks_full)], rows)
        lines, good = verdict_lines(p, stats, marks_full)
        if good is not None:
            goods.append(good)
        c1, c3 = corr[p]
        sections.append(
            "\n".join([
                f"### {p}",
                "",
                f"{PROBLEMS[p].note}. f* = {PROBLEMS[p].f_star:.6g}. Spearman rank correlation of "
                f"the observed value at budget 1 (3) with the true value: {c1:.2f} ({c3:.2f}).",
                "",
                table,
                "",
                *lines,
            ])
        )  # fmt: skip
    per_run = ", ".join(f"{m} {np.mean(s):.1f}" for m, s in seconds.items())
    cpu: dict[tuple[str, str], list[float]] = {}
    for (p, m, _seed, _b), _trace, secs in results:
        cpu.setdefault((p, m), []).append(secs)
    summary = (
        f"Objectives where Bayes+HB's final median regret ≤ 0.8 × TPE+HB's: "
        f"{sum(goods)} of {len(goods)}."
        if goods
        else ""
    )
    print("\n\n".join(sections))
    print(summary)
    print(f"CPU seconds per run: {per_run}")
    for p in problems:
        print(f"  {p}: " + ", ".join(f"{m} {np.mean(cpu[(p, m)]):.1f}" for m in methods))
    print(f"seeds {seeds.start}..{seeds.stop - 1}, {wall / 60:.1f} min wall")
    for note in notes:
        print(note)

    if args.no_write:
        return 0
    plot = RESULTS / "search_quality.png"
    _plot(plot, traces, methods, problems, budget)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    v = versions()
    import scipy
    import skopt

    body = "\n".join([
        "## Search quality: regret against budget",
        "",
        f"`nice .venv/bin/python -m bench.search_quality --jobs {args.jobs}"
        + (f" --seeds {args.seeds}" if args.seeds != 10 else "")
        + (f" --seed-offset {args.seed_offset}" if args.seed_offset else "")
        + (f" --budget {args.budget:g}" if args.budget != 60 else "")
        + (f" --methods {','.join(methods)}" if methods != DEFAULT_METHODS else "")
        + (f" --problems {','.join(problems)}" if problems != list(PROBLEMS) else "")
        + "` after `.venv/bin/pip install --no-deps -r requirements-bench.txt` (the peers are not Rungs "
        "dependencies). "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-optimize {skopt.__version__}, Optuna {v['optuna']}, DEHB {v['dehb']}, "
        f"Syne Tune {v['syne-tune']} (ConfigSpace {v['ConfigSpace']}). "
        f"Seeds {seeds.start}–{seeds.stop - 1}, {args.budget:g} full trainings (R={R} units each) "
        f"per run, rungs 1/3/9/27/81 (eta={ETA}). Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores (shared; load average {load:.1f} at the end); "
        f"{wall / 60:.1f} min wall. CPU seconds per run (mean): {per_run}.",
        "",
        f"Rungs, DEHB and Syne Tune run on {WORKERS} simulated asynchronous workers in "
        "resource-unit time; Optuna runs one trial at a time (`study.optimize`, its defaults: "
        "TPESampler, HyperbandPruner with the same min/max resource and eta; the study is named "
        "`{objective}-{seed}`, since the pruner's brackets hash the study name). DEHB: ask/tell, "
        "same min/max fidelity and eta. Syne Tune: Hyper-Tune (GP, 5 brackets, stopping type), "
        "its `suggest`/`on_trial_result` driven by the same simulated workers with simulated "
        "time. A peer's job that continues a config at a higher budget pays only the difference. "
        "Bayesian = GP + EI, 10 initial points, otherwise the sampler's defaults. Re-running "
        "gives identical traces (`--save-traces`, compared byte for byte).",
        "",
        "Regret = f(incumbent) − f*, incumbent = best observed result at the highest rung reached; "
        "every result with spent budget ≤ the checkpoint counts. Cells: median [q1, q3] over "
        "seeds after that many full trainings of budget.",
        "",
        *notes,
        "",
        "\n\n".join(sections),
        "",
        summary,
        "",
        "![median regret against budget](bench/results/search_quality.png)",
    ])  # fmt: skip
    write_section("search_quality", body)
    print(f"plot: {plot}")
    return 0


def _plot(
    path: Path,
    traces: Mapping[tuple[str, str], list[Trace]],
    methods: list[str],
    problems: list[str],
    budget: float,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    grid = np.linspace(budget / 100, budget, 100)
    colours = {
        "random": "tab:gray",
        "sobol": "tab:olive",
        "bayes": "tab:blue",
        "optuna": "tab:red",
        "dehb": "tab:green",
        "syne-tune": "tab:purple",
    }
    styles = {"fifo": ":", "hyperband": "-", "asha": "--"}
    cols = min(len(problems), 3)
    rows = math.ceil(len(problems) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 5 * rows), squeeze=False)
    for ax, p in zip(axes.flat, problems, strict=False):
        for m in methods:
            stats = summarise(traces[(p, m)], grid)
            family, _, sched = m.partition(":")
            xs = grid / R
            ax.plot(
                xs,
                np.maximum(stats[0], 1e-6),
                styles.get(sched, "-"),
                color=colours.get(family, "black"),
                label=m,
                lw=2 if m in (BAYES_HB, TPE_HB) else 1,
            )
            if m in (BAYES_HB, TPE_HB):
                ax.fill_between(
                    xs,
                    np.maximum(stats[1], 1e-6),
                    np.maximum(stats[2], 1e-6),
                    color=colours.get(family, "black"),
                    alpha=0.12,
                )
        ax.set_yscale("log")
        ax.set_title(f"{p}: median regret (IQR for Bayes+HB, TPE+HB)", fontsize=9)
        ax.set_xlabel(f"budget spent (full trainings of R={R})")
        ax.set_ylabel("regret f(incumbent) - f*")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(problems) :]:
        ax.axis("off")
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
