"""What a trainer is: a named class with an argument schema, a default space and a run method.

Trainers run on workers. The web process imports them only to read their declarations
(``args_schema``, ``default_space``, ``resource_unit``) when it validates a sweep.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

EPOCHS = "epochs"
STEPS = "steps"


@dataclass(frozen=True)
class Arg:
    """One trainer argument: its type, default and the range or choices it must respect."""

    type: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    help: str = ""

    def clean(self, value: Any) -> Any:
        """Return ``value`` converted to this argument's type, or raise ValueError with the rule."""
        if self.type is bool:
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, got {value!r}")
            return value
        if self.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"must be finite, got {value!r}")
            if self.type is int and float(value) != int(value):
                raise ValueError(f"must be a whole number, got {value!r}")
            value = self.type(value)
            if self.low is not None and value < self.low:
                raise ValueError(f"must be >= {self.low:g}, got {value!r}")
            if self.high is not None and value > self.high:
                raise ValueError(f"must be <= {self.high:g}, got {value!r}")
            return value
        if not isinstance(value, self.type):
            raise ValueError(f"must be a {self.type.__name__}, got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"must be one of {list(self.choices)}, got {value!r}")
        return value


class Trainer(ABC):
    """Base class of every trainer.

    Subclasses declare ``key``, ``args_schema`` (name -> :class:`Arg`), ``default_space``
    (a space spec, see :mod:`sweeps.search.space`) and ``resource_unit`` (epochs or steps),
    and implement :meth:`run`, which trains one segment of a trial (see
    :mod:`trainers.runner`).
    """

    key: ClassVar[str]
    description: ClassVar[str] = ""
    resource_unit: ClassVar[str] = EPOCHS
    args_schema: ClassVar[dict[str, Arg]] = {}
    default_space: ClassVar[dict[str, dict[str, Any]]] = {}
    # The metric names the trainer reports, so a sweep's objective can be checked up front.
    metrics: ClassVar[tuple[str, ...]] = ()
    # False for trainers that gain nothing from a GPU: the runner keeps them on the CPU.
    uses_gpu: ClassVar[bool] = True
    # True for trainers that train at ``session.lr_at`` when it is set (an LR range test).
    exposes_lr: ClassVar[bool] = False

    @classmethod
    def clean_args(cls, args: Any) -> dict[str, Any]:
        """Validate ``args`` against the schema and fill defaults; errors name the field."""
        from sweeps.search.space import SpaceError

        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise SpaceError({"trainer_args": "must be an object"})
        errors: dict[str, str] = {}
        unknown = sorted(set(args) - set(cls.args_schema))
        for name in unknown:
            errors[f"trainer_args.{name}"] = (
                f"is not an argument of trainer {cls.key!r}; known: {sorted(cls.args_schema)}"
            )
        cleaned: dict[str, Any] = {}
        for name, arg in cls.args_schema.items():
            try:
                cleaned[name] = arg.clean(args[name]) if name in args else arg.default
            except ValueError as exc:
                errors[f"trainer_args.{name}"] = str(exc)
        if errors:
            raise SpaceError(errors)
        return cleaned

    # Trainers that keep a test split the sweep never sees offer a final evaluation.
    has_test_split: ClassVar[bool] = False

    @classmethod
    def evaluate_test(
        cls, args: dict[str, Any], params: dict[str, Any], checkpoint: str, device: Any
    ) -> dict[str, float]:
        """Metrics of ``checkpoint`` on the test split (``test_loss``, ...); see
        ``has_test_split``."""
        raise NotImplementedError(f"trainer {cls.key!r} has no test split")

    @classmethod
    def check_runnable(cls) -> None:
        """Raise if this process cannot run the trainer (a worker then does not offer it)."""
        return None

    @abstractmethod
    def run(self, session: Any) -> None:
        """Train one segment: from ``session.step`` to ``session.budget`` resource units.

        See :class:`trainers.session.Session` for the contract (restore, report every step,
        checkpoint every epoch, set ``session.outcome``).
        """
