"""``manage.py launch SPEC.(json|yaml) [--wait | --dry-run]``: create and start a sweep from a
spec file.

With ``--wait`` it follows the sweep and exits 0 only when it completed (1 when it failed or
was cancelled), so a script can tell. With ``--dry-run`` it prints the rung table the sweep
would run (brackets, rungs, trials, budgets) and its warnings, and creates nothing.

The spec has the same schema as ``POST /api/sweeps/`` (see :mod:`sweeps.validation`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from sweeps import planning, services
from sweeps.guard import MAX_DEPTH, parse_json
from sweeps.models import Sweep
from sweeps.search.plan import SweepPlan
from sweeps.search.space import SpaceError
from sweeps.states import SweepStatus, TrialStatus


def load_spec(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    if path.suffix.lower() not in (".yaml", ".yml"):
        return parse_json(text, "spec", document=True)  # SpaceError: reported with the fields
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise SpaceError({"spec": f"is nested deeper than {MAX_DEPTH} levels"}) from None
    except yaml.YAMLError as exc:
        raise CommandError(f"{path} is not valid YAML: {exc}") from exc


def plan_table(plan: SweepPlan) -> list[str]:
    """The plan as lines of text: its summary, then one row per bracket and rung."""
    unit = plan.unit
    rows = [("bracket", "rung", "trials", f"{unit}/trial")]
    for b in plan.brackets:
        for r in b.rungs:
            trials = "?" if r.trials is None else str(r.trials)
            rows.append((str(b.bracket), str(r.rung), trials, f"{r.budget:g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [plan.text, ""]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    if plan.brackets_total > len(plan.brackets):
        lines.append(f"... and {plan.brackets_total - len(plan.brackets)} more brackets")
    exact = "" if plan.exact else f"{plan.bound} "
    lines += [
        "",
        f"total: {exact}{plan.total_budget:,g} {unit} ({plan.total_budget_without_resume:,g} "
        f"without resuming from checkpoints); {exact}{plan.full_budget_trials} of "
        f"{plan.trials} trials reach {plan.max_resource:g} {unit}",
    ]
    return lines


def progress_line(sweep: Sweep, width: int = 30) -> str:
    trials = list(sweep.trials.values_list("status", "best_value"))
    done = sum(status in TrialStatus.FINISHED for status, _ in trials)
    total = max(sweep.max_trials, len(trials), 1)
    filled = int(width * done / total)
    values = [v for _, v in trials if v is not None]
    best = (min(values) if sweep.objective_mode == "min" else max(values)) if values else None
    best_text = f"best {sweep.objective_metric} {best:.4g}" if best is not None else "no result yet"
    running = sum(status == TrialStatus.RUNNING for status, _ in trials)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} trials, {running} running, {best_text}"


class Command(BaseCommand):
    help = "Create and start a sweep from a JSON or YAML spec file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("spec", type=Path)
        parser.add_argument("--user", help="owner of the sweep (default: the only superuser)")
        parser.add_argument(
            "--wait", action="store_true", help="follow progress until the sweep ends"
        )
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="for the printed link"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print the rung table the sweep would run and its warnings; create nothing",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["dry_run"]:
            self.dry_run(opts)
            return
        user = self.owner(opts["user"])
        try:
            sweep = services.create_sweep(load_spec(opts["spec"]), user)
        except SpaceError as exc:
            lines = "\n".join(f"  {field}: {rule}" for field, rule in exc.errors.items())
            raise CommandError(f"the spec is not valid:\n{lines}") from exc
        for warning in getattr(sweep, "warnings", []):
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(f"sweep {sweep.pk} created: {sweep.name}")
        self.stdout.write(f"dashboard: {opts['base_url'].rstrip('/')}{self.sweep_path(sweep)}")
        if opts["wait"]:
            self.wait(sweep)

    def dry_run(self, opts: dict[str, Any]) -> None:
        # The owner only matters for which saved spaces the spec may name; with no user to
        # pick (None), the server's own spec file may name any.
        user = self.owner(opts["user"]) if opts["user"] else self.only_superuser()
        try:
            result = planning.dry_run(load_spec(opts["spec"]), user)
        except SpaceError as exc:
            lines = "\n".join(f"  {field}: {rule}" for field, rule in exc.errors.items())
            raise CommandError(f"the spec is not valid:\n{lines}") from exc
        for line in plan_table(result.plan):
            self.stdout.write(line)
        for warning in result.warnings:
            self.stdout.write(f"warning: {warning}")
        self.stdout.write("dry run: nothing was created")

    @staticmethod
    def only_superuser() -> Any:
        supers = list(get_user_model().objects.filter(is_superuser=True)[:2])
        return supers[0] if len(supers) == 1 else None

    @staticmethod
    def sweep_path(sweep: Sweep) -> str:
        try:
            return reverse("sweep-detail", args=[sweep.pk])
        except Exception:  # the live pages are optional for the CLI
            return f"/sweeps/{sweep.pk}/"

    @staticmethod
    def owner(username: str | None) -> Any:
        users = get_user_model().objects
        if username:
            user = users.filter(username=username).first()
            if user is None:
                raise CommandError(f"--user: no user named {username!r}")
            return user
        supers = list(users.filter(is_superuser=True)[:2])
        if len(supers) != 1:
            raise CommandError("--user is required (there is not exactly one superuser)")
        return supers[0]

    def wait(self, sweep: Sweep) -> None:
        tty = sys.stdout.isatty()
        last = ""
        while True:
            sweep.refresh_from_db()
            line = progress_line(sweep)
            if line != last:
                self.stdout.write(("\r" + line) if tty else line, ending="" if tty else "\n")
                self.stdout.flush()
                last = line
            if sweep.status not in (SweepStatus.RUNNING, SweepStatus.DRAFT, SweepStatus.PAUSED):
                break
            time.sleep(0.5)
        if tty:
            self.stdout.write("")
        self.stdout.write(f"sweep {sweep.pk} {sweep.status}")
        if sweep.error:
            self.stdout.write(f"  {sweep.error}")
        order = "best_value" if sweep.objective_mode == "min" else "-best_value"
        best = sweep.trials.exclude(best_value=None).order_by(order).first()
        if best is None:
            self.stdout.write("no trial reported a result")
        else:
            self.stdout.write(
                f"best trial {best.number}: {sweep.objective_metric} = {best.best_value:.6g}"
            )
            self.stdout.write(f"  params: {json.dumps(best.params, sort_keys=True)}")
        if sweep.status != SweepStatus.COMPLETED:  # scripts can tell a sweep that failed
            raise CommandError(f"sweep {sweep.pk} ended {sweep.status}", returncode=1)
