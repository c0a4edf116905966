"""Pages of the dashboard. Views read; state changes go through :mod:`sweeps.services`
(pages steer over the live socket, see :mod:`dashboard.steering`)."""

from __future__ import annotations

import gzip
import hashlib
import json
from functools import lru_cache
from pathlib import Path

import plotly
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.safestring import mark_safe
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET

from dashboard import analytics, plots, tailer
from sweeps import actions, queries, validation
from sweeps.access import can_share, can_steer, visible_sweeps
from sweeps.models import Sweep, Trial
from sweeps.queries.summaries import final_evaluation
from sweeps.search.samplers import ACQ_FUNCS, BASE_ESTIMATORS, BAYES_DEFAULTS, SAMPLERS
from sweeps.search.schedulers import SCHEDULERS
from sweeps.states import TrialStatus

PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
# Workers beat every 2 s at most (trainers.workers), so a faster page would show nothing new.
WORKERS_REFRESH_MS = 2000


def sweep_list(request: HttpRequest) -> HttpResponse:
    """Every sweep the user can see: status, progress, best value, best-so-far sparkline."""
    sweeps = list(visible_sweeps(request.user).select_related("owner"))
    summaries = queries.sweep_summaries(sweeps)
    rows = []
    for sweep in sweeps:
        summary = summaries[sweep.pk]
        rows.append(
            {
                "sweep": sweep,
                "summary": summary,
                "percent": round(100 * summary["progress"]),
                "spark": plots.sparkline_points(summary["spark"]),
            }
        )
    return render(request, "dashboard/sweep_list.html", {"rows": rows})


@gzip_page
def sweep_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The live sweep page. Its first render carries a snapshot (thinned curves, trials,
    the bracket, the analysis panels); the page then resumes over the socket from the
    snapshot's cursor. The first render fits no model: a panel not in the cache yet comes
    over the socket, which computes the analysis panels as the page connects."""
    sweep = get_object_or_404(visible_sweeps(request.user).select_related("owner"), pk=pk)
    with analytics.cached_only():
        snapshot = tailer.page_snapshot(sweep)
    return render(
        request,
        "dashboard/sweep_detail.html",
        {
            "sweep": sweep,
            "snapshot_json": script_json(snapshot),
            "can_steer": can_steer(request.user, sweep),
            "can_share": can_share(request.user, sweep),
            "can_zoom": can_zoom(sweep),
            "plotly_url": plotly_url(),
            "meta_json": script_json(page_meta()),
            "final_evaluation_json": script_json(final_evaluation(sweep)),
        },
    )


def can_zoom(sweep: Sweep) -> bool:
    """Whether Zoom in has something to narrow around: two trials with a result (the zoom
    endpoint answers 409 under two)."""
    finished = sweep.rung_results.filter(value__isnull=False).values("trial_id").distinct()
    return len(finished[:2]) == 2


# How the New sweep page starts from another sweep: ?from=<id> clones it, ?zoom=<id> narrows
# its space around its best trials.
SOURCES = {"from": "clone", "zoom": "zoom"}


def sweep_new(request: HttpRequest) -> HttpResponse:
    """The New sweep page: a form (or the spec as JSON) checked live against
    ``/api/sweeps/plan/`` and launched through ``/api/sweeps/``. Every logged-in user may
    launch. ``?from=`` and ``?zoom=`` name a sweep the user can see (any other id is the
    404 page); the page reads its spec (or its zoomed space) from the API."""
    mode, source = "new", None
    for key, name in SOURCES.items():
        raw = request.GET.get(key)
        if raw is None:
            continue
        if not raw.isdigit():
            raise Http404("no such sweep")
        source = get_object_or_404(visible_sweeps(request.user), pk=int(raw))
        mode = name
        break
    return render(
        request,
        "dashboard/sweep_new.html",
        {"mode": mode, "source": source, "form_json": script_json(form_meta())},
    )


def form_meta() -> dict[str, object]:
    """What the New sweep form offers, from the server's own tables: the samplers and
    schedulers, the Bayes settings' choices, and the defaults a spec gets for what it
    leaves out."""
    return {
        "samplers": list(SAMPLERS),
        "schedulers": list(SCHEDULERS),
        "base_estimators": list(BASE_ESTIMATORS),
        "acq_funcs": list(ACQ_FUNCS),
        "bayes": BAYES_DEFAULTS,
        "defaults": {
            "sampler": validation.DEFAULT_SAMPLER,
            "scheduler": validation.DEFAULT_SCHEDULER,
            # clean_spec's defaults for the fields a spec may leave out.
            "max_trials": 20,
            "concurrency": 2,
            "seed": 0,
        },
        "caps": {
            "max_trials": validation.MAX_TRIALS_CAP,
            "concurrency": validation.CONCURRENCY_CAP,
            "seed": validation.SEED_MAX,
        },
    }


def worker_list(request: HttpRequest) -> HttpResponse:
    """The worker processes: where each runs, what it can train, its state and the trial it
    trains now. The page renders the rows it carries and re-reads ``/api/workers/``."""
    rows = queries.worker_rows(visible_sweeps(request.user))
    return render(
        request,
        "dashboard/worker_list.html",
        {
            "rows_json": script_json(rows),
            "refresh_ms": WORKERS_REFRESH_MS,
            "lease_seconds": settings.RUNGS_LEASE_SECONDS,
        },
    )


def page_meta() -> dict[str, object]:
    """What the live pages' scripts know about statuses and actions, from the server's own
    tables: a button's label for each registered action (rows say which are allowed; one
    whose body must be filled in has its own form on the page instead), and
    which trial statuses count as finished or active (for the charts)."""
    return {
        "actions": {
            a.name: {"label": a.label, "target": a.target, "danger": a.danger,
                     "form": actions.needs_form(a)}
            for a in actions.REGISTRY.values()
        },
        "statuses": {
            "finished": sorted(TrialStatus.FINISHED),
            "active": sorted(TrialStatus.ACTIVE),
        },
    }  # fmt: skip


@gzip_page
def trial_detail(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """One trial: its curves (live), params, rung results, checkpoint, events, error."""
    sweep = get_object_or_404(visible_sweeps(request.user).select_related("owner"), pk=pk)
    trial = get_object_or_404(Trial, sweep=sweep, number=number)
    data = queries.trial_series(trial)
    [row] = queries.trial_rows(sweep, ids=[trial.pk])
    snapshot = script_json(
        {
            "cursor": data["cursor"],
            "trial": row,
            "series": data["series"],
            "sweep": {"id": sweep.pk, "objective": sweep.objective_metric},
        }
    )
    return render(
        request,
        "dashboard/trial_detail.html",
        {
            "sweep": sweep,
            "trial": trial,
            "row": row,
            "results": trial.rung_results.order_by("rung"),
            "logs": trial.logs.order_by("id"),
            "events": queries.events(sweep, trial=trial.pk, limit=500, newest=True)[::-1],
            "snapshot_json": snapshot,
            "can_steer": can_steer(request.user, sweep),
            "plotly_url": plotly_url(),
            "meta_json": script_json(page_meta()),
        },
    )


def script_json(value: object) -> str:
    """JSON safe inside ``<script type="application/json">``: what ``json_script`` does,
    but with three ``replace`` calls instead of ``translate`` (10x faster on megabytes)."""
    text = json.dumps(value, separators=(",", ":"), cls=queries.RowEncoder)
    # <, > and & are escaped, so nothing in the data can close the script element.
    return mark_safe(text.replace("&", "\\u0026").replace("<", "\\u003C").replace(">", "\\u003E"))


@lru_cache(maxsize=1)
def _plotly_digest() -> str:
    return hashlib.sha256(PLOTLY_JS.read_bytes()).hexdigest()[:16]


@lru_cache(maxsize=1)
def _plotly_bundle() -> tuple[bytes, bytes, str]:
    # Compressing 4.6 MB at level 9 takes a quarter of a second: only the first request
    # for the file pays it, not the first page a fresh process renders.
    raw = PLOTLY_JS.read_bytes()
    return raw, gzip.compress(raw, compresslevel=9, mtime=0), _plotly_digest()


def plotly_url() -> str:
    """Where pages load Plotly from: the plotly package's own file, by content hash."""
    return f"/vendor/plotly-{_plotly_digest()}.min.js"


@login_not_required
@require_GET
def plotly_js(request: HttpRequest, digest: str) -> HttpResponse:
    """Plotly.js from the installed plotly package (no CDN): immutable, gzip when accepted.

    The URL carries the file's hash, so it is cached for a year and never goes stale.
    """
    raw, packed, etag = _plotly_bundle()
    if request.headers.get("If-None-Match") == f'"{etag}"':
        return HttpResponseNotModified()
    use_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
    response = HttpResponse(packed if use_gzip else raw, content_type="text/javascript")
    if use_gzip:
        response["Content-Encoding"] = "gzip"
    response["Vary"] = "Accept-Encoding"
    response["ETag"] = f'"{etag}"'
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["Content-Length"] = str(len(response.content))
    return response


@login_not_required
def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and ``up``: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
