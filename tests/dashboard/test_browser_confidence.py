"""The science fair's confidence in the bracket, in a real browser: each result with its
interval, the cells within noise of the cut, and each rung's rank correlation with the next.
The screenshot goes to ``test-artifacts/bracket-confidence.png``."""

from __future__ import annotations

from sweeps.models import RungResult
from tests.dashboard.conftest import make_sweep, make_trial
from tests.dashboard.test_browser import BrowserCase, pytestmark  # noqa: F401 (the marks)


class TestBracketConfidence(BrowserCase):
    def test_intervals_noise_and_rank_correlation_are_shown(self) -> None:
        sweep = make_sweep(
            self.user, scheduler={"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3}
        )
        # Nine trials at rung 0; the best three went on and finished rung 1. Trial 4 (0.52)
        # was cut, but its interval (± 1.96 x 0.05) reaches across the cut line at 0.51.
        values = [0.30, 0.40, 0.50, 0.52, 0.60, 0.70, 0.80, 0.90, 1.00]
        later = {1: 0.20, 2: 0.25, 3: 0.33}
        for number, value in enumerate(values, start=1):
            on = number in later
            trial = make_trial(sweep, number, status="waiting" if on else "stopped",
                               rung=1 if on else 0, budget=3.0 if on else 1.0)  # fmt: skip
            se = 0.05 if number == 4 else 0.002
            RungResult.objects.create(
                sweep=sweep, trial=trial, rung=0, budget=1, value=value, se=se
            )
            if on:
                RungResult.objects.create(sweep=sweep, trial=trial, rung=1, budget=3,
                                          value=later[number], se=0.002)  # fmt: skip
        self.open_sweep(sweep.pk)
        self.page.wait_for_selector("#bracket .rung .cell")
        noisy = self.page.eval_on_selector_all(
            "#bracket .rung[data-rung='0'] .cell.noise", "els => els.map(e => e.dataset.number)"
        )
        assert noisy == ["4"]
        interval = self.page.locator("#bracket .rung[data-rung='0'] .cell[data-number='4'] .pm")
        assert interval.inner_text() == "±0.098"
        corr = self.page.locator("#bracket .rung[data-rung='0'] .rung-head .corr").inner_text()
        assert corr == "ρ→next 1.00 (n=3)"
        assert self.page.locator("#bracket .rung[data-rung='1'] .rung-head .corr").count() == 0
        self.page.locator("#bracket").screenshot(path=str(self._artifact("bracket-confidence.png")))

    def _artifact(self, name: str) -> object:
        from tests.dashboard.test_browser import ARTIFACTS

        ARTIFACTS.mkdir(exist_ok=True)
        return ARTIFACTS / name
