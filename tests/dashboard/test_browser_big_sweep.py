"""A sweep of 10,000 trials in a real browser: the page draws from a bounded first message,
stays connected and gets new points; the rest of the trial rows and a folded rung come on
request, and a trial the table does not hold is found and steered. A message that cannot fit
the socket's limit stops the page with a notice, once, instead of a reconnect loop.
Screenshot: ``test-artifacts/big-sweep-bracket.png``."""

from __future__ import annotations

import time

from django.test import override_settings

from dashboard.live import limits
from sweeps.models import Sweep, Trial
from tests.dashboard.conftest import add_points, make_sweep, make_trial
from tests.dashboard.test_browser import ARTIFACTS, BrowserCase, pytestmark  # noqa: F401
from tests.dashboard.test_socket_cap import _big_sweep

TRIALS = 10_000
# Trials waiting for their bracket's decision: more live trials than a page is shown at
# first, so the last of them are not in the table until they are found.
WAITING = range(9001, 9001 + limits.TRIAL_ROWS + 100)


class TestBigSweepPage(BrowserCase):
    def test_the_page_draws_stays_live_finds_steers_and_gets_new_points(self) -> None:
        sweep, live = _big_sweep(self.user, trials=TRIALS)
        Trial.objects.filter(sweep=sweep, number__in=WAITING).update(status="waiting")
        hidden = Trial.objects.get(sweep=sweep, number=WAITING[-1])
        add_points(hidden, "train_loss", range(3), [1.5, 1.4, 1.3])
        sockets: list[str] = []
        self.page.on("websocket", lambda ws: sockets.append(ws.url))
        self.open_sweep(sweep.pk)
        rows = self.page.locator("#trials tbody tr")
        assert rows.count() == limits.TRIAL_ROWS
        more = self.page.locator("#trials-more")
        assert more.is_visible()
        assert more.inner_text().startswith(f"Showing {limits.TRIAL_ROWS} of {TRIALS:,} trials")
        assert self.page.locator(f'#trials tr[data-trial="{live.pk}"]').count() == 1
        # The bracket came folded by the server: its rung of 3,000 shows a few rows.
        rung = self.page.locator('#bracket .rung[data-rung="0"]')
        assert int(rung.get_attribute("data-hidden") or 0) > TRIALS - 50
        assert rung.locator(".cell").count() < 50

        self.page.locator("#bracket").screenshot(path=str(ARTIFACTS / "big-sweep-bracket.png"))

        # Found through the server (the table holds 200 of 10,000 rows), then steered.
        row = self.page.locator(f'#trials tr[data-trial="{hidden.pk}"]')
        assert row.count() == 0
        self.page.fill("#trials-find", str(hidden.number))
        row.wait_for(state="visible", timeout=10_000)
        assert self.page.locator("#trials tbody tr:visible").count() == 1
        assert self.page.locator("#trials-found").inner_text() == "1 found"
        row.locator('button[data-action="pause"]').click()
        self.wait(lambda: row.get_attribute("data-status") == "paused", 10, "the trial paused")
        hidden.refresh_from_db()
        assert hidden.status == "paused"
        # Its curves were not drawn (the page draws some trials' curves, and says so):
        # selecting it brings them.
        assert f"{hidden.pk}:train_loss" not in self.trace_lengths()
        note = self.page.locator("#curves-note")
        assert note.inner_text().startswith(f"Curves of {limits.CURVE_TRIALS} of {TRIALS:,} trials")
        row.locator("td.params").click()
        self.wait(
            lambda: self.trace_lengths().get(f"{hidden.pk}:train_loss") == 3,
            10,
            "the found trial's curve",
        )
        self.page.fill("#trials-find", "")
        visible = self.page.locator("#trials tbody tr:visible")
        self.wait(lambda: visible.count() > limits.TRIAL_ROWS, 5, "every row again")
        assert row.is_visible()
        before = self.trace_lengths()[f"{live.pk}:train_loss"]
        add_points(live, "train_loss", [5, 6, 7], [0.5, 0.4, 0.3])
        self.wait(
            lambda: self.trace_lengths().get(f"{live.pk}:train_loss", 0) > before,
            10,
            "the new points on the live trial's curve",
        )

        # Cancelling the sweep re-sends every row (no actions left): the table keeps its choice.
        live_row = self.page.locator(f'#trials tr[data-trial="{live.pk}"] button')
        assert live_row.count() > 0
        Sweep.objects.filter(pk=sweep.pk).update(status="cancelled")
        self.wait(lambda: live_row.count() == 0, 15, "the live trial's buttons gone")
        # The rows it had and the live trials among those re-sent (the waiting ones it had
        # not shown): not every trial.
        assert rows.count() == 1 + len(WAITING)

        more.locator("button").click()
        self.wait(lambda: rows.count() > 600, 10, "the next page of trial rows")
        rung.locator("button.fold").click()
        self.wait(lambda: rung.locator(".cell").count() > 1000, 15, "the rung unfolded")
        time.sleep(0.5)
        assert self.page.locator("#live").inner_text() == "live"
        assert len(sockets) == 1, sockets  # never reconnected


@override_settings(RUNGS_SOCKET_MAX_BYTES=65_536)
class TestOverTheLimit(BrowserCase):
    def test_a_page_whose_message_cannot_fit_is_told_to_reload_once(self) -> None:
        sweep = make_sweep(self.user)
        make_trial(sweep, 1, params={"note": "x" * 100_000})  # one row over the limit alone
        sockets: list[str] = []
        self.page.on("websocket", lambda ws: sockets.append(ws.url))
        response = self.page.goto(f"{self.live_server_url}/sweeps/{sweep.pk}/")
        assert response is not None and response.status == 200
        notice = self.page.locator("#reload-notice")
        notice.wait_for(state="visible", timeout=10_000)
        assert "Reload the page" in notice.inner_text()
        time.sleep(2)  # a reconnect loop would have opened more sockets by now
        assert len(sockets) == 1, sockets
        assert self.page.locator("#live").inner_text() == "stopped"
