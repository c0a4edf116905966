"""The New sweep page: every logged-in user may open it; ?from= and ?zoom= name a sweep the
user can see (anything else is the 404 page); the form's choices come from the server."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from sweeps.search.samplers import SAMPLERS
from sweeps.search.schedulers import SCHEDULERS
from tests.dashboard.conftest import add_result, make_sweep, make_trial

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _meta(html: str) -> dict[str, Any]:
    match = re.search(r'<script id="form-meta" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page embeds the form's choices"
    return json.loads(match.group(1))


def test_a_user_who_is_not_staff_opens_the_page_with_the_servers_choices(user: Any) -> None:
    response = _client(user).get("/sweeps/new/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-mode="new"' in html
    assert 'name="csrfmiddlewaretoken"' in html  # the page's API calls send it
    meta = _meta(html)
    assert meta["samplers"] == list(SAMPLERS)
    assert meta["schedulers"] == list(SCHEDULERS)
    assert meta["defaults"]["scheduler"]["name"] == "hyperband"
    assert meta["defaults"]["scheduler"]["eta"] == 3


def test_the_page_needs_a_login() -> None:
    response = Client().get("/sweeps/new/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(("key", "mode"), [("from", "clone"), ("zoom", "zoom")])
def test_a_shared_sweep_can_be_cloned_and_zoomed_by_its_viewer(
    user: Any, other_user: Any, key: str, mode: str
) -> None:
    sweep = make_sweep(other_user, name="theirs", viewers=[user])
    response = _client(user).get(f"/sweeps/new/?{key}={sweep.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-mode="{mode}"' in html
    assert f'data-source="{sweep.pk}"' in html
    assert "theirs" in html


def test_the_sweep_page_offers_clone_always_and_zoom_in_once_two_trials_have_results(
    user: Any,
) -> None:
    sweep = make_sweep(user)
    page = _client(user).get(f"/sweeps/{sweep.pk}/").content.decode()
    assert f'href="/sweeps/new/?from={sweep.pk}"' in page
    assert "?zoom=" not in page
    # Zooming in needs two trials with a finite result (a NaN one does not count).
    add_result(make_trial(sweep, 1, status="stopped"), 0, 1.0, 0.5)
    add_result(make_trial(sweep, 2, status="diverged"), 0, 1.0, None)
    page = _client(user).get(f"/sweeps/{sweep.pk}/").content.decode()
    assert "?zoom=" not in page
    add_result(make_trial(sweep, 3, status="stopped"), 0, 1.0, 0.4)
    page = _client(user).get(f"/sweeps/{sweep.pk}/").content.decode()
    assert f'href="/sweeps/new/?zoom={sweep.pk}"' in page


def test_the_sharing_panel_says_who_may_change_it(user: Any, other_user: Any) -> None:
    sweep = make_sweep(user, viewers=[other_user])
    owner_page = _client(user).get(f"/sweeps/{sweep.pk}/").content.decode()
    assert 'data-can-share="1"' in owner_page
    viewer_page = _client(other_user).get(f"/sweeps/{sweep.pk}/").content.decode()
    assert 'data-can-share="0"' in viewer_page
