"""Debug pages (DEBUG on, the default for a local run) never show connection passwords:
DATABASE_URL and REDIS_URL are hidden, and a password inside any URL is starred."""

from __future__ import annotations

import sys
from typing import Any

from django.test import RequestFactory
from django.views.debug import technical_500_response

from dashboard.debug import SecretsFilter, mask_url_passwords

# Built, never written out: the debug page quotes the source lines around each frame.
PASSWORDS = {kind: f"{kind}-pw-{n}" for n, kind in enumerate(("db", "redis", "header", "local"))}
DB_URL = f"postgres://rungs:{PASSWORDS['db']}@db.internal:5432/rungs"
REDIS = f"redis://:{PASSWORDS['redis']}@redis.internal:6379/0"


def fail(broker: str) -> None:
    raise RuntimeError(f"cannot reach {broker.split('@')[1]}")


def test_urls_keep_their_host_and_lose_their_password() -> None:
    assert mask_url_passwords(DB_URL) == "postgres://rungs:********@db.internal:5432/rungs"
    assert mask_url_passwords(REDIS) == "redis://:********@redis.internal:6379/0"
    assert mask_url_passwords("redis://redis.internal:6379/0") == "redis://redis.internal:6379/0"


def test_the_debug_page_shows_no_connection_password(settings: Any) -> None:
    settings.DEBUG = True
    settings.DATABASE_URL = DB_URL
    settings.REDIS_URL = REDIS
    settings.CELERY_BROKER_URL = REDIS
    settings.RUNGS_UPSTREAM = {"hosts": [{"address": REDIS}]}  # nested, as CHANNEL_LAYERS is
    request = RequestFactory().get(
        "/sweeps/1/", HTTP_X_UPSTREAM=f"mysql://u:{PASSWORDS['header']}@h/db"
    )
    try:
        fail(f"amqp://guest:{PASSWORDS['local']}@rabbit//")  # a local variable of the frame
    except RuntimeError:
        html = technical_500_response(request, *sys.exc_info()).content.decode()
    assert "RuntimeError" in html
    for kind, password in PASSWORDS.items():
        assert password not in html, kind
    assert "redis.internal" in html  # hosts still show: the page stays useful


def test_the_filter_hides_the_connection_settings_whole() -> None:
    cleansed = SecretsFilter().cleanse_setting("DATABASE_URL", DB_URL)
    assert cleansed == SecretsFilter.cleansed_substitute
    assert SecretsFilter().cleanse_setting("LOGIN_URL", "/accounts/login/") == "/accounts/login/"
