"""``manage.py lr-range-test --trainer KEY [--param name=value ...] [--wait]``: run an LR
range test on a worker and print the curve's summary and the suggested range."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sweeps import services
from sweeps.management.commands.launch import Command as Launch
from sweeps.models import LRRangeTest
from sweeps.search.space import SpaceError
from sweeps.services.lr_range import DEFAULTS, RULES


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (numbers, true, "adam"), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class Command(BaseCommand):
    help = "Run an LR range test of one configuration on a worker (see the README)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trainer", required=True, help="a trainer key")
        parser.add_argument(
            "--param", action="append", default=[], metavar="NAME=VALUE",
            help="a parameter of the configuration (repeat for more)",
        )  # fmt: skip
        parser.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                            help="a trainer argument (repeat for more)")  # fmt: skip
        parser.add_argument("--low", type=float, default=DEFAULTS["low"])
        parser.add_argument("--high", type=float, default=DEFAULTS["high"])
        parser.add_argument("--steps", type=int, default=DEFAULTS["steps"])
        parser.add_argument("--user", help="owner of the test (default: the only superuser)")
        parser.add_argument("--timeout", type=float, default=600.0)

    def handle(self, *args: Any, **opts: Any) -> None:
        def pairs(items: list[str], flag: str) -> dict[str, Any]:
            bad = [item for item in items if "=" not in item]
            if bad:
                raise CommandError(f"{flag}: expected NAME=VALUE, got {bad[0]!r}")
            return {k: parse_value(v) for k, v in (item.split("=", 1) for item in items)}

        spec = {
            "trainer": opts["trainer"],
            "params": pairs(opts["param"], "--param"),
            "trainer_args": pairs(opts["arg"], "--arg"),
            "low": opts["low"], "high": opts["high"], "steps": opts["steps"],
        }  # fmt: skip
        try:
            test = services.create_range_test(spec, Launch.owner(opts["user"]))
        except SpaceError as exc:
            lines = "\n".join(f"  {field}: {rule}" for field, rule in exc.errors.items())
            raise CommandError(f"the request is not valid:\n{lines}") from exc
        self.stdout.write(f"LR range test {test.pk} queued; waiting for a worker")
        deadline = time.monotonic() + opts["timeout"]
        while test.status in (LRRangeTest.QUEUED, LRRangeTest.RUNNING):
            if time.monotonic() > deadline:
                raise CommandError(f"LR range test {test.pk} is still {test.status}")
            time.sleep(0.5)
            test.refresh_from_db()
        if test.status == LRRangeTest.FAILED:
            raise CommandError(f"LR range test {test.pk} failed: {test.error}")
        lrs, smoothed = test.curve["lr"], test.curve["smoothed"]
        self.stdout.write(f"{len(lrs)} steps, lr {lrs[0]:.3g} to {lrs[-1]:.3g}; {test.stopped}")
        finite = [(v, lr) for v, lr in zip(smoothed, lrs, strict=True) if v is not None]
        lowest, at = min(finite)
        self.stdout.write(f"lowest smoothed loss {lowest:.4g} at lr {at:.3g}")
        if test.suggested is None:
            self.stdout.write("no range suggested: the loss never fell")
        else:
            low, high = test.suggested["low"], test.suggested["high"]
            self.stdout.write(f"suggested lr range: {low:.3g} to {high:.3g}")
            self.stdout.write(
                f"  in a spec: lr: {{type: float, low: {low:.3g}, high: {high:.3g}, log: true}}"
            )
        self.stdout.write(RULES)
