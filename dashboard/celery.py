"""The Celery app. Workers import it with ``celery -A dashboard worker``."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("rungs")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["sweeps", "trainers"])
