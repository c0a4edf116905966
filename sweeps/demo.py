"""The demo set-up behind ``manage.py up --demo``: a login and a sweep to watch."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth import get_user_model

from sweeps import services
from sweeps.models import Sweep

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"
DEMO_SPEC = {
    "name": "demo: digits MLP, Bayesian + Hyperband",
    "trainer": "digits-mlp",
    "sampler": {"name": "bayes", "base_estimator": "GP", "acq_func": "EI", "n_initial_points": 8},
    "scheduler": {"name": "hyperband", "min_resource": 1, "max_resource": 81, "eta": 3},
    "objective": {"metric": "val_loss", "mode": "min"},
    "max_trials": 100,
    "concurrency": 2,
    "seed": 0,
}


def ensure_demo() -> Iterator[str]:
    """Create the demo login and, on an empty site, a demo sweep; yield what was done."""
    User = get_user_model()
    user = User.objects.filter(username=DEMO_USER).first()
    if user is None:
        user = User.objects.create_superuser(DEMO_USER, "demo@example.com", DEMO_PASSWORD)
        yield f"Created the login {DEMO_USER} / {DEMO_PASSWORD} (change it before sharing this server)."
    else:
        yield f"Log in as {DEMO_USER}."
    if settings.RUNGS_DEMO_SWEEP and not Sweep.objects.exists():
        sweep = services.create_sweep(DEMO_SPEC, user)
        yield f"Started the demo sweep {sweep.pk}: {sweep.name}."
