"""The sweep domain: search spaces, sweeps, trials, rung results, metric points, their
rollups, events.

The database is the source of truth. Status changes are checked against the state machines
in :mod:`sweeps.states` on every save; the service functions in :mod:`sweeps.services` are
the only code that changes them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from sweeps.search.space import CATEGORICAL, FLOAT, INT
from sweeps.states import SweepStatus, TrialStatus, check_transition


class StatusModel(models.Model):
    """A model whose ``status`` may only move along its state machine's edges."""

    STATE_MACHINE = ""
    status: Any

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        loaded = getattr(self, "_loaded_status", None)
        if loaded is not None:
            check_transition(self.STATE_MACHINE, loaded, self.status)
        super().save(*args, **kwargs)
        self._loaded_status = self.status

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any) -> Any:
        instance = super().from_db(db, field_names, values)
        instance._loaded_status = instance.__dict__.get("status")
        return instance


class SearchSpace(models.Model):
    """A reusable search space, edited in the admin; sweeps copy its spec when created."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def to_spec(self) -> dict[str, dict[str, Any]]:
        return {p.name: p.to_spec() for p in self.parameters.all()}


class Parameter(models.Model):
    """One dimension of a saved search space (see :mod:`sweeps.search.space` for the rules)."""

    KIND_CHOICES = [(FLOAT, "float"), (INT, "int"), (CATEGORICAL, "categorical")]

    space = models.ForeignKey(SearchSpace, related_name="parameters", on_delete=models.CASCADE)
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES, default=FLOAT)
    low = models.FloatField(null=True, blank=True)
    high = models.FloatField(null=True, blank=True)
    log = models.BooleanField(default=False, help_text="Sample on a log scale (low must be > 0).")
    step = models.FloatField(null=True, blank=True, help_text="Quantisation step (not with log).")
    choices = models.JSONField(
        default=list,
        blank=True,
        help_text='Categorical values as a JSON list, e.g. ["adam", "sgd"].',
    )
    condition_parent = models.CharField(
        max_length=64, blank=True, help_text="Active only when this parameter ..."
    )
    condition_values = models.JSONField(
        default=list, blank=True, help_text="... takes one of these values (JSON list)."
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["space", "name"], name="unique_parameter_name")
        ]

    def __str__(self) -> str:
        return self.name

    def _number(self, value: float | None) -> float | int | None:
        # Float columns hold int bounds too; give the validator the int it expects.
        if self.kind == INT and value is not None and float(value).is_integer():
            return int(value)
        return value

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": self.kind}
        if self.kind == CATEGORICAL:
            spec["choices"] = self.choices
        else:
            spec.update(low=self._number(self.low), high=self._number(self.high))
            if self.log:
                spec["log"] = True
            if self.step is not None:
                spec["step"] = self._number(self.step)
        if self.condition_parent:
            spec["condition"] = {"parent": self.condition_parent, "values": self.condition_values}
        return spec


class Sweep(StatusModel):
    """A search: what to train, over which space, with which sampler and scheduler."""

    STATE_MACHINE = "sweep"
    MODE_CHOICES = [("min", "minimize"), ("max", "maximize")]

    name = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="sweeps", on_delete=models.CASCADE
    )
    viewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="shared_sweeps", blank=True
    )
    status = models.CharField(
        max_length=16, choices=SweepStatus.CHOICES, default=SweepStatus.DRAFT, db_index=True
    )
    trainer = models.CharField(max_length=100)
    trainer_args = models.JSONField(default=dict, blank=True)
    search_space = models.ForeignKey(
        SearchSpace, null=True, blank=True, on_delete=models.SET_NULL, related_name="sweeps"
    )
    space = models.JSONField(help_text="The validated space spec this sweep searches.")
    objective_metric = models.CharField(max_length=64, default="val_loss")
    objective_mode = models.CharField(max_length=3, choices=MODE_CHOICES, default="min")
    sampler = models.JSONField(default=dict)
    scheduler = models.JSONField(default=dict)
    resource_unit = models.CharField(max_length=16, default="epochs")
    max_trials = models.PositiveIntegerField(default=20)
    concurrency = models.PositiveIntegerField(default=2)
    seed = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"


class Trial(StatusModel):
    """One configuration of a sweep, trained rung by rung."""

    STATE_MACHINE = "trial"

    sweep = models.ForeignKey(Sweep, related_name="trials", on_delete=models.CASCADE)
    number = models.PositiveIntegerField(help_text="1, 2, ... within the sweep")
    params = models.JSONField()
    status = models.CharField(
        max_length=16, choices=TrialStatus.CHOICES, default=TrialStatus.PENDING, db_index=True
    )
    manual = models.BooleanField(default=False, help_text="Enqueued by a user with chosen params.")
    bracket = models.PositiveIntegerField(default=0)
    rung = models.PositiveIntegerField(default=0)
    budget = models.FloatField(default=0, help_text="Resource the current rung trains to.")
    manual_rungs = models.JSONField(default=list, blank=True, help_text="Rungs entered by hand.")
    step = models.PositiveBigIntegerField(default=0, help_text="Optimizer steps done so far.")
    resource_done = models.FloatField(default=0, help_text="Resource (epochs/steps) done so far.")
    best_value = models.FloatField(null=True, blank=True)
    attempt = models.PositiveIntegerField(
        default=0, help_text="Segments dispatched so far; a delivery for an older one is stale."
    )
    retries = models.PositiveIntegerField(
        default=0, help_text="Times the current segment was re-queued (lost worker, crash)."
    )
    worker = models.CharField(max_length=200, blank=True, help_text="Empty while queued.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    checkpoint = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sweep_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["sweep", "number"], name="unique_trial_number")
        ]
        indexes = [models.Index(fields=["sweep", "status"], name="trial_sweep_status")]

    def __str__(self) -> str:
        return f"trial {self.number} of sweep {self.sweep_id}"


class RungResult(models.Model):
    """The objective a trial reached at the end of a rung; halving decisions read only these."""

    sweep = models.ForeignKey(Sweep, related_name="rung_results", on_delete=models.CASCADE)
    trial = models.ForeignKey(Trial, related_name="rung_results", on_delete=models.CASCADE)
    rung = models.PositiveIntegerField()
    budget = models.FloatField()
    value = models.FloatField(null=True, help_text="Objective; null when it was NaN or inf.")
    manual = models.BooleanField(default=False, help_text="The trial entered this rung by hand.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["trial_id", "rung"]
        constraints = [models.UniqueConstraint(fields=["trial", "rung"], name="unique_rung_result")]

    def __str__(self) -> str:
        return f"trial {self.trial_id} rung {self.rung}: {self.value}"


class MetricPoint(models.Model):
    """One logged value. Append-only; the integer id is the live dashboard's cursor."""

    id = models.BigAutoField(primary_key=True)
    # No database-level foreign keys: checking two of them per row halved COPY throughput
    # (bench/ingest.py). Django still cascades deletes of sweeps and trials.
    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, db_index=False, db_constraint=False)
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, db_index=False, db_constraint=False)
    name = models.CharField(max_length=32)
    step = models.PositiveBigIntegerField()
    value = models.FloatField(null=True)
    time = models.FloatField(help_text="Unix time when logged.")

    class Meta:
        indexes = [
            models.Index(fields=["sweep", "id"], name="metric_sweep_cursor"),
            models.Index(fields=["trial", "name", "step"], name="metric_trial_series"),
        ]

    def __str__(self) -> str:
        return f"{self.name}[{self.step}] = {self.value}"


class SeriesRollup(models.Model):
    """One trial's curve of one metric, thinned for the sweep page at one resolution.

    The curve's steps are cut into equal ``width``-step buckets (a power of two, so that
    at most ``level`` buckets reach its last step), and each bucket keeps its minimum and
    maximum, so a spike survives thinning. ``points`` is the curve as a page draws it at
    this resolution: the sweep page reads the level its point budget asks for, one small
    row per series, instead of aggregating every point. The finest level also keeps its
    ``buckets``, which later segments fold into and which draw a trial still training
    together with its newer points. Rows cover the trial's points with id <= ``cursor``
    and are folded forward when a segment ends, the one place its points are final (see
    :mod:`sweeps.ingest`).
    """

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, db_index=False)
    trial = models.ForeignKey(
        Trial, related_name="rollups", on_delete=models.CASCADE, db_index=False
    )  # the unique constraint indexes it
    name = models.CharField(max_length=32)
    level = models.PositiveSmallIntegerField(help_text="At most this many buckets.")
    width = models.PositiveBigIntegerField(help_text="Steps per bucket (a power of two).")
    cursor = models.BigIntegerField(help_text="The newest metric point id folded in.")
    points = models.JSONField(
        default=list, help_text="[steps, values]: the curve drawn from this level's buckets."
    )
    buckets = models.JSONField(
        default=list,
        help_text="The finest level only: [[first step, last step, min, max], ...] in step order.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "name", "level"], name="unique_rollup")
        ]
        indexes = [models.Index(fields=["sweep", "level"], name="rollup_sweep_level")]

    def __str__(self) -> str:
        return f"trial {self.trial_id} {self.name}: {self.level} buckets of {self.width} steps"


class Event(models.Model):
    """Audit log: every state change and every manual action, with who did it."""

    sweep = models.ForeignKey(Sweep, related_name="events", on_delete=models.CASCADE)
    trial = models.ForeignKey(
        Trial, null=True, blank=True, related_name="events", on_delete=models.CASCADE
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    kind = models.CharField(max_length=40)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["sweep", "id"], name="event_sweep_cursor")]

    def __str__(self) -> str:
        who = self.user.get_username() if self.user else "rungs"
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {who}: {self.kind}"
