"""The live page in a real browser (Playwright + Debian chromium) against a live daphne.

pytest-django's ``live_server`` has no WebSocket, so these use channels'
``ChannelsLiveServerTestCase`` (a forked daphne on the file test database). Screenshots of
the sweep page go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from channels.testing import ChannelsLiveServerTestCase
from daphne.testing import DaphneProcess
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from sweeps.models import MetricPoint, Sweep, Trial
from tests.dashboard.conftest import add_points, build_sha_sweep, make_sweep, make_trial

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium"),
]


def _server_setup() -> None:
    """Runs in the forked daphne before it serves."""
    from asgiref.sync import SyncToAsync
    from channels.layers import channel_layers

    # No set_database_connection(): the forked settings already name the test database
    # (with PostgreSQL it would prefix "test_" a second time).
    # Threads do not survive a fork: an executor (or a channel layer bound to an event loop)
    # left from an earlier async test in this process would hang the server.
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)
    channel_layers.backends = {}


class _Daphne(DaphneProcess):
    def __init__(self, host: str, get_application: Callable[[], Any], **kwargs: Any) -> None:
        kwargs["setup"] = _server_setup
        super().__init__(host, get_application, **kwargs)


class BrowserCase(ChannelsLiveServerTestCase):
    """A logged-in chromium page on the live server."""

    host = "127.0.0.1"
    ProtocolServerProcess = _Daphne
    serve_static = True

    @classmethod
    def setUpClass(cls) -> None:
        _close_connections_before_fork()
        super().setUpClass()
        from playwright.sync_api import sync_playwright

        cls._pw = sync_playwright().start()
        cls.browser = cls._pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.browser.close()
        cls._pw.stop()
        super().tearDownClass()

    def setUp(self) -> None:
        self.user = get_user_model().objects.create_user("alice", password="alice-password")
        self.context = self.browser.new_context(viewport={"width": 1400, "height": 1800})
        self.context.add_cookies([self.session_cookie(self.user)])
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(f"{exc}\n{exc.stack}"))
        self.page.on("dialog", lambda dialog: dialog.accept())  # "Kill trial 3?" -> OK

    def tearDown(self) -> None:
        self.context.close()
        assert not self.errors, self.errors

    def session_cookie(self, user: Any) -> dict[str, Any]:
        client = Client()
        client.force_login(user)
        return {
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": self.live_server_url,
        }

    def open_sweep(self, sweep_id: int) -> None:
        response = self.page.goto(f"{self.live_server_url}/sweeps/{sweep_id}/")
        assert response is not None and response.status == 200, self.page.content()[:3000]
        self.page.wait_for_function("document.getElementById('live').textContent === 'live'")

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self.diagnostics()}")

    def diagnostics(self) -> str:
        return ""

    def trace_lengths(self, chart: str = "loss") -> dict[str, int]:
        return self.page.evaluate(
            "(id) => Object.fromEntries((document.getElementById(id).data || [])"
            ".map(t => [t.uid, t.x.length]))",
            f"chart-{chart}",
        )

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)


class TestLivePage(BrowserCase):
    def test_bracket_shows_rung_sizes_promotions_and_marks(self) -> None:
        data = build_sha_sweep(self.user)
        for trial in (data["trials"][n] for n in (3, 4, 5)):
            add_points(trial, "train_loss", range(5), [1.0 - i / 10 for i in range(5)])
        self.open_sweep(data["sweep"].pk)
        sizes = self.page.eval_on_selector_all(
            "#bracket .rung", "els => els.map(e => Number(e.dataset.size))"
        )
        assert sizes == [9, 4, 1]
        heads = self.page.eval_on_selector_all(
            "#bracket .rung-head strong", "els => els.map(e => e.textContent)"
        )
        assert heads == ["1 epoch", "3 epochs", "9 epochs"]
        assert self.page.locator("svg.links path.link").count() == 5
        manual = self.page.locator("svg.links path.link.manual")
        assert manual.count() == 1
        assert manual.get_attribute("stroke-dasharray") == "5 4"
        assert manual.get_attribute("data-trial") == str(data["trials"][6].pk)
        cell6 = self.page.locator('.rung[data-rung="1"] .cell[data-number="6"]')
        assert cell6.get_attribute("data-manual") == "1"
        assert cell6.locator(".manual-badge").count() == 1
        assert self.page.locator('.rung[data-rung="0"] .cell.state-cut').count() == 3
        assert self.page.locator(".cell.state-killed").count() == 1
        assert self.page.locator(".cell.state-diverged").count() == 1
        assert self.page.locator(".cell.state-paused").count() == 1
        running = self.page.locator(".cell.state-running").first
        assert running.evaluate("e => getComputedStyle(e, '::after').animationName") == "pulse"

        # Clicking a cell selects the trial everywhere: the table row too, and its curve is
        # drawn wider while the others fade (the drawn lines, as the browser shows them); a
        # second click undoes it.
        def styles() -> dict[int, tuple[float, float]]:
            return {t: (o, w) for t, o, w in self.page.evaluate(
                """Array.from(document.querySelectorAll('#chart-loss .scatterlayer .trace'),
                   (g) => [g.__data__[0].trace.meta.trial, Number(getComputedStyle(g).opacity),
                           parseFloat(getComputedStyle(g.querySelector('path.js-line')).strokeWidth)])""")}  # fmt: skip

        chosen = data["trials"][4].pk
        cell4 = self.page.locator('.rung[data-rung="0"] .cell[data-number="4"]')
        cell4.click()
        row = self.page.locator(f'#trials tr[data-trial="{chosen}"]')
        assert "selected" in (row.get_attribute("class") or "")
        lit = styles()
        assert len(lit) == 3 and lit[chosen][0] == 1, lit
        assert all(o == 0.18 and w < lit[chosen][1] for t, (o, w) in lit.items() if t != chosen)
        cell4.click()
        assert {o for o, _ in styles().values()} == {1}
        cell4.click()
        self.screenshot("sweep-bracket.png")

    def test_a_live_row_keeps_its_buttons_while_its_other_cells_change(self) -> None:
        # A button written anew under the pointer loses the click (seen as a Kill that
        # would not take while its trial trained): only the cells that changed are written.
        sweep = make_sweep(self.user, status="running")
        trial = make_trial(sweep, 1, status="running", worker="w1", step=3)
        self.open_sweep(sweep.pk)
        row = f'#trials tr[data-trial="{trial.pk}"]'
        self.page.eval_on_selector(f'{row} button[data-action="kill"]', "b => { b.__kept = 1; }")
        Trial.objects.filter(pk=trial.pk).update(step=7, worker="w2")
        self.wait(lambda: self.page.text_content(f"{row} td.step") == "7", 10, "the new step")
        assert "w2" in self.page.inner_text(row)
        kept = self.page.eval_on_selector(f'{row} button[data-action="kill"]', "b => b.__kept")
        assert kept == 1

    def test_curves_grow_without_reload(self) -> None:
        sweep = make_sweep(self.user)
        trial = make_trial(sweep, 1, status="running", worker="w1")
        add_points(trial, "train_loss", range(10), [1.0 - i / 50 for i in range(10)])
        self.open_sweep(sweep.pk)
        key = f"{trial.pk}:train_loss"
        assert self.trace_lengths()[key] == 10
        for start in (10, 20):
            add_points(trial, "train_loss", range(start, start + 10), [0.5] * 10)
            add_points(trial, "grad_norm", range(start, start + 10), [1.0] * 10)
            self.wait(
                lambda s=start: self.trace_lengths().get(key) == s + 10, 5, "the curve to grow"
            )
        # Each bulk insert commits on its own, so the gradient points may reach the page
        # one poll after the loss points: wait for them, then check nothing was doubled.
        grad_key = f"{trial.pk}:grad_norm"
        self.wait(lambda: self.trace_lengths("grad").get(grad_key) == 20, 5, "gradient norms")
        assert self.trace_lengths() == {key: 30}
        # A trial that appears later gets its own curve, in its own colour.
        second = make_trial(sweep, 2, status="running")
        add_points(second, "train_loss", range(5), [0.9] * 5)
        self.wait(
            lambda: self.trace_lengths().get(f"{second.pk}:train_loss") == 5, 5, "a new curve"
        )
        assert self.page.locator(f'#trials tr[data-trial="{second.pk}"]').count() == 1

    def inject(self, trial_id: int, waves: list[list[list[int]]], value: float = 0.6) -> None:
        """Hand the page increments as its socket would (one list of steps each; a wave's
        increments in one task, the next wave in a later task while the first is drawn)."""
        self.page.evaluate(
            """([trial, waves, value]) => new Promise((done) => {
              const ws = RungsPage.socket.state.ws;
              let cursor = RungsPage.socket.state.cursor;
              const send = (steps) => {
                const now = Date.now() / 1000;
                ws.onmessage({data: JSON.stringify({type: "inc", cursor: ++cursor, tmax: now, tmin: now,
                  points: [{t: trial, n: "train_loss", s: steps, v: steps.map(() => value)}]})});
              };
              const next = (i) => {
                if (i === waves.length) { setTimeout(done, 0); return; }
                waves[i].forEach(send);
                setTimeout(() => next(i + 1), 0);
              };
              next(0);
            })""",
            [trial_id, waves, value],
        )

    def open_running_trial(self, losses: list[float]) -> tuple[Any, str]:
        """A running trial with ``losses`` at steps 0, 1, ...; its sweep's page open.
        Returns the trial and its loss curve's key."""
        sweep = make_sweep(self.user)
        trial = make_trial(sweep, 1, status="running", worker="w1")
        add_points(trial, "train_loss", range(len(losses)), losses)
        self.open_sweep(sweep.pk)
        return trial, f"{trial.pk}:train_loss"

    def count_full_draws(self) -> None:
        """Count the loss chart's full redraws (other panels redraw when analytics come)."""
        self.page.evaluate(
            "() => { window.fullDraws = 0; const react = Plotly.react;"
            " const loss = document.getElementById('chart-loss');"
            " Plotly.react = (gd, ...rest) => { if (gd === loss) window.fullDraws += 1;"
            " return react(gd, ...rest); }; }"
        )

    def loss_view(self, key: str) -> dict[str, Any]:
        """The loss chart's axis ranges, and of trace ``key``: its steps, the points Plotly
        computed, where its drawn line ends and where its last point should be (pixels)."""
        return self.page.evaluate(
            "(key) => { const gd = document.getElementById('chart-loss');"
            " const i = gd.data.findIndex((t) => t.uid === key);"
            " const g = Array.from(gd.querySelectorAll('.scatterlayer .trace'))"
            "   .find((n) => n.__data__[0].trace.index === i);"
            " const lines = g.querySelectorAll('path.js-line');"
            " const d = lines[lines.length - 1].getAttribute('d');"
            " const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, n = gd.data[i].x.length;"
            " return {x: xa.range, y: ya.range, steps: gd.data[i].x, computed: gd.calcdata[i].length,"
            " full: window.fullDraws, draws: Rungs.latency.length,"
            " end: d.slice(d.lastIndexOf('L') + 1).split(',').map(Number),"
            " last: [xa.c2p(gd.data[i].x[n - 1]), ya.c2p(gd.data[i].y[n - 1])]}; }",
            key,
        )

    def test_increments_are_gathered_and_drawn_in_place_once_each(self) -> None:
        trial, key = self.open_running_trial([1.0 - i / 400 for i in range(200)])
        assert self.trace_lengths()[key] == 200
        self.count_full_draws()
        self.page.evaluate("Rungs.latency.length = 0")
        # Two waves of 10 increments of 2 points (steps 200..239), inside the view: the x
        # axis of a live trial reaches a quarter past its last step.
        steps = iter(range(200, 240))
        waves = [[[next(steps), next(steps)] for _ in range(10)] for _ in range(2)]
        self.inject(trial.pk, waves)
        self.wait(lambda: self.trace_lengths()[key] == 240, 5, "the 40 new points")
        drawn = self.loss_view(key)
        assert drawn["steps"] == list(range(240)), "no point drawn twice, none left out"
        assert drawn["end"] == pytest.approx(drawn["last"], abs=0.01), "the line reaches them"
        assert drawn["computed"] == 200, "drawn by extending the line, before Plotly computes"
        assert drawn["full"] == 0, "appends inside the view need no full redraw"
        assert 1 <= drawn["draws"] <= 2, "20 increments gathered into one draw per wave at most"
        # Once the pointer is on the chart (its corner, away from the curve), Plotly takes
        # them too (hover finds them), drawing the same line.
        self.page.hover("#chart-loss", position={"x": 3, "y": 3})
        synced = self.wait(lambda: (d := self.loss_view(key))["computed"] == 240 and d, 5, "Plotly")
        assert synced["end"] == pytest.approx(synced["last"], abs=0.01)
        assert synced["steps"] == list(range(240)) and synced["full"] == 0

    def test_a_point_past_the_x_range_widens_it_and_one_off_the_y_range_redraws(self) -> None:
        trial, key = self.open_running_trial([0.5] * 100)
        reach = self.loss_view(key)["x"][1]
        assert reach >= 99 + 20, "a live trial's x axis reaches past its last step"
        self.count_full_draws()
        beyond = int(reach) + 5
        self.inject(trial.pk, [[[100, 101]], [[beyond]]])
        self.wait(lambda: self.trace_lengths()[key] == 103, 5, "the new points")
        view = self.loss_view(key)
        assert view["x"][1] > beyond and view["full"] == 0, view
        assert view["end"] == pytest.approx(view["last"], abs=0.01), "the line reaches the point"
        # A value off the y range has Plotly compute the figure again.
        self.inject(trial.pk, [[[beyond + 1]]], value=50)
        self.wait(lambda: self.trace_lengths()[key] == 104, 5, "the high point")
        view = self.wait(lambda: (v := self.loss_view(key))["full"] >= 1 and v, 5, "a redraw")
        assert view["y"][1] > 50, view

    def test_a_zoomed_x_axis_keeps_its_view_until_reset(self) -> None:
        trial, key = self.open_running_trial([0.5] * 100)
        # What a drag-zoom does: a relayout with the axis' range ends as separate keys.
        self.page.evaluate(
            "Plotly.relayout('chart-loss', {'xaxis.range[0]': 10, 'xaxis.range[1]': 50})"
        )
        steps = iter(range(100, 400))
        self.inject(trial.pk, [[[next(steps) for _ in range(50)]] for _ in range(6)])
        self.wait(lambda: self.trace_lengths()[key] == 400, 5, "the new points")
        assert self.loss_view(key)["x"] == [10, 50], "the zoom stays"
        # A double click resets it: the page's range takes the points in again.
        self.page.evaluate("Plotly.relayout('chart-loss', {'xaxis.autorange': true})")
        self.wait(lambda: self.loss_view(key)["x"][1] > 399 + 20, 5, "the page's range")

    def test_kill_button_on_a_trial_row(self) -> None:
        sweep = make_sweep(self.user)
        trial = make_trial(sweep, 1, status="running", worker="w1")
        self.open_sweep(sweep.pk)
        self.page.locator(f'#trials tr[data-trial="{trial.pk}"] button[data-action="kill"]').click()
        self.page.wait_for_selector(
            f'#trials tr[data-trial="{trial.pk}"][data-status="killed"]', timeout=5000
        )
        trial.refresh_from_db()
        assert trial.status == "killed"

    def test_steering_errors_name_the_field_on_the_page(self) -> None:
        sweep = make_sweep(self.user)
        self.open_sweep(sweep.pk)
        self.page.fill('#enqueue input[name="lr"]', "5")  # above the space's high of 0.1
        self.page.evaluate(
            "document.querySelector('#enqueue input[name=lr]').removeAttribute('max')"
        )
        self.page.click("#enqueue button[type=submit]")
        error = self.page.locator('#enqueue label[data-param="lr"] .field-error')
        error.wait_for(timeout=5000)
        self.wait(lambda: error.text_content(), 5, "the field error")
        assert not Trial.objects.filter(sweep=sweep).exists()

    def test_trial_page_live_curves_actions_and_events(self) -> None:
        from sweeps.services import record_event

        sweep = make_sweep(self.user)
        trial = make_trial(sweep, 1, status="running", worker="w1")
        record_event(sweep, "segment_started", "trial 1 rung 0 on w1", trial=trial)
        add_points(trial, "val_acc", [10, 20], [0.5, 0.6])
        response = self.page.goto(f"{self.live_server_url}/sweeps/{sweep.pk}/trials/1/")
        assert response is not None and response.status == 200
        self.page.wait_for_function("document.getElementById('live').textContent === 'live'")
        visible = self.page.eval_on_selector_all(
            "#trial-controls button", "els => els.filter(e => !e.hidden).map(e => e.dataset.action)"
        )
        assert visible == ["kill", "pause"]
        add_points(trial, "train_loss", range(5), [1.0] * 5)
        self.page.wait_for_selector("#metric-train_loss .main-svg", timeout=5000)
        # The second metric's card narrows the first: its chart follows, not spilling over.
        fits = """() => { const d = document.getElementById('metric-val_acc');
                          return d._fullLayout.width <= d.parentElement.clientWidth; }"""
        self.wait(lambda: self.page.evaluate(fits), 5, "the first chart to fit its card")
        self.screenshot("trial-live.png")
        self.page.locator('#trial-controls button[data-action="kill"]').click()
        self.page.wait_for_selector('#trial-page[data-status="killed"]', timeout=5000)
        # Events: the page's own rows are not repeated by the socket, the kill is added.
        self.wait(lambda: self.page.locator("#trial-events tbody tr").count() == 2, 5, "2 events")
        kinds = self.page.eval_on_selector_all(
            "#trial-events tbody tr td:nth-child(3)", "els => els.map(e => e.textContent)"
        )
        assert kinds == ["segment_started", "killed"]

    def test_foreign_origin_and_anonymous_sockets_are_refused(self) -> None:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        sweep = make_sweep(self.user)
        url = f"{self.live_server_ws_url}/ws/sweeps/{sweep.pk}/"
        cookie = self.session_cookie(self.user)
        good = {"Cookie": f"{cookie['name']}={cookie['value']}"}
        with connect(url, origin=self.live_server_url, additional_headers=good) as ws:
            assert '"type":"snapshot"' in ws.recv(timeout=10)
        with pytest.raises(InvalidStatus) as foreign:
            connect(url, origin="http://evil.example", additional_headers=good)
        assert foreign.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as anonymous:
            connect(url, origin=self.live_server_url)
        assert anonymous.value.response.status_code == 403


class ActionButtons(BrowserCase):
    """Helpers that read the steering buttons the page shows now."""

    def sweep_buttons(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "#sweep-actions button", "els => els.map(e => e.dataset.action)"
        )

    def row_buttons(self, trial: Any) -> list[str]:
        return self.page.eval_on_selector_all(
            f'#trials tr[data-trial="{trial.pk}"] button', "els => els.map(e => e.dataset.action)"
        )

    def offered(self, selector: str) -> bool:
        return self.page.eval_on_selector(selector, "el => !el.hidden && el.offsetParent !== null")


class TestButtonsFollowActions(ActionButtons):
    """The page shows what each row's ``actions`` allow, and follows pushed rows."""

    def test_a_completed_sweep_offers_no_pause_resume_or_cancel_until_it_runs_again(self) -> None:
        sweep = make_sweep(self.user, status="completed")
        make_trial(sweep, 1, status="completed", rung=2, budget=9, resource_done=9,
                   checkpoint="/ckpt/1")  # fmt: skip
        self.open_sweep(sweep.pk)
        assert self.sweep_buttons() == []
        assert self.offered("#sweep-update") and self.offered('[data-offer="enqueue"]')
        self.screenshot("sweep-completed-actions.png")
        # Pushed, not reloaded: the page keeps a marker that a reload would lose.
        self.page.evaluate("window.__same_page = true")
        Sweep.objects.filter(pk=sweep.pk).update(status="running")
        self.wait(lambda: self.sweep_buttons() == ["pause_sweep", "cancel_sweep"], 10,
                  "Pause and Cancel on the running sweep")  # fmt: skip
        Sweep.objects.filter(pk=sweep.pk).update(status="cancelled")
        self.wait(lambda: not self.offered("#sweep-update"), 10, "no update form when cancelled")
        assert self.sweep_buttons() == [] and not self.offered('[data-offer="enqueue"]')
        assert self.page.evaluate("window.__same_page") is True
        self.screenshot("sweep-cancelled-actions.png")

    def test_a_trial_whose_checkpoint_is_gone_offers_no_promote_or_extend(self) -> None:
        sweep = make_sweep(self.user, status="completed")
        done = {"rung": 2, "budget": 9, "resource_done": 9}
        gone_cut = make_trial(sweep, 1, status="stopped", rung=0, resource_done=1, checkpoint="")
        gone_done = make_trial(sweep, 2, status="completed", checkpoint="", **done)
        kept_cut = make_trial(sweep, 3, status="stopped", rung=0, resource_done=1, checkpoint="c")
        kept_done = make_trial(sweep, 4, status="completed", checkpoint="c", **done)
        self.open_sweep(sweep.pk)
        assert self.row_buttons(gone_cut) == [] and self.row_buttons(gone_done) == []
        assert self.row_buttons(kept_cut) == ["promote"]
        assert self.row_buttons(kept_done) == ["extend"]
        self.screenshot("sweep-checkpoint-gone.png")
        response = self.page.goto(f"{self.live_server_url}/sweeps/{sweep.pk}/trials/2/")
        assert response is not None and response.status == 200
        self.page.wait_for_function("document.getElementById('live').textContent === 'live'")
        assert self.page.locator("#trial-controls button").count() == 0

    def test_trial_buttons_change_with_a_pushed_status_without_a_reload(self) -> None:
        sweep = make_sweep(self.user)
        trial = make_trial(sweep, 1, status="running", worker="w1")
        self.open_sweep(sweep.pk)
        assert self.row_buttons(trial) == ["kill", "pause"]
        self.page.evaluate("window.__same_page = true")
        Trial.objects.filter(pk=trial.pk).update(status="paused", worker="")
        self.wait(lambda: self.row_buttons(trial) == ["kill", "resume"], 10, "Resume offered")
        # Cancelling the sweep takes every trial's buttons away, though the trial row itself
        # did not change.
        Sweep.objects.filter(pk=sweep.pk).update(status="cancelled")
        self.wait(lambda: self.row_buttons(trial) == [], 10, "no trial actions when cancelled")
        assert self.page.evaluate("window.__same_page") is True


class TestToyAction(ActionButtons):
    """One action registered in the registry alone is offered as a button where allowed."""

    @classmethod
    def setUpClass(cls) -> None:
        from sweeps.actions import registered
        from tests.toy_action import CUT

        # Before the server forks: it inherits the registry with the toy in it.
        cls._toy = registered(CUT)
        cls._toy.__enter__()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        cls._toy.__exit__(None, None, None)

    def test_the_toy_button_shows_only_from_the_statuses_it_is_allowed_from(self) -> None:
        sweep = make_sweep(self.user)
        waiting = make_trial(sweep, 1, status="waiting")
        running = make_trial(sweep, 2, status="running", worker="w1")
        self.open_sweep(sweep.pk)
        assert self.row_buttons(waiting) == ["kill", "pause", "promote", "cut"]
        assert "cut" not in self.row_buttons(running)
        label = self.page.locator(
            f'#trials tr[data-trial="{waiting.pk}"] button[data-action="cut"]'
        )
        assert label.text_content() == "Cut"
        self.screenshot("sweep-toy-action.png")
        label.click()
        self.page.wait_for_selector(
            f'#trials tr[data-trial="{waiting.pk}"][data-status="stopped"]', timeout=5000
        )
        assert self.row_buttons(waiting) == ["promote"]
        assert Trial.objects.get(pk=waiting.pk).status == "stopped"
        Trial.objects.filter(pk=running.pk).update(status="waiting", worker="")
        self.wait(lambda: "cut" in self.row_buttons(running), 10, "Cut offered once waiting")


@pytest.mark.slow
class TestRealWorker(BrowserCase):
    """A sweep trained by a real Celery worker while the page watches and steers it."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.private = Path(tempfile.mkdtemp(prefix="rungs-browser-"))
        cls._broker_env, cls._restore_broker = _isolate_broker(cls.private)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        cls._restore_broker()
        shutil.rmtree(cls.private, ignore_errors=True)

    def setUp(self) -> None:
        super().setUp()
        from tests.workers import Worker, test_database_env

        env = test_database_env()
        env.update(self._broker_env)
        env.update(RUNGS_LEASE_SECONDS="3", RUNGS_HEARTBEAT_SECONDS="0.5",
                   RUNGS_CHECKPOINT_DIR=str(self.private / "ckpt"))  # fmt: skip
        self.worker = Worker(env, self.private)
        self.worker.start()

    def tearDown(self) -> None:
        self.worker.kill()
        super().tearDown()

    def diagnostics(self) -> str:
        return self.worker.logs()

    def test_watch_kill_and_promote_a_running_sweep(self) -> None:
        from sweeps import services

        spec = {
            "name": "watched",
            "trainer": "synthetic",
            "trainer_args": {"steps_per_epoch": 40, "step_sleep": 0.05},
            "scheduler": {"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3},
            "sampler": {"name": "random"},
            "max_trials": 9,
            "concurrency": 2,
            "seed": 3,
        }
        sweep = services.create_sweep(spec, self.user)
        self.open_sweep(sweep.pk)

        # Curves grow while we watch, without a reload.
        running = self.wait(
            lambda: Trial.objects.filter(sweep=sweep, status="running").exclude(worker="").first(),
            60, "a running trial",
        )  # fmt: skip
        key = f"{running.pk}:train_loss"
        first = self.wait(lambda: self.trace_lengths().get(key), 20, "its curve")
        self.wait(lambda: self.trace_lengths().get(key, 0) > first + 5, 20, "the curve to grow")
        self.screenshot("sweep-live-worker.png")

        # Kill it from its row: the worker stops within a few seconds and the page says so.
        row = f'#trials tr[data-trial="{running.pk}"]'
        self.page.locator(f'{row} button[data-action="kill"]').click()
        self.page.wait_for_selector(f'{row}[data-status="killed"]', timeout=5000)
        self.wait(lambda: not Trial.objects.filter(pk=running.pk).exclude(worker="").exists(),
                  10, "the worker to let go of the killed trial")  # fmt: skip
        count = MetricPoint.objects.filter(trial=running).count()
        time.sleep(1.0)
        assert MetricPoint.objects.filter(trial=running).count() == count, "still training"
        assert self.page.locator(f'.cell[data-trial="{running.pk}"].state-killed').count() == 1

        # Promote a trial the scheduler cut: it goes to rung 1, drawn as a manual promotion.
        cut = self.wait(
            lambda: Trial.objects.filter(sweep=sweep, status="stopped", worker="").first(),
            120, "a cut trial",
        )  # fmt: skip
        self.page.wait_for_selector(
            f'{"#trials"} tr[data-trial="{cut.pk}"][data-status="stopped"]', timeout=5000
        )
        self.page.locator(
            f'#trials tr[data-trial="{cut.pk}"] button[data-action="promote"]'
        ).click()
        link = f'svg.links path.link.manual[data-trial="{cut.pk}"][data-from="0"]'
        self.page.wait_for_selector(link, state="attached", timeout=10000)
        assert (
            self.page.locator(f'.rung[data-rung="1"] .cell[data-trial="{cut.pk}"]').get_attribute(
                "data-manual"
            )
            == "1"
        )
        cut.refresh_from_db()
        assert cut.rung == 1 and 1 in cut.manual_rungs
        self.screenshot("sweep-manual-promotion.png")


def _close_connections_before_fork() -> None:
    """An SQLite connection must not cross a fork: the server would inherit it, and closing
    it there drops the locks of its own connections (reads then see a stale database)."""
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from dashboard import tailer

    connections.close_all()
    tailer.close_connections()
    executor = getattr(SyncToAsync, "single_thread_executor", None)
    if executor is not None:
        executor.submit(connections.close_all).result()


def _isolate_broker(private: Path) -> tuple[dict[str, str], Callable[[], None]]:
    """Point this process, the forked server and the worker at a broker of their own, so
    other test runs sharing var/ or Redis neither take our tasks nor give us theirs.
    Returns the worker's environment and a function that undoes it here."""
    from dashboard.celery import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options, settings.CHANNEL_LAYERS)
    if settings.REDIS_URL:
        url = urlparse(settings.REDIS_URL)
        private_url = url._replace(path=f"/{10 + os.getpid() % 5}").geturl()
        app.conf.broker_url = private_url
        layers = {"default": {**settings.CHANNEL_LAYERS["default"]}}
        config = layers["default"]["CONFIG"]
        layers["default"]["CONFIG"] = {
            **config,
            "hosts": [{**config["hosts"][0], "address": private_url}],
        }
        settings.CHANNEL_LAYERS = layers
        env = {"REDIS_URL": private_url}
    else:
        broker = private / "broker"
        for sub in ("out", "processed", "control"):
            (broker / sub).mkdir(parents=True, exist_ok=True)
        options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
        options.update(
            data_folder_in=str(broker / "out"), data_folder_out=str(broker / "out"),
            processed_folder=str(broker / "processed"), control_folder=str(broker / "control"),
        )  # fmt: skip
        app.conf.broker_transport_options = options
        env = {"RUNGS_VAR_DIR": str(private)}
    _drop_pool(app)

    def restore() -> None:
        app.conf.broker_url, app.conf.broker_transport_options = saved[0], saved[1]
        settings.CHANNEL_LAYERS = saved[2]
        _drop_pool(app)

    return env, restore


def _drop_pool(app: Any) -> None:
    """Forget every broker connection, so the next send uses the broker now configured.

    The producer pool (and kombu's global pools behind it) must go too: they would keep
    handing out connections of the pool closed here ("Acquire on closed pool").
    """
    from kombu import pools

    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    pools.reset()
