"""What the API sends and (for the schema) what it accepts.

Output serializers are read-only views of the models; each sweep and trial carries the
names of the actions allowed on it now (:mod:`sweeps.actions`). The spec serializer only
documents launch bodies in the OpenAPI schema: specs are validated by
:func:`sweeps.validation.clean_spec` (through the service layer) so that the API, the admin
and spec files give the same errors for the same mistakes. Steering bodies are declared,
validated and documented with their actions in :mod:`sweeps.actions`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from sweeps.actions import allowed_actions, context_for
from sweeps.api.closed import ClosedSerializer
from sweeps.models import FinalEvaluation, RungResult, Sweep, Trial
from sweeps.queries import WORKER_STATES, BestTrial, finite, sweep_totals
from sweeps.queries.summaries import SweepTotals, final_evaluation
from sweeps.search.samplers import ACQ_FUNCS, BASE_ESTIMATORS, SAMPLERS
from sweeps.search.samplers.options import MAX_RANDOM_FRACTION
from sweeps.search.schedulers import SCHEDULERS
from sweeps.states import TrialStatus
from sweeps.validation import CONCURRENCY_CAP, MAX_TRIALS_CAP, SEED_MAX

TRIAL_STATUSES = [value for value, _ in TrialStatus.CHOICES]
ACTIONS_HELP = (
    "Names of the steering actions allowed on this object now (POST /<verb>/ for each; "
    "see sweeps.actions)."
)


class FiniteFloatField(serializers.FloatField):
    """A float that is sent as null when it is NaN or infinite (the rows' rule,
    :func:`sweeps.queries.finite`: JSON has no such numbers)."""

    def to_representation(self, value: Any) -> float | None:
        return None if value is None else finite(float(value))


class StatusCountsSerializer(serializers.Serializer):
    """How many trials are in each status."""

    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    waiting = serializers.IntegerField()
    paused = serializers.IntegerField()
    stopped = serializers.IntegerField()
    completed = serializers.IntegerField()
    killed = serializers.IntegerField()
    failed = serializers.IntegerField()
    diverged = serializers.IntegerField()


class BestTrialSerializer(serializers.Serializer):
    """The best trial so far and its objective value."""

    id = serializers.IntegerField()
    number = serializers.IntegerField()
    value = serializers.FloatField()


class ObjectiveSerializer(ClosedSerializer):
    """Which metric is optimised, and in which direction."""

    metric = serializers.CharField(min_length=1, max_length=32, required=False, default="val_loss")
    mode = serializers.ChoiceField(choices=["min", "max"], required=False, default="min")


class FinalEvaluationSerializer(serializers.Serializer):
    """The sweep's one look at its test set (null until someone asks for it)."""

    trial = serializers.IntegerField(help_text="The number of the trial evaluated.")
    trial_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=FinalEvaluation.STATUS_CHOICES)
    metrics = serializers.DictField(
        child=FiniteFloatField(allow_null=True), help_text="test_loss, test_loss_se, test_acc, ..."
    )
    error = serializers.CharField(help_text="Why there are no metrics, if it failed.")
    user = serializers.CharField(allow_null=True, help_text="Who asked for it.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class SweepSerializer(serializers.ModelSerializer):
    """A sweep with its settings, trial counts per status and its best trial."""

    owner = serializers.CharField(source="owner.get_username", read_only=True)
    objective = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    n_trials = serializers.SerializerMethodField()
    best_trial = serializers.SerializerMethodField()
    best_value = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField(help_text=ACTIONS_HELP)
    final_evaluation = serializers.SerializerMethodField()

    class Meta:
        model = Sweep
        fields = [
            "id", "name", "owner", "status", "trainer", "trainer_args", "objective",
            "search_space", "space", "sampler", "scheduler", "resource_unit", "max_trials",
            "concurrency", "seed", "error", "created_at", "started_at", "finished_at",
            "counts", "n_trials", "best_trial", "best_value", "actions", "final_evaluation",
        ]  # fmt: skip
        read_only_fields = fields

    def _summary(self, sweep: Sweep) -> SweepTotals:
        # A list view passes every sweep's totals in the context (a fixed number of queries).
        totals = self.context.setdefault("summaries", {})
        if sweep.pk not in totals:
            totals.update(sweep_totals([sweep]))
        return totals[sweep.pk]

    @extend_schema_field(ObjectiveSerializer)
    def get_objective(self, sweep: Sweep) -> dict[str, str]:
        return {"metric": sweep.objective_metric, "mode": sweep.objective_mode}

    @extend_schema_field(StatusCountsSerializer)
    def get_counts(self, sweep: Sweep) -> dict[str, int]:
        return self._summary(sweep)["counts"]

    def get_n_trials(self, sweep: Sweep) -> int:
        return sum(self._summary(sweep)["counts"].values())

    @extend_schema_field(BestTrialSerializer(allow_null=True))
    def get_best_trial(self, sweep: Sweep) -> BestTrial | None:
        return self._summary(sweep)["best"]

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_best_value(self, sweep: Sweep) -> float | None:
        best = self._summary(sweep)["best"]
        return None if best is None else best["value"]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_actions(self, sweep: Sweep) -> list[str]:
        return allowed_actions(sweep)

    @extend_schema_field(FinalEvaluationSerializer(allow_null=True))
    def get_final_evaluation(self, sweep: Sweep) -> dict[str, Any] | None:
        return final_evaluation(sweep)


class RungResultSerializer(serializers.ModelSerializer):
    """The objective a trial reached at the end of one rung."""

    value = FiniteFloatField(allow_null=True)
    budget = FiniteFloatField()

    class Meta:
        model = RungResult
        fields = ["rung", "budget", "value", "manual", "created_at"]
        read_only_fields = fields


class TrialSerializer(serializers.ModelSerializer):
    """A trial: its configuration, where it stands, and its rung results."""

    best_value = FiniteFloatField(allow_null=True)
    budget = FiniteFloatField()
    resource_done = FiniteFloatField()
    has_checkpoint = serializers.SerializerMethodField()
    rung_results = RungResultSerializer(many=True, read_only=True)
    actions = serializers.SerializerMethodField(help_text=ACTIONS_HELP)

    class Meta:
        model = Trial
        fields = [
            "id", "sweep", "number", "status", "params", "manual", "manual_rungs", "bracket",
            "rung", "budget", "step", "resource_done", "best_value", "attempt", "worker",
            "heartbeat_at", "has_checkpoint", "error", "created_at", "started_at",
            "finished_at", "rung_results", "actions",
        ]  # fmt: skip
        read_only_fields = fields

    def get_has_checkpoint(self, trial: Trial) -> bool:
        return bool(trial.checkpoint)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_actions(self, trial: Trial) -> list[str]:
        # One context per sweep: a list of a sweep's trials reads its scheduler once.
        contexts = self.context.setdefault("row_contexts", {})
        if trial.sweep_id not in contexts:
            contexts[trial.sweep_id] = context_for(trial.sweep)
        return allowed_actions(trial, contexts[trial.sweep_id])


class MetricPointSerializer(serializers.Serializer):
    """One logged value; ``id`` is the cursor to ask for what came after it."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    step = serializers.IntegerField()
    value = FiniteFloatField(allow_null=True)
    time = serializers.FloatField()


class MetricsPageSerializer(serializers.Serializer):
    """Points after the cursor; pass ``cursor`` back as ``after`` to get only newer ones."""

    points = MetricPointSerializer(many=True)
    cursor = serializers.IntegerField(help_text="Id of the last point covered by this page.")


class SegmentLogSerializer(serializers.Serializer):
    """The console output of one segment of a script trial (stdout and stderr interleaved,
    stderr lines prefixed ``[stderr]``)."""

    rung = serializers.IntegerField()
    attempt = serializers.IntegerField()
    text = serializers.CharField(help_text="The output; only its end when it was long.")
    dropped = serializers.IntegerField(help_text="Characters cut from the start.")
    exit_code = serializers.IntegerField(
        allow_null=True, help_text="The script's exit code; null while it runs."
    )
    updated_at = serializers.DateTimeField()


class SweepCreatedSerializer(SweepSerializer):
    """A sweep just launched, with what its launcher should know."""

    warnings = serializers.SerializerMethodField(
        help_text="Messages for whoever launched the sweep, e.g. that no worker is running "
        "yet (the sweep then waits for one). Empty when there is nothing to say."
    )

    class Meta(SweepSerializer.Meta):
        fields = [*SweepSerializer.Meta.fields, "warnings"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_warnings(self, sweep: Sweep) -> list[str]:
        return list(getattr(sweep, "warnings", []))


# --- workers (sweeps.queries.workers) ------------------------------------------------------


class WorkerTrialSerializer(serializers.Serializer):
    """The trial a worker trains now."""

    id = serializers.IntegerField()
    number = serializers.IntegerField()
    sweep = serializers.IntegerField()
    sweep_name = serializers.CharField()
    rung = serializers.IntegerField()


class WorkerSerializer(serializers.Serializer):
    """A worker process: where it runs, what it can train, what it trains now."""

    name = serializers.CharField(help_text="<celery node>:<pid>, as trials name their worker.")
    host = serializers.CharField()
    pid = serializers.IntegerField()
    device = serializers.CharField(help_text="cpu, cuda:0, ...")
    gpu_name = serializers.CharField(help_text="The GPU's name; empty on CPU.")
    trainers = serializers.ListField(
        child=serializers.CharField(), help_text="The trainer keys it can run."
    )
    broken = serializers.DictField(
        child=serializers.CharField(),
        help_text="Registered trainer keys it cannot run, each with the reason.",
    )
    state = serializers.ChoiceField(
        choices=list(WORKER_STATES),
        help_text="running (trains a trial), idle, lost (no heartbeat within the lease) or "
        "stopped (shut down).",
    )
    trial = WorkerTrialSerializer(
        allow_null=True, help_text="The trial it trains now (null when none you can see)."
    )
    started_at = serializers.DateTimeField()
    heartbeat_at = serializers.DateTimeField()
    stopped_at = serializers.DateTimeField(allow_null=True)
    heartbeat_age = serializers.FloatField(help_text="Seconds since its last heartbeat.")


# --- request bodies (documentation; validation is the service layer's) ----------------------


class ConditionSpecSerializer(ClosedSerializer):
    """The parameter is active only when ``parent`` takes one of ``values``."""

    parent = serializers.CharField()
    values = serializers.ListField(child=serializers.JSONField(), min_length=1)


class ParameterSpecSerializer(ClosedSerializer):
    """One dimension of a search space (see sweeps/search/space.py for the rules)."""

    type = serializers.ChoiceField(choices=["float", "int", "categorical"])
    low = serializers.FloatField(required=False)
    high = serializers.FloatField(required=False)
    log = serializers.BooleanField(required=False)
    step = serializers.FloatField(required=False)
    choices = serializers.ListField(child=serializers.JSONField(), required=False)
    condition = ConditionSpecSerializer(required=False)


class SamplerSpecSerializer(ClosedSerializer):
    """How configurations are proposed; the Bayesian options apply to ``bayes`` only."""

    name = serializers.ChoiceField(choices=list(SAMPLERS))
    base_estimator = serializers.ChoiceField(choices=list(BASE_ESTIMATORS), required=False)
    acq_func = serializers.ChoiceField(choices=list(ACQ_FUNCS), required=False)
    n_initial_points = serializers.IntegerField(min_value=2, max_value=10_000, required=False)
    random_fraction = serializers.FloatField(
        min_value=0.0,
        max_value=MAX_RANDOM_FRACTION,
        required=False,
        help_text="share of configs drawn at random whatever the model says.",
    )
    min_rank_corr = serializers.FloatField(
        min_value=-1.0,
        max_value=1.0,
        required=False,
        help_text="a rung steers the model only when it ranks trials like the rungs above it"
        " (Spearman).",
    )


class SchedulerSpecSerializer(ClosedSerializer):
    """How budget is given out: rungs from ``min_resource`` to ``max_resource``, factor ``eta``."""

    name = serializers.ChoiceField(choices=list(SCHEDULERS))
    min_resource = serializers.FloatField(required=False)
    max_resource = serializers.FloatField(required=False)
    eta = serializers.IntegerField(min_value=2, required=False)
    min_trials = serializers.IntegerField(
        min_value=1, required=False, help_text="median only: trials needed before stopping."
    )


class SweepSpecSerializer(ClosedSerializer):
    """A sweep spec, the same schema as spec files (sweeps/validation.py ``clean_spec``)."""

    name = serializers.CharField(max_length=200)
    trainer = serializers.CharField(
        help_text='A registered trainer key, e.g. "synthetic", "digits-mlp".'
    )
    trainer_args = serializers.DictField(required=False, help_text="The trainer's arguments.")
    objective = ObjectiveSerializer(required=False)
    space = serializers.DictField(
        child=ParameterSpecSerializer(),
        required=False,
        allow_null=True,
        help_text="Parameter name -> spec. Omit (or null) to use search_space or the "
        "trainer's default.",
    )
    search_space = serializers.IntegerField(
        required=False, allow_null=True, help_text="Id of a saved search space."
    )
    sampler = SamplerSpecSerializer(required=False)
    scheduler = SchedulerSpecSerializer(required=False)
    max_trials = serializers.IntegerField(min_value=1, max_value=MAX_TRIALS_CAP, required=False)
    concurrency = serializers.IntegerField(min_value=1, max_value=CONCURRENCY_CAP, required=False)
    seed = serializers.IntegerField(min_value=0, max_value=SEED_MAX, required=False)
    start = serializers.BooleanField(required=False, default=True)


# --- the bracket picture (sweeps.queries.bracket) ------------------------------------------
# The API sends these fields only, so API clients keep a stable contract while the
# dashboard's payload grows. Fields marked optional may be null when the scheduler cannot
# say (a fifo sweep has no planned rungs).


def _optional_int(help_text: str = "") -> serializers.IntegerField:
    return serializers.IntegerField(required=False, allow_null=True, help_text=help_text)


class BracketCellSerializer(serializers.Serializer):
    """One trial in one rung: its result there, its rank, and what happened to it."""

    trial = serializers.IntegerField()
    number = serializers.IntegerField()
    value = FiniteFloatField(allow_null=True, help_text="The trial's result at this rung.")
    se = FiniteFloatField(
        allow_null=True, help_text="The result's standard error, when the trainer reports one."
    )
    noise = serializers.BooleanField(
        help_text="Its interval (value ± 1.96 se) crosses the rung's cut line: within noise."
    )
    rank = serializers.IntegerField(allow_null=True, help_text="1 = best result in the rung.")
    status = serializers.CharField(help_text="The trial's status now.")
    state = serializers.CharField(
        help_text="promoted, or at its current rung: cut, pending, running, waiting, paused, "
        "completed, killed, failed, diverged."
    )
    promotion = serializers.ChoiceField(
        choices=["rule", "manual", "tie"],
        allow_null=True,
        help_text="How it left this rung: by the rule, by hand, or as a tie (keep_ties).",
    )
    manual = serializers.BooleanField(help_text="Entered this rung by a manual promotion.")
    promoted_to = _optional_int("The rung it was promoted to.")
    has_result = serializers.BooleanField(required=False, allow_null=True)


class RankCorrelationSerializer(serializers.Serializer):
    """Does the small budget predict the large one? Spearman's rho over ``n`` trials."""

    rho = FiniteFloatField(allow_null=True)
    n = serializers.IntegerField()


class BracketRungSerializer(serializers.Serializer):
    """A rung: its budget and the trials that entered it, best first."""

    rung = serializers.IntegerField()
    budget = FiniteFloatField(allow_null=True)
    size = serializers.IntegerField(help_text="Trials that entered this rung.")
    planned_size = _optional_int("Trials the scheduler plans for this rung.")
    cut = FiniteFloatField(
        allow_null=True,
        help_text="Where the rule cut: halfway between the worst trial it promoted and the "
        "best it did not.",
    )
    next_corr = RankCorrelationSerializer(
        allow_null=True,
        help_text="Rank correlation of this rung's results with the next rung's (trials in "
        "both); null on the top rung or under 3 such trials.",
    )
    cells = BracketCellSerializer(many=True)


# "from" is a Python keyword, so this serializer's fields are declared by name.
PromotionSerializer = type(
    "PromotionSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "A trial moving from one rung to the next, by the rule or by hand.",
        "trial": serializers.IntegerField(),
        "from": serializers.IntegerField(),
        "to": serializers.IntegerField(),
        "manual": serializers.BooleanField(),
    },
)


class BracketEntrySerializer(serializers.Serializer):
    """One bracket of successive halving: its rungs and promotions."""

    bracket = serializers.IntegerField()
    entry = _optional_int("The rung this bracket starts at.")
    rungs = BracketRungSerializer(many=True)
    promotions = PromotionSerializer(many=True)


class BracketSerializer(serializers.Serializer):
    """The science-fair picture of a sweep."""

    sweep = serializers.IntegerField()
    metric = serializers.CharField()
    mode = serializers.ChoiceField(choices=["min", "max"])
    unit = serializers.CharField()
    scheduler = serializers.CharField()
    brackets = BracketEntrySerializer(many=True)
