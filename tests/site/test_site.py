"""The site: login required everywhere but the login page; settings fail loudly on bad env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_login_page_is_public_and_everything_else_redirects() -> None:
    client = Client()
    assert client.get("/accounts/login/").status_code == 200
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_logged_in_user_sees_the_sweep_list(user: object) -> None:
    client = Client()
    assert client.login(username="alice", password="alice-password")
    page = client.get("/")
    assert page.status_code == 200 and b"Sweeps" in page.content


@pytest.mark.django_db
def test_health_answers_without_login() -> None:
    assert Client().get("/health/").json() == {"status": "ok"}


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RUNGS_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RUNGS_DEBUG": "maybe"}, "RUNGS_DEBUG must be a boolean"),
        ({"RUNGS_DEBUG": "false"}, "RUNGS_SECRET_KEY must be set"),
        ({"RUNGS_GRID_CAP": "lots"}, "RUNGS_GRID_CAP must be an integer"),
        ({"RUNGS_GRID_CAP": "0"}, "RUNGS_GRID_CAP must be >= 1"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL must be a postgres://"),
        ({"REDIS_URL": "amqp://guest@localhost"}, "REDIS_URL must be a redis:// URL"),
    ],
)
def test_bad_environment_stops_startup_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        RUNGS_DEBUG="false", RUNGS_SECRET_KEY="x" * 20 + "a-long-random-production-secret-0123456789",
        RUNGS_ALLOWED_HOSTS="rungs.example.com",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_static_files_are_served_without_login_and_debug(settings: object, client: Client) -> None:
    settings.DEBUG = False  # type: ignore[attr-defined]
    response = client.get("/static/css/rungs.css")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/css")
    assert client.get("/static/css/nope.css").status_code == 404
