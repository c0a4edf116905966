"""The LR range test pages in a real browser: ask for a test, watch it finish, see its plot
and take its suggested range. The screenshot goes to ``test-artifacts/lr-range.png``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from sweeps.models import LRRangeTest
from tests.dashboard.test_browser import BrowserCase, pytestmark  # noqa: F401 (the marks)
from trainers.lr_range import run_stored_test


class TestLRRangePage(BrowserCase):
    def test_ask_for_a_test_then_see_its_curve_and_range(self) -> None:
        self.page.goto(f"{self.live_server_url}/lr-range-tests/")
        form = self.page.locator("#lr-range-form")
        form.locator("input[name=trainer]").fill("synthetic")
        form.locator("input[name=params]").fill('{"width": 64, "momentum": 0.5}')
        form.locator("input[name=high]").fill("0")
        form.locator("button[type=submit]").click()
        # A bad value is named and nothing is created.
        self.page.wait_for_selector("#lr-errors:not([hidden])")
        assert "high: must be" in self.page.locator("#lr-errors").inner_text()
        assert not LRRangeTest.objects.exists()
        form.locator("input[name=high]").fill("10")
        form.locator("button[type=submit]").click()
        self.page.wait_for_selector("#lr-range-page[data-status=queued]")
        test = LRRangeTest.objects.get()
        run_stored_test(test.pk, "test:1")  # the worker's part, here
        self.page.wait_for_selector("#lr-range-page[data-status=done]", timeout=8000)
        self.page.wait_for_selector("#lr-plot .main-svg")
        test.refresh_from_db()
        axis = self.page.evaluate("document.getElementById('lr-plot')._fullLayout.xaxis.type")
        assert axis == "log"
        low, high = test.suggested["low"], test.suggested["high"]
        shown = self.page.locator("#lr-range-text").inner_text()
        assert shown == f"{float(f'{low:.3g}'):.3g} to {float(f'{high:.3g}'):.3g}".replace(
            "e-0", "e-"
        )
        link = urlparse(self.page.locator("#lr-use").get_attribute("href"))
        query = parse_qs(link.query)
        assert link.path == "/sweeps/new/" and query["trainer"] == ["synthetic"]
        assert float(query["lr_low"][0]) == float(f"{low:.3g}")
        assert float(query["lr_high"][0]) == float(f"{high:.3g}")
        self.screenshot("lr-range.png")
