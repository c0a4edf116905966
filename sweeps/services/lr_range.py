"""LR range tests: created by a user, run by a worker, finished or failed once.

A test is a row (:class:`~sweeps.models.LRRangeTest`) sent to the workers' queue by name
after commit; the worker claims it (``queued`` -> ``running``), runs it and reports the
curve (``done``) or the reason (``failed``). The trainer must expose its learning rate.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sweeps import sending
from sweeps.guard import check_json
from sweeps.models import LRRangeTest
from sweeps.search.space import SpaceError
from sweeps.validation import get_trainer_class

log = logging.getLogger(__name__)

FIELDS = {"trainer", "trainer_args", "params", "low", "high", "steps"}
# Smith's and fastai's practice: 1e-7 to 10 over 100 steps, an EMA of weight 0.98, stop
# at 4x the minimum (the test itself runs in trainers/lr_range.py).
DEFAULTS = {"low": 1e-7, "high": 10.0, "steps": 100}
MIN_STEPS, MAX_STEPS = 10, 10_000
SMOOTHING = 0.98
DIVERGE = 4.0
RULES = (
    f"The learning rate rises exponentially; the loss is smoothed by an EMA (weight "
    f"{SMOOTHING}); the test stops once the smoothed loss exceeds {DIVERGE:g}x its minimum. "
    "Suggested range: from the steepest fall of the smoothed loss (against log lr) to its "
    "minimum, where the loss turns up."
)


def clean_range_test(data: Any) -> dict[str, Any]:
    """Validate a range test request; errors name the field."""
    if not isinstance(data, dict):
        raise SpaceError({"body": "must be an object"})
    check_json(data, "body", document=True)
    errors: dict[str, str] = {
        k: f"is not a field; allowed: {sorted(FIELDS)}" for k in set(data) - FIELDS
    }
    cleaned: dict[str, Any] = {**DEFAULTS}
    try:
        trainer = get_trainer_class(data.get("trainer"))
        cleaned["trainer"] = trainer.key
        args = data.get("trainer_args", {})
        if not isinstance(args, dict):
            raise SpaceError({"trainer_args": "must be an object"})
        cleaned["trainer_args"] = trainer.clean_args(args)
        if not getattr(trainer, "exposes_lr", False):
            errors["trainer"] = f"trainer {trainer.key!r} does not expose its learning rate"
    except SpaceError as exc:
        errors.update(exc.errors)
    params = data.get("params", {})
    if not isinstance(params, dict):
        errors["params"] = "must be an object of parameter values"
    cleaned["params"] = params
    for name in ("low", "high"):
        value = data.get(name, DEFAULTS[name])
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (math.isfinite(value) and value > 0)
        ):
            errors[name] = f"must be a number > 0, got {value!r}"
        cleaned[name] = value
    if "low" not in errors and "high" not in errors and not cleaned["low"] < cleaned["high"]:
        errors["high"] = f"must be above low ({cleaned['low']:g})"
    steps = data.get("steps", DEFAULTS["steps"])
    if isinstance(steps, bool) or not isinstance(steps, int) or not MIN_STEPS <= steps <= MAX_STEPS:
        errors["steps"] = f"must be a whole number from {MIN_STEPS} to {MAX_STEPS}, got {steps!r}"
    cleaned["steps"] = steps
    if errors:
        raise SpaceError(errors)
    return cleaned


def create_range_test(data: Any, user: Any) -> LRRangeTest:
    """Create a test and send it to the workers once committed."""
    cleaned = clean_range_test(data)
    with transaction.atomic():
        test = LRRangeTest.objects.create(owner=user, **cleaned)
        transaction.on_commit(lambda: _send(test.pk))
    return test


def _send(test_id: int) -> None:
    try:
        sending.send_task(sending.LR_RANGE_TEST, test_id, queue=settings.RUNGS_SEGMENT_QUEUE)
    except Exception as exc:  # the broker is down: say so instead of queueing forever
        log.warning("could not send LR range test %s: %s", test_id, exc)
        fail_range_test(test_id, f"could not reach the workers' queue: {exc}")


@transaction.atomic
def claim_range_test(test_id: int, worker: str) -> LRRangeTest | None:
    """The queued test, now running on ``worker``; None if it was taken or is gone."""
    test = LRRangeTest.objects.select_for_update().filter(pk=test_id).first()
    if test is None or test.status != LRRangeTest.QUEUED:
        return None
    test.status, test.worker = LRRangeTest.RUNNING, worker
    test.save(update_fields=["status", "worker"])
    return test


def finish_range_test(test_id: int, result: dict[str, Any]) -> None:
    curve = {  # JSON has no NaN or inf
        k: [float(v) if math.isfinite(v) else None for v in result[k]]
        for k in ("lr", "loss", "smoothed")
    }
    LRRangeTest.objects.filter(pk=test_id, status=LRRangeTest.RUNNING).update(
        status=LRRangeTest.DONE, curve=curve, suggested=result["suggested"],
        stopped=result["stopped"], finished_at=timezone.now(),
    )  # fmt: skip


def fail_range_test(test_id: int, reason: str) -> None:
    LRRangeTest.objects.filter(
        pk=test_id, status__in=(LRRangeTest.QUEUED, LRRangeTest.RUNNING)
    ).update(status=LRRangeTest.FAILED, error=reason[-4000:], finished_at=timezone.now())
