"""Processes start without the heavy libraries: they load where they are used.

scikit-optimize, scikit-learn, scipy and pandas cost ~1 s and ~160 MB at import (273 MB
against 115 MB at start: bench/scale.py). The web process, the ``up`` supervisor and a
worker import them only once a Bayesian or Sobol sampler, or an export, needs them; the web
and ``up`` never import torch. Each case runs in a fresh interpreter,
since this one has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("skopt", "sklearn", "scipy", "pandas", "torch")

SETUP = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
import django
django.setup()
"""
# What daphne loads: the ASGI application, which loads the URLconf (and the REST API).
WEB = """
import dashboard.asgi
from django.conf import settings
from django.urls import get_resolver
get_resolver(settings.ROOT_URLCONF).url_patterns
"""
# What `manage.py up` loads before it starts its children: the command and the system checks.
SUPERVISOR = """
from django.core.management import load_command_class
load_command_class("sweeps", "up").check()
"""
# What a Celery worker loads: the app, its task modules, and the trainers it registers;
# then the scheduler of a sweep that does not use the Bayesian sampler.
WORKER = """
from dashboard.celery import app
app.loader.import_default_modules()
from trainers.registry import loadable_trainers
loadable_trainers()
from sweeps.models import Sweep
from sweeps.scheduling import scheduler_for
scheduler_for(Sweep(pk=1, space={"x": {"type": "float", "low": 0, "high": 1}}, seed=0,
                    sampler={"name": "random"}, scheduler={"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3}))
"""
REPORT = """
print(json.dumps([m for m in {heavy!r} if m in sys.modules]))
"""
# The names are still there, and a Bayesian sampler loads what it needs on first use.
USE_BAYES = """
from sweeps.search import BayesSampler, PooledSampler, build_sampler, parse_space
from sweeps.search.samplers import SobolSampler
space = parse_space({"x": {"type": "float", "low": 0, "high": 1}})
sampler = build_sampler({"name": "bayes"}, space, seed=0)
assert isinstance(sampler, BayesSampler), type(sampler)
assert sampler.encoder.dimensions(), "skopt dimensions"
print(json.dumps([m for m in ("skopt", "sklearn", "scipy") if m in sys.modules]))
"""


def _run(*parts: str) -> list[list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", SETUP + "".join(parts)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("[")]


@pytest.mark.slow
def test_web_process_imports_no_heavy_library_until_a_bayesian_sampler_is_built() -> None:
    loaded, after_use = _run(WEB, REPORT.format(heavy=HEAVY), USE_BAYES)
    assert loaded == []
    assert after_use == ["skopt", "sklearn", "scipy"]


@pytest.mark.slow
def test_up_supervisor_imports_no_heavy_library() -> None:
    (loaded,) = _run(SUPERVISOR, REPORT.format(heavy=HEAVY))
    assert loaded == []


@pytest.mark.slow
def test_worker_of_a_random_search_sweep_imports_no_search_or_table_library() -> None:
    (loaded,) = _run(WORKER, REPORT.format(heavy=HEAVY[:4]))
    assert loaded == []
