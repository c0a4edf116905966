"""The Workers page: login required, linked from every page, its rows embedded for the first
render (the browser test checks what it draws)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from tests.dashboard.conftest import make_sweep, make_trial
from tests.factories import make_worker

pytestmark = pytest.mark.django_db


def _rows(html: str) -> list[dict[str, Any]]:
    match = re.search(
        r'<script id="workers-snapshot" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, "the page embeds its rows"
    return json.loads(match.group(1))


def test_the_page_needs_a_login() -> None:
    response = Client().get("/workers/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_page_carries_each_worker_and_the_nav_links_to_it(user: Any) -> None:
    make_worker("cpu0@a:1", ["synthetic"])
    busy = make_worker("cpu1@a:2", ["digits-mlp"])
    sweep = make_sweep(user, name="</script><b>x</b>")
    trial = make_trial(sweep, 2, status="running", worker=busy.name)
    client = Client()
    client.force_login(user)
    response = client.get("/workers/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<a href="/workers/">Workers</a>' in html
    assert "<b>x</b>" not in html  # a sweep name cannot close the script element
    rows = {row["name"]: row for row in _rows(html)}
    assert rows["cpu0@a:1"]["state"] == "idle"
    assert rows["cpu1@a:2"]["trial"]["id"] == trial.pk
    assert rows["cpu1@a:2"]["trial"]["sweep_name"] == "</script><b>x</b>"
    assert '<a href="/workers/">Workers</a>' in client.get("/").content.decode()
