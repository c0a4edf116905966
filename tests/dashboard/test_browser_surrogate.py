"""The Explain panel of a Bayesian sweep in a real browser: the model along a parameter, its
title saying which rung the model is fitted on and why, drawn inside the figure. The
screenshot goes to ``test-artifacts/surrogate.png``."""

from __future__ import annotations

from tests.dashboard.test_browser import ARTIFACTS, BrowserCase, pytestmark  # noqa: F401 (the marks)
from tests.dashboard.test_surrogate import _bayes_sweep

# Every line of the figure's title: its text and whether it lies inside the figure's SVG.
TITLE_LINES = """() => {
  const gd = document.getElementById('chart-surrogate');
  const svg = gd.querySelector('svg.main-svg').getBoundingClientRect();
  return Array.from(gd.querySelectorAll('text.gtitle tspan.line, text.gtitle')).map((t) => {
    const b = t.getBoundingClientRect();
    return [t.textContent, b.top >= svg.top && b.bottom <= svg.bottom &&
            b.left >= svg.left && b.right <= svg.right];
  });
}"""


class TestSurrogatePanel(BrowserCase):
    def test_the_model_says_which_rung_it_is_fitted_on_inside_its_figure(self) -> None:
        self.page.set_viewport_size({"width": 1440, "height": 1000})
        sweep = _bayes_sweep(self.user)
        self.open_sweep(sweep.pk)
        self.page.wait_for_selector('#surrogate-panel[data-available="1"]', state="attached")
        self.page.select_option("#surrogate-param", "lr")
        self.page.click("#surrogate-go")
        self.page.wait_for_selector("#chart-surrogate .main-svg")
        lines = self.page.evaluate(TITLE_LINES)
        text = " ".join(t for t, _ in lines)
        assert "fitted on rung 2" in text, lines
        assert all(inside for _, inside in lines), lines
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.locator("#surrogate-panel").screenshot(path=str(ARTIFACTS / "surrogate.png"))
