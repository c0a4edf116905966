"""GET /api/sweeps/ and /api/sweeps/<id>/trials/ come in cursor pages: following ``next``
gives every row once, even while rows are added; a bad ``page_size`` or ``cursor`` is a 400
naming it; a large page is gzipped for a client that asks."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from django.urls import reverse

from sweeps.api.pagination import MAX_PAGE_SIZE, PAGE_SIZE
from sweeps.models import Sweep, Trial
from tests.api.factories import make_sweep, make_trial

pytestmark = pytest.mark.django_db


def walk(client: Any, url: str, **query: Any) -> tuple[list[dict[str, Any]], int]:
    """Every row from ``url`` on, following ``next``; and how many pages it took."""
    rows: list[dict[str, Any]] = []
    pages = 0
    while url:
        response = client.get(url, query)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        rows.extend(body["results"])
        pages += 1
        url, query = body["next"], {}  # next carries the page size and the cursor
    return rows, pages


def add_trials(sweep: Sweep, numbers: range) -> None:
    Trial.objects.bulk_create(
        Trial(sweep=sweep, number=n, params={"lr": n / 1000}, status="pending") for n in numbers
    )


def test_following_next_gives_every_trial_once_in_number_order(
    viewer: Any, client_for: Any, sweep: Sweep
) -> None:
    add_trials(sweep, range(5, 26))  # 25 trials
    rows, pages = walk(
        client_for(viewer), reverse("api-sweep-trials", args=[sweep.pk]), page_size=7
    )
    assert [t["number"] for t in rows] == list(range(1, 26))
    assert pages == 4
    assert rows[0]["rung_results"] and rows[0]["params"]["opt"] == "adam"


def test_trials_added_or_changed_between_pages_are_neither_skipped_nor_repeated(
    owner: Any, client_for: Any
) -> None:
    sweep = make_sweep(owner)
    add_trials(sweep, range(1, 21))
    client = client_for(owner)
    first = client.get(reverse("api-sweep-trials", args=[sweep.pk]), {"page_size": 8}).json()
    # While the client reads: new trials come, a seen one and an unseen one move on, and
    # one it has not reached yet is killed (status changes never reorder the pages).
    add_trials(sweep, range(21, 31))
    Trial.objects.filter(sweep=sweep, number__in=[2, 12]).update(status="running")
    Trial.objects.filter(sweep=sweep, number=15).update(status="killed")
    rest, _ = walk(client, first["next"])
    numbers = [t["number"] for t in first["results"] + rest]
    assert numbers == list(range(1, 31))
    assert {t["number"]: t["status"] for t in rest}[15] == "killed"


def test_the_default_page_is_bounded_and_links_the_next(owner: Any, client_for: Any) -> None:
    sweep = make_sweep(owner)
    add_trials(sweep, range(1, PAGE_SIZE + 2))
    client = client_for(owner)
    body = client.get(reverse("api-sweep-trials", args=[sweep.pk])).json()
    assert len(body["results"]) == PAGE_SIZE and body["previous"] is None
    last = client.get(body["next"]).json()
    assert [t["number"] for t in last["results"]] == [PAGE_SIZE + 1]
    assert last["next"] is None and last["previous"]
    most = client.get(reverse("api-sweep-trials", args=[sweep.pk]), {"page_size": MAX_PAGE_SIZE})
    assert len(most.json()["results"]) == PAGE_SIZE + 1


@pytest.mark.parametrize("value", ["0", "-1", str(MAX_PAGE_SIZE + 1), "abc", "1e3", "٣", "9" * 30])
@pytest.mark.parametrize("name", ["api-sweeps", "api-sweep-trials"])
def test_a_bad_page_size_is_400_naming_it(
    name: str, value: str, owner: Any, client_for: Any, sweep: Sweep
) -> None:
    url = reverse(name, args=[sweep.pk] if name != "api-sweeps" else [])
    response = client_for(owner).get(url, {"page_size": value})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"page_size"}
    assert "from 1 to 1000" in response.json()["errors"]["page_size"]


@pytest.mark.parametrize("cursor", ["nonsense", "cD1hYmM=", "cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ=="])
def test_a_cursor_the_api_did_not_give_is_400_naming_it(
    cursor: str, owner: Any, client_for: Any, sweep: Sweep
) -> None:
    # "cD1hYmM=" is p=abc: a position that is no trial number; the last, one past BIGINT.
    response = client_for(owner).get(
        reverse("api-sweep-trials", args=[sweep.pk]), {"cursor": cursor}
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"cursor"}


def test_sweeps_come_newest_first_in_pages_of_only_what_the_user_sees(
    owner: Any, stranger: Any, client_for: Any
) -> None:
    mine = [make_sweep(owner, name=f"s{i}").pk for i in range(7)]
    make_sweep(stranger, name="bob's secret")
    rows, pages = walk(client_for(owner), reverse("api-sweeps"), page_size=3)
    assert [s["id"] for s in rows] == sorted(mine, reverse=True)
    assert pages == 3
    assert all("counts" in s for s in rows)


def test_sweeps_launched_while_a_client_pages_do_not_shift_the_pages(
    owner: Any, client_for: Any
) -> None:
    # Newest first: an offset would slide by one per new sweep and repeat a row; the cursor
    # (the last id seen) does not.
    old = [make_sweep(owner, name=f"s{i}").pk for i in range(6)]
    client = client_for(owner)
    first = client.get(reverse("api-sweeps"), {"page_size": 4}).json()
    new = [make_sweep(owner, name=f"new{i}").pk for i in range(3)]
    rest, _ = walk(client, first["next"])
    seen = [s["id"] for s in first["results"] + rest]
    assert seen == sorted(old, reverse=True)
    first_again = client.get(reverse("api-sweeps"), {"page_size": 4}).json()["results"]
    assert [s["id"] for s in first_again][:3] == sorted(new, reverse=True)


def test_a_large_page_is_gzipped_when_asked_and_unzips_to_the_same_json(
    owner: Any, client_for: Any
) -> None:
    sweep = make_sweep(owner)
    for number in range(1, 201):
        make_trial(sweep, number)
    client = client_for(owner)
    url = reverse("api-sweep-trials", args=[sweep.pk])
    plain = client.get(url)
    assert "Content-Encoding" not in plain
    zipped = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate")
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"]
    assert len(zipped.content) * 5 < len(plain.content)
    assert json.loads(gzip.decompress(zipped.content)) == plain.json()


def test_the_schema_documents_the_page_and_its_parameters() -> None:
    from sweeps.api.docs import build_schema

    schema = build_schema()
    for path, item in (("/api/sweeps/{id}/trials/", "Trial"), ("/api/sweeps/", "Sweep")):
        op = schema["paths"][path]["get"]
        ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(page["properties"]) == set(page["required"]) == {"next", "previous", "results"}
        assert page["properties"]["results"]["items"]["$ref"].endswith(f"/{item}")
        params = {p["name"]: p for p in op["parameters"] if p["in"] == "query"}
        assert params["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000}
        assert params["cursor"]["schema"]["type"] == "string"
        assert "400" in op["responses"]
