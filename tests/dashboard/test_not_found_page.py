"""Anything a user may not see is the site's plain 404 page, DEBUG on or off; /api/ keeps
its JSON 404."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from tests.dashboard.conftest import make_sweep, make_trial

pytestmark = pytest.mark.django_db

DEBUG_TEXT = ("Traceback", "Django", "URLconf", "Page not found (404)", "DEBUG = True")


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _assert_plain_404(response: Any) -> None:
    # The test client's lazy resolver_match raises Resolver404 for a path no route matches
    # whenever it is touched, the dashboard conftest's sweep of stray connections included.
    response.resolver_match = None
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert 'id="not-found"' in html
    assert "Rungs" in html  # the site's own page, with its nav
    for text in DEBUG_TEXT:
        assert text not in html, text


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize(
    "path",
    [
        "/sweeps/{other}/",  # someone else's sweep
        "/sweeps/{other}/trials/1/",
        "/sweeps/{mine}/trials/99/",  # a trial that does not exist
        "/sweeps/999999/",  # a sweep that does not exist
        "/sweeps/new/?from={other}",  # cloning what one cannot see
        "/sweeps/new/?zoom=999999",
        "/sweeps/new/?from=abc",
        "/no/such/page/",  # no route at all
    ],
)
def test_what_a_user_may_not_see_is_the_plain_404_page(
    user: Any, other_user: Any, path: str, debug: bool
) -> None:
    mine = make_sweep(user)
    other = make_sweep(other_user)
    make_trial(other, 1)
    with override_settings(DEBUG=debug):
        response = _client(user).get(path.format(mine=mine.pk, other=other.pk))
    _assert_plain_404(response)


@pytest.mark.parametrize("debug", [True, False])
def test_the_api_keeps_its_json_404(user: Any, other_user: Any, debug: bool) -> None:
    other = make_sweep(other_user)
    with override_settings(DEBUG=debug):
        for path in (f"/api/sweeps/{other.pk}/", "/api/no/such/thing/"):
            response = _client(user).get(path)
            assert response.status_code == 404
            assert response["Content-Type"] == "application/json"
            assert set(response.json()) == {"detail"}


def test_an_anonymous_visitor_is_still_sent_to_the_login_page(other_user: Any) -> None:
    other = make_sweep(other_user)
    response = Client().get(f"/sweeps/{other.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
