"""Validation of sweep specs: the one place used by the admin, the REST API and spec files.

:func:`clean_spec` takes the JSON a user sent (a spec file, an API body) and returns the
cleaned values a :class:`~sweeps.models.Sweep` is created from, or raises
:class:`~sweeps.search.space.SpaceError` whose ``errors`` map each bad field
(``scheduler.eta``, ``space.lr.low``, ``trainer_args.batch_size``) to the rule it breaks.
Nothing is written here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sweeps.guard import MAX_INT, check_json
from sweeps.search.samplers import validate_sampler_config
from sweeps.search.schedulers import validate_scheduler_config
from sweeps.search.space import Space, SpaceError, parse_space, shown_value

SPEC_FIELDS = {
    "name", "trainer", "trainer_args", "objective", "space", "search_space", "sampler",
    "scheduler", "max_trials", "concurrency", "seed", "start",
}  # fmt: skip
DEFAULT_SAMPLER = {"name": "random"}
DEFAULT_SCHEDULER = {"name": "hyperband", "min_resource": 1, "max_resource": 27, "eta": 3}
MAX_TRIALS_CAP = 100_000
CONCURRENCY_CAP = 1024
SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit
# The spec fields that may be null: no inline space (then the saved one, or the trainer's
# default), no saved space. Null anywhere else is refused rather than read as "not given",
# so that a spec means what the API schema says it does.
NULLABLE_FIELDS = {"space", "search_space"}
OBJECTIVE_FIELDS = {"metric", "mode"}


def is_whole_number(value: Any) -> bool:
    """Whether ``value`` is an int, or a float with no fraction (JSON may send ``3.0``)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True  # any length: math.isfinite would overflow on a 400-digit int
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def _int_field(
    data: dict[str, Any],
    key: str,
    path: str,
    default: int,
    low: int,
    high: int,
    errors: dict[str, str],
) -> int:
    value = data.get(key, default)
    if not is_whole_number(value):
        errors[path] = f"must be a whole number, got {value!r}"
        return default
    if not low <= value <= high:
        errors[path] = f"must be between {low} and {high}, got {shown_value(value)}"
        return default
    return int(value)


def _number_field(
    data: dict[str, Any], key: str, path: str, errors: dict[str, str]
) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        errors[path] = f"must be a finite number, got {value!r}"
        return None
    if value <= 0:
        errors[path] = f"must be > 0, got {value!r}"
        return None
    return float(value)


def _object(
    data: dict[str, Any], key: str, errors: dict[str, str], default: dict[str, Any] | None = None
) -> dict[str, Any]:
    if key not in data:
        return dict(default or {})
    value = data[key]
    if not isinstance(value, dict):
        errors[key] = "must be an object (omit it for the default)"
        return {}
    return value


class TrainerClass(Protocol):
    """What validation needs of a trainer class (:class:`trainers.base.Trainer` has it)."""

    key: ClassVar[str]
    description: ClassVar[str]
    resource_unit: ClassVar[str]
    args_schema: ClassVar[dict[str, Any]]
    default_space: ClassVar[dict[str, dict[str, Any]]]
    metrics: ClassVar[tuple[str, ...]]

    @classmethod
    def clean_args(cls, args: Any) -> dict[str, Any]: ...


# Set when Django starts, by the trainers app (trainers.apps): trainers sit above sweeps, so
# sweeps is handed the registry's lookup instead of importing it.
_trainer_lookup: Callable[[str], type[TrainerClass]] | None = None
_trainer_keys: Callable[[], list[str]] | None = None


def set_trainer_lookup(
    lookup: Callable[[str], type[TrainerClass]], keys: Callable[[], list[str]] | None = None
) -> None:
    """Install the lookup of trainer classes by key (raises SpaceError for an unknown key)
    and the list of registered keys (read anew on each call: the trainers file may change)."""
    global _trainer_lookup, _trainer_keys
    _trainer_lookup = lookup
    _trainer_keys = keys


def registered_trainers() -> list[tuple[str, type[TrainerClass] | None, str]]:
    """``(key, class, "")`` for every registered trainer, by key; ``(key, None, why)`` for
    one this process cannot load (a broken entry must not hide the others)."""
    if _trainer_keys is None or _trainer_lookup is None:
        raise ImproperlyConfigured("the trainers app must be in INSTALLED_APPS to list trainers")
    out: list[tuple[str, type[TrainerClass] | None, str]] = []
    for key in sorted(_trainer_keys()):
        try:
            out.append((key, _trainer_lookup(key), ""))
        except Exception as exc:  # import errors, a bad command entry, ...
            out.append((key, None, f"{type(exc).__name__}: {exc}"[:500]))
    return out


def get_trainer_class(key: Any) -> type[TrainerClass]:
    """The trainer class registered as ``key``; SpaceError naming ``trainer`` if unknown."""
    if _trainer_lookup is None:
        raise ImproperlyConfigured("the trainers app must be in INSTALLED_APPS to validate specs")
    return _trainer_lookup(key)


def _collect(errors: dict[str, str], check: Any, *args: Any) -> Any:
    """Run a validator that raises SpaceError; gather its errors instead of stopping."""
    try:
        return check(*args)
    except SpaceError as exc:
        errors.update(exc.errors)
        return None


def clean_spec(data: Any, *, user: Any = None) -> dict[str, Any]:
    """Validate a sweep spec; return the fields of a new Sweep (plus ``start``).

    With ``user``, a saved ``search_space`` must be one they may see
    (:func:`sweeps.access.visible_spaces`); without, any (spec files read by the server).
    """
    from sweeps.access import visible_spaces
    from sweeps.models import SearchSpace

    if not isinstance(data, dict):
        raise SpaceError({"spec": "must be an object"})
    # Numbers no column holds, NUL characters, deep nesting: refused before any rule reads
    # them (each of those crashed a rule below or the database once).
    check_json(data, "spec", document=True)
    errors: dict[str, str] = {}
    for key in sorted(set(data) - SPEC_FIELDS):
        errors[key] = f"is not a spec field; allowed: {sorted(SPEC_FIELDS)}"

    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors["name"] = "must be a non-empty string of at most 200 characters"

    trainer_cls = None
    try:
        trainer_cls = get_trainer_class(data.get("trainer"))
        trainer_args = trainer_cls.clean_args(data.get("trainer_args"))
    except SpaceError as exc:
        errors.update(exc.errors)
        trainer_args = {}

    objective = _object(data, "objective", errors)
    for key in sorted(set(objective) - OBJECTIVE_FIELDS):
        errors[f"objective.{key}"] = (
            f"is not an objective field; allowed: {sorted(OBJECTIVE_FIELDS)}"
        )
    metric = objective.get("metric", "val_loss")
    mode = objective.get("mode", "min")
    if not isinstance(metric, str) or not metric or len(metric) > 32:
        errors["objective.metric"] = "must be a metric name of at most 32 characters"
    elif trainer_cls is not None and trainer_cls.metrics and metric not in trainer_cls.metrics:
        errors["objective.metric"] = (
            f"trainer {trainer_cls.key!r} does not report {metric!r}; it reports {list(trainer_cls.metrics)}"
        )
    if mode not in ("min", "max"):
        errors["objective.mode"] = f"must be 'min' or 'max', got {mode!r}"

    sampler_raw = _object(data, "sampler", errors, DEFAULT_SAMPLER)
    scheduler = _collect(
        errors, validate_scheduler_config, _object(data, "scheduler", errors, DEFAULT_SCHEDULER)
    )

    # A saved space alone: the sweep searches (a copy of) it. With an inline space too (a
    # cloned or zoomed-in sweep), the inline one is searched and the saved one recorded as
    # where it came from.
    search_space = None
    space_spec = data.get("space")
    if data.get("search_space") is not None:
        sid = data["search_space"]
        spaces = SearchSpace.objects.all() if user is None else visible_spaces(user)
        search_space = (
            spaces.filter(pk=sid).first()
            if isinstance(sid, int) and not isinstance(sid, bool) and 0 < sid <= MAX_INT
            else None
        )
        if search_space is None:
            errors["search_space"] = f"no saved search space with id {shown_value(sid)}"
            if user is not None:
                errors["search_space"] += " that you can see"
        elif space_spec is None:
            space_spec = search_space.to_spec()
    elif space_spec is None and trainer_cls is not None:
        space_spec = trainer_cls.default_space
    space: Space | None = None
    if space_spec is not None and "space" not in errors and "search_space" not in errors:
        space = _collect(errors, parse_space, space_spec)
    sampler = None
    if space is not None:
        sampler = _collect(
            errors, validate_sampler_config, sampler_raw, space, settings.RUNGS_GRID_CAP
        )

    max_trials = _int_field(data, "max_trials", "max_trials", 20, 1, MAX_TRIALS_CAP, errors)
    concurrency = _int_field(data, "concurrency", "concurrency", 2, 1, CONCURRENCY_CAP, errors)
    seed = _int_field(data, "seed", "seed", 0, 0, SEED_MAX, errors)
    start = data.get("start", True)
    if not isinstance(start, bool):
        errors["start"] = f"must be true or false, got {start!r}"

    for key in sorted(SPEC_FIELDS - NULLABLE_FIELDS):
        if key in data and data[key] is None:
            errors.setdefault(key, "must not be null (omit it for the default)")
    if errors:
        raise SpaceError(errors)
    assert trainer_cls is not None
    return {
        "name": name.strip(),  # type: ignore[union-attr]
        "trainer": data["trainer"],
        "trainer_args": trainer_args,
        "objective_metric": metric,
        "objective_mode": mode,
        "search_space": search_space,
        "space": space.to_spec(),  # type: ignore[union-attr]
        "sampler": sampler,
        "scheduler": scheduler,
        "resource_unit": trainer_cls.resource_unit,
        "max_trials": max_trials,
        "concurrency": concurrency,
        "seed": seed,
        "start": start,
    }
