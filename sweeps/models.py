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

from sweeps.search.space import CATEGORICAL, FLOAT, INT, Space
from sweeps.search.space import Parameter as ParsedParameter
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
    """A reusable search space, edited in the admin or the API; sweeps copy its spec when
    created. Its owner shares it: viewers may see and use it, editors may also change it
    (see :mod:`sweeps.access`)."""

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    viewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="viewable_spaces", blank=True
    )
    editors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="editable_spaces", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Names are labels (sweeps refer to ids): the API keeps one owner's names apart, two
        # users may each have an "mlp". Not a database constraint, which the admin's form
        # could not check before its save (it sets the owner on save) and would answer 500.
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def to_spec(self) -> dict[str, dict[str, Any]]:
        return {p.name: p.to_spec() for p in self.parameters.all()}

    def replace_parameters(self, space: Space) -> None:
        """Make this space's parameter rows say ``space`` (a parsed, valid space)."""
        self.parameters.all().delete()
        Parameter.objects.bulk_create(
            Parameter.from_parsed(self, p, position) for position, p in enumerate(space.parameters)
        )


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

    @classmethod
    def from_parsed(cls, space: SearchSpace, p: ParsedParameter, position: int) -> Parameter:
        """The row of one parsed parameter (the inverse of :meth:`to_spec`)."""
        return cls(
            space=space,
            name=p.name,
            kind=p.kind,
            low=p.low,
            high=p.high,
            log=p.log,
            step=p.step,
            choices=list(p.choices),
            condition_parent=p.condition.parent if p.condition else "",
            condition_values=list(p.condition.values) if p.condition else [],
            position=position,
        )

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
    editors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="editable_sweeps", blank=True
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
    tested = models.BooleanField(
        default=False, help_text="Its final evaluation on the test set was asked for (once)."
    )
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
    tie_rungs = models.JSONField(
        default=list, blank=True, help_text="Rungs entered as a tie (the scheduler's keep_ties)."
    )
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
    se = models.FloatField(
        null=True, blank=True, help_text="The objective's standard error, when reported."
    )
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


class SegmentLog(models.Model):
    """The console output (stdout and stderr, interleaved) of one segment of a script trial.

    Kept in the database so that the page and the API read it wherever the worker ran. Only
    the last ``RUNGS_LOG_CHARS`` characters are kept; ``dropped`` counts those cut before.
    """

    trial = models.ForeignKey(Trial, related_name="logs", on_delete=models.CASCADE)
    rung = models.PositiveIntegerField()
    attempt = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    dropped = models.PositiveBigIntegerField(default=0, help_text="Characters cut from the start.")
    exit_code = models.IntegerField(null=True, blank=True, help_text="Null while it runs.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["trial_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "rung", "attempt"], name="unique_segment_log")
        ]

    def __str__(self) -> str:
        return f"log of trial {self.trial_id} rung {self.rung} attempt {self.attempt}"


class Worker(models.Model):
    """A worker process: where it runs, what it can train, what it trains now.

    A worker registers itself when it starts and renews ``heartbeat_at`` while it lives; one
    whose heartbeat is older than the lease is lost. ``name`` is the ``node:pid`` that
    ``Trial.worker`` holds while the worker trains that trial, so the segment it runs is
    read from the trials, not kept twice.
    """

    name = models.CharField(max_length=200, unique=True)
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    device = models.CharField(max_length=32, help_text="cpu, cuda:0, ...")
    gpu_name = models.CharField(max_length=200, blank=True)
    trainers = models.JSONField(default=list, help_text="The trainer keys it can run.")
    broken = models.JSONField(
        default=dict, blank=True, help_text="Registered trainer keys it cannot run, and why."
    )
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["host", "pid"]
        indexes = [models.Index(fields=["heartbeat_at"], name="worker_heartbeat")]

    def __str__(self) -> str:
        return f"worker {self.name}"


class LRRangeTest(models.Model):
    """An LR range test of one configuration: the loss as the learning rate rises
    exponentially from ``low`` to ``high``, run by a worker (see trainers/lr_range.py)."""

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATUS_CHOICES = [(s, s) for s in (QUEUED, RUNNING, DONE, FAILED)]

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    trainer = models.CharField(max_length=100)
    trainer_args = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True, help_text="The configuration tested.")
    low = models.FloatField()
    high = models.FloatField()
    steps = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=STATUS_CHOICES, default=QUEUED)
    worker = models.CharField(max_length=200, blank=True)
    curve = models.JSONField(default=dict, blank=True, help_text="lr, loss, smoothed lists.")
    suggested = models.JSONField(null=True, blank=True, help_text="{low, high} or null.")
    stopped = models.TextField(blank=True, help_text="Why the test ended.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"LR range test #{self.pk} of {self.trainer}"


class FinalEvaluation(models.Model):
    """The one look at a sweep's test set: one chosen trial's checkpoint evaluated on the
    test split, once per sweep (the lectures' rule: the test set is touched once, at the end).
    """

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATUS_CHOICES = [(s, s) for s in (QUEUED, RUNNING, DONE, FAILED)]

    sweep = models.OneToOneField(Sweep, related_name="final_evaluation", on_delete=models.CASCADE)
    trial = models.ForeignKey(Trial, related_name="+", on_delete=models.CASCADE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    checkpoint = models.CharField(max_length=500)
    status = models.CharField(max_length=8, choices=STATUS_CHOICES, default=QUEUED)
    metrics = models.JSONField(default=dict, blank=True, help_text="test_loss, test_acc, ...")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"final evaluation of sweep {self.sweep_id} (trial {self.trial_id})"
