"""Pages: login required, others' sweeps are 404, first render carries the snapshot."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import pytest
from django.test import Client

from tests.dashboard.conftest import add_points, build_sha_sweep, make_sweep, make_trial

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _snapshot(html: str) -> dict[str, Any]:
    match = re.search(r'<script id="snapshot" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page embeds its snapshot"
    return json.loads(match.group(1))


@pytest.mark.parametrize("path", ["/", "/sweeps/{pk}/", "/sweeps/{pk}/trials/1/"])
def test_pages_need_a_login(user: Any, path: str) -> None:
    sweep = make_sweep(user)
    make_trial(sweep, 1)
    response = Client().get(path.format(pk=sweep.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("path", ["/sweeps/{pk}/", "/sweeps/{pk}/trials/1/"])
def test_someone_elses_sweep_is_404(user: Any, other_user: Any, path: str) -> None:
    sweep = make_sweep(other_user)
    make_trial(sweep, 1)
    assert _client(user).get(path.format(pk=sweep.pk)).status_code == 404


def test_viewer_and_staff_see_a_shared_sweep(user: Any, other_user: Any, staff_user: Any) -> None:
    sweep = make_sweep(user)
    sweep.viewers.add(other_user)
    viewer_page = _client(other_user).get(f"/sweeps/{sweep.pk}/")
    assert viewer_page.status_code == 200
    assert b'data-can-steer="0"' in viewer_page.content
    assert b'id="sweep-controls"' not in viewer_page.content
    staff_page = _client(staff_user).get(f"/sweeps/{sweep.pk}/")
    assert b'data-can-steer="1"' in staff_page.content


def test_sweep_page_first_render_carries_curves_bracket_and_cursor(user: Any) -> None:
    data = build_sha_sweep(user)
    trial = data["trials"][1]
    points = add_points(trial, "train_loss", range(50), [1.0 / (i + 1) for i in range(50)])
    add_points(trial, "grad_norm", range(50), [2.0] * 50)
    response = _client(user).get(f"/sweeps/{data['sweep'].pk}/")
    assert response.status_code == 200
    snap = _snapshot(response.content.decode())
    assert snap["cursor"] == points[-1].pk + 50
    assert snap["full"] is True
    [loss] = snap["figures"]["loss"]["data"]
    assert loss["meta"]["trial"] == trial.pk and loss["x"] == list(range(50))
    assert snap["figures"]["grad"]["data"][0]["y"] == [2.0] * 50
    assert [r["size"] for r in snap["bracket"]["brackets"][0]["rungs"]] == [9, 4, 1]
    assert len(snap["trials"]) == 9
    assert set(snap["analytics"]) >= {"history_number", "parallel", "importance", "surrogate"}
    assert snap["analytics"]["surrogate"]["available"] is False  # a random-search sweep


def test_a_big_sweep_s_page_leaves_its_analysis_panels_to_the_socket(user: Any) -> None:
    from dashboard.live import limits
    from tests.dashboard.test_socket_cap import _big_sweep

    sweep, _ = _big_sweep(user, trials=limits.TRIAL_ROWS + 1)
    snap = _snapshot(_client(user).get(f"/sweeps/{sweep.pk}/").content.decode())
    assert snap["analytics"] is None and len(snap["trials"]) == limits.TRIAL_ROWS


def test_sweep_page_is_gzipped_when_the_browser_accepts_it(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, step=999)
    add_points(trial, "train_loss", range(1000), [0.5] * 1000)
    response = _client(user).get(f"/sweeps/{sweep.pk}/", HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
    assert b"chart-loss" in gzip.decompress(response.content)


def test_trial_page_shows_params_results_events_and_error(user: Any) -> None:
    data = build_sha_sweep(user)
    trial = data["trials"][2]
    trial.error = "CUDA out of memory"
    trial.save(update_fields=["error"])
    from sweeps.services import record_event

    record_event(data["sweep"], "paused", "trial 2 paused", trial=trial, user=user)
    add_points(trial, "val_acc", [10, 20], [0.5, 0.6])
    html = _client(user).get(f"/sweeps/{data['sweep'].pk}/trials/2/").content.decode()
    assert "CUDA out of memory" in html
    assert "trial 2 paused" in html and "alice" in html
    assert "<th>lr</th>" in html
    snap = _snapshot(html)
    assert snap["series"]["val_acc"] == {"step": [10, 20], "value": [0.5, 0.6]}
    assert snap["trial"]["number"] == 2


def test_sweep_list_shows_progress_best_and_sparkline(user: Any, other_user: Any) -> None:
    data = build_sha_sweep(user)
    hidden = make_sweep(other_user, name="not yours")
    html = _client(user).get("/").content.decode()
    assert f'href="/sweeps/{data["sweep"].pk}/"' in html
    assert "not yours" not in html and f"/sweeps/{hidden.pk}/" not in html
    assert "0.05" in html  # best rung result
    assert "<polyline points=" in html
    assert "5 / 20" in html


def test_plotly_is_served_from_the_package_with_long_caching(user: Any) -> None:
    from dashboard.views import PLOTLY_JS, plotly_url

    url = plotly_url()
    assert re.fullmatch(r"/vendor/plotly-[0-9a-f]{16}\.min\.js", url)
    page = _client(user).get(f"/sweeps/{make_sweep(user).pk}/").content.decode()
    assert f'<script src="{url}"></script>' in page
    anonymous = Client()
    response = anonymous.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert "immutable" in response["Cache-Control"]
    assert gzip.decompress(response.content) == PLOTLY_JS.read_bytes()
    plain = anonymous.get(url)
    assert plain.content[:2000] == PLOTLY_JS.read_bytes()[:2000]
    assert anonymous.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_snapshot_cannot_close_its_script_element(user: Any) -> None:
    sweep = make_sweep(user, name="</script><script>alert(1)</script>")
    make_trial(sweep, 1, params={"lr": 0.01, "layers": 1, "opt": "</script><b>x</b>"})
    html = _client(user).get(f"/sweeps/{sweep.pk}/").content.decode()
    assert "<script>alert(1)" not in html and "<b>x</b>" not in html
    snap = _snapshot(html)
    assert snap["sweep"]["name"] == "</script><script>alert(1)</script>"
    assert snap["trials"][0]["params"]["opt"] == "</script><b>x</b>"


def test_sweep_page_draws_the_same_curves_from_rollups_as_from_every_point(user: Any) -> None:
    import math
    import random

    from sweeps.ingest import roll_up
    from sweeps.models import SeriesRollup

    rng = random.Random(3)
    sweep = make_sweep(user, status="paused")

    def log(trial: Any, steps: range) -> None:
        loss = [math.exp(-s / 200) + 0.05 * rng.random() for s in steps]
        loss[len(loss) // 2] = 40.0 + trial.number  # a spike
        add_points(trial, "train_loss", steps, loss)
        add_points(trial, "grad_norm", steps, [2 * v + rng.random() for v in loss])
        add_points(trial, "lr", steps, [0.1 / (1 + s) for s in steps])

    for n in range(1, 5):
        trial = make_trial(sweep, n, status="stopped", step=1200)
        log(trial, range(1, 1201))
        roll_up(trial)  # its last segment ended
    live = make_trial(sweep, 5, status="running", worker="w", step=300)
    log(live, range(1, 301))
    roll_up(live)
    log(live, range(301, 700))  # past its rollups: the segment in flight
    page = _snapshot(_client(user).get(f"/sweeps/{sweep.pk}/").content.decode())
    SeriesRollup.objects.all().delete()  # as before rollups: thinned from every point
    before = _snapshot(_client(user).get(f"/sweeps/{sweep.pk}/").content.decode())
    assert page["cursor"] == before["cursor"]
    assert page["figures"] == before["figures"]
    traces = {t["meta"]["trial"]: t for t in page["figures"]["loss"]["data"]}
    assert len(traces) == 5 and all(len(t["x"]) < 700 for t in traces.values())
    assert 45.0 in traces[live.pk]["y"] and traces[live.pk]["x"][-1] == 699


def test_first_render_fits_no_forest_and_the_socket_brings_importance(
    user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.cache import cache

    from dashboard import analytics
    from sweeps import queries

    cache.clear()
    data = build_sha_sweep(user)
    fits: list[int] = []

    def forest(*args: Any, **kwargs: Any) -> dict[str, float]:
        fits.append(1)
        return {"lr": 0.75, "layers": 0.25, "opt": 0.0}

    monkeypatch.setattr(analytics, "param_importance", forest)
    url = f"/sweeps/{data['sweep'].pk}/"
    first = _snapshot(_client(user).get(url).content.decode())["analytics"]["importance"]
    assert fits == [] and first["layout"]["annotations"][0]["text"] == "computing…"
    # The live tailer computes the panels off the request path as the page's socket opens.
    trials, results = queries.trial_rows(data["sweep"]), queries.rung_results(data["sweep"])
    pushed = analytics.panels(queries.summarize(data["sweep"], trials), trials, results)
    assert fits == [1] and pushed["importance"]["data"][0]["y"] == ["opt", "layers", "lr"]
    again = _snapshot(_client(user).get(url).content.decode())["analytics"]["importance"]
    assert fits == [1] and again == pushed["importance"]  # from the cache, no second fit
