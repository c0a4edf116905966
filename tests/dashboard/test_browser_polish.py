"""What a first look at the pages shows, in a real browser: the sweep page's curve cards in
line with a legend, empty charts that say so, a one-line Explain strip, parallel
coordinates whose 8 parameter names do not collide; the trial page's numbers, segment and
local times; the favicon; the admin's search-space form inside a 1,440 px window.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model

from sweeps.models import Event, Sweep
from tests.dashboard.conftest import add_points, add_result, make_sweep, make_trial
from tests.dashboard.test_browser import ARTIFACTS, BrowserCase, pytestmark  # noqa: F401

SPACE_8 = {
    "learning_rate": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
    "weight_decay": {"type": "float", "low": 1e-6, "high": 0.01, "log": True},
    "batch_size": {"type": "categorical", "choices": [16, 32, 64, 128]},
    "hidden_units": {"type": "int", "low": 16, "high": 512},
    "dropout_rate": {"type": "float", "low": 0.0, "high": 0.6},
    "num_layers": {"type": "int", "low": 1, "high": 6},
    "optimizer": {"type": "categorical", "choices": ["adam", "sgd", "adamw"]},
    "warmup_epochs": {"type": "int", "low": 0, "high": 5},
}

# Parcoords angles its names (an SVG rotation): each name's box in the page is the
# rotated one, so two names collide when their rotated boxes do (separating axes).
PARALLEL_LABEL_PROBLEMS = """() => {
  const gd = document.getElementById('chart-parallel');
  const svg = gd.querySelector('svg.main-svg').getBoundingClientRect();
  const texts = Array.from(gd.querySelectorAll('text.axis-title, text.gtitle'));
  const boxes = texts.map((t) => {
    const b = t.getBBox(), m = t.getScreenCTM();
    const at = (x, y) => ({x: m.a * x + m.c * y + m.e, y: m.b * x + m.d * y + m.f});
    return [at(b.x, b.y), at(b.x + b.width, b.y), at(b.x + b.width, b.y + b.height), at(b.x, b.y + b.height)];
  });
  const apart = (P, Q) => [P, Q].some((poly) => poly.some((a, i) => {
    const b = poly[(i + 1) % poly.length], len = Math.hypot(b.x - a.x, b.y - a.y);
    const nx = (b.y - a.y) / len, ny = (a.x - b.x) / len;
    const p = P.map((v) => v.x * nx + v.y * ny), q = Q.map((v) => v.x * nx + v.y * ny);
    return Math.max(...p) <= Math.min(...q) + 0.5 || Math.max(...q) <= Math.min(...p) + 0.5;
  }));
  const problems = [];
  boxes.forEach((P, i) => {
    if (P.some((v) => v.x < svg.left || v.x > svg.right || v.y < svg.top || v.y > svg.bottom)) {
      problems.push('cut: ' + texts[i].textContent);
    }
    for (let j = i + 1; j < boxes.length; j++) {
      if (!apart(P, boxes[j])) problems.push(texts[i].textContent + ' / ' + texts[j].textContent);
    }
  });
  return {problems, labels: texts.length};
}"""


def bayes_sweep_8(owner: Any) -> Sweep:
    """A Bayesian sweep over 8 parameters with 12 rung results, loss curves for 3 trials
    and no gradient-norm or learning-rate point yet."""
    sweep = make_sweep(owner, space=SPACE_8, sampler={"name": "bayes"})
    rng = random.Random(5)
    for n in range(1, 13):
        params = {
            "learning_rate": 10 ** rng.uniform(-5, -1),
            "weight_decay": 10 ** rng.uniform(-6, -2),
            "batch_size": rng.choice([16, 32, 64, 128]),
            "hidden_units": rng.randint(16, 512),
            "dropout_rate": rng.uniform(0, 0.6),
            "num_layers": rng.randint(1, 6),
            "optimizer": rng.choice(["adam", "sgd", "adamw"]),
            "warmup_epochs": rng.randint(0, 5),
        }
        trial = make_trial(sweep, n, params=params, status="stopped", best_value=0.1 * n)
        add_result(trial, 0, 1.0, rng.random())
        if n <= 3:
            add_points(trial, "train_loss", range(20), [1 / (1 + i) for i in range(20)])
            add_points(trial, "val_loss", [9, 19], [0.5, 0.4])
    return sweep


class TestSweepPagePolish(BrowserCase):
    def test_the_analysis_panels_are_drawn_when_they_come_near_the_window(self) -> None:
        self.page.set_viewport_size({"width": 1440, "height": 400})
        sweep = bayes_sweep_8(self.user)
        self.open_sweep(sweep.pk)
        self.page.wait_for_selector("#chart-loss .main-svg")
        top = self.page.eval_on_selector("section.analytics", "e => e.getBoundingClientRect().top")
        assert top > 400 + 300  # past the window and the margin it is drawn within
        self.page.wait_for_timeout(300)
        assert self.page.query_selector("#chart-parallel .main-svg") is None
        self.page.locator("#chart-parallel").scroll_into_view_if_needed()
        self.page.wait_for_selector("#chart-parallel .main-svg")
        self.page.wait_for_selector("#chart-history .main-svg")

    def test_cards_line_up_with_a_legend_empty_charts_say_so_and_explain_is_one_line(
        self,
    ) -> None:
        self.page.set_viewport_size({"width": 1440, "height": 1000})
        sweep = bayes_sweep_8(self.user)
        self.open_sweep(sweep.pk)
        self.page.locator("#chart-parallel").scroll_into_view_if_needed()
        self.page.wait_for_selector("#chart-parallel .main-svg")
        cards = self.page.eval_on_selector_all(
            ".panel[data-chart]",
            """els => els.map((e) => { const r = e.getBoundingClientRect(),
                   p = e.querySelector('.plot').getBoundingClientRect();
                   return [r.top, r.height, p.top]; })""",
        )
        assert len(cards) == 3
        for top, height, plot_top in cards[1:]:
            assert abs(top - cards[0][0]) < 1 and abs(height - cards[0][1]) < 1, cards
            assert abs(plot_top - cards[0][2]) < 1, cards

        # Train and validation curves share the trial's colour: the legend names their styles.
        legend = self.page.eval_on_selector_all(
            '.panel[data-chart="loss"] .legend-item',
            """els => els.map((e) => [e.dataset.metric, e.textContent,
                   e.querySelector('line').getAttribute('stroke-dasharray'),
                   e.querySelectorAll('circle').length])""",
        )
        assert legend == [["train_loss", "train_loss", None, 0], ["val_loss", "val_loss", "2 3", 1]]

        # Charts without a point say so; the first points take the note away.
        def note(chart: str) -> list[str]:
            return self.page.eval_on_selector_all(
                f"#chart-{chart} .annotation-text", "els => els.map((e) => e.textContent)"
            )

        assert note("lr") == ["no points yet"] and note("grad") == ["no points yet"]
        assert note("loss") == []
        trial = sweep.trials.get(number=1)
        add_points(trial, "lr", range(5), [0.01] * 5)
        self.wait(lambda: note("lr") == [], 10, "the learning-rate chart to drop its note")
        assert self.trace_lengths("lr") == {f"{trial.pk}:lr": 5}

        # Explain: one line (the Bayesian model's controls), no empty figure before it is asked.
        panel = self.page.eval_on_selector(
            "#surrogate-panel",
            """(e) => ({height: e.getBoundingClientRect().height,
                      plot: e.querySelector('#chart-surrogate').offsetParent !== null,
                      controls: e.querySelector('#surrogate-controls').offsetParent !== null})""",
        )
        assert panel["controls"] and not panel["plot"] and panel["height"] < 80, panel

        # Parallel coordinates at 8 parameters: no two names (or the title) collide or are cut.
        labels = self.page.evaluate(PARALLEL_LABEL_PROBLEMS)
        assert labels["labels"] == 10 and labels["problems"] == [], labels

        # The favicon is linked and served.
        href = self.page.get_attribute('link[rel="icon"]', "href")
        assert href and href.endswith(".svg")
        icon = self.page.request.get(self.live_server_url + href)
        assert icon.status == 200 and b"<svg" in icon.body()
        self.screenshot("sweep-polish.png")

    def test_an_unavailable_explain_is_one_line_of_why(self) -> None:
        sweep = make_sweep(self.user)  # random sampler: no model to show
        self.open_sweep(sweep.pk)
        self.page.wait_for_selector('#surrogate-panel[data-available="0"]', state="attached")
        panel = self.page.eval_on_selector(
            "#surrogate-panel",
            """(e) => ({height: e.getBoundingClientRect().height, text: e.innerText.trim(),
                      controls: e.querySelector('#surrogate-controls').offsetParent !== null})""",
        )
        assert not panel["controls"] and panel["height"] < 80, panel
        assert panel["text"].startswith("Explain: not available.")
        # The history and parallel-coordinates panels of a sweep without a result say so.
        for chart in ("history", "parallel"):
            texts = self.page.eval_on_selector_all(
                f"#chart-{chart} .annotation-text", "els => els.map((e) => e.textContent)"
            )
            assert texts == ["no points yet"], chart


class TestTrialPagePolish(BrowserCase):
    def test_numbers_segment_and_local_times(self) -> None:
        self.context.close()
        # A time zone half an hour off any UTC hour: a time shown in UTC cannot pass.
        self.context = self.browser.new_context(
            viewport={"width": 1400, "height": 1200}, timezone_id="Asia/Kolkata"
        )
        self.context.add_cookies([self.session_cookie(self.user)])
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(f"{exc}\n{exc.stack}"))

        sweep = make_sweep(self.user)
        params = {"lr": 0.00123456789, "layers": 3, "opt": "adam", "wd": 0.1 + 0.2}
        trial = make_trial(sweep, 1, params=params, status="running", worker="w1", rung=2,
                           budget=9.0, attempt=5, best_value=0.0123456789)  # fmt: skip
        add_result(trial, 0, 1.0, 0.123456789)
        add_result(trial, 1, 3.0, 2.0 / 3.0)
        at = datetime(2025, 3, 1, 23, 50, 7, tzinfo=UTC)
        Event.objects.create(sweep=sweep, trial=trial, kind="promoted", message="to rung 2")
        Event.objects.filter(trial=trial).update(created_at=at)
        add_points(trial, "train_loss", range(3), [1.0, 0.9, 0.8])

        response = self.page.goto(f"{self.live_server_url}/sweeps/{sweep.pk}/trials/1/")
        assert response is not None and response.status == 200
        self.page.wait_for_function("document.getElementById('live').textContent === 'live'")

        shown = self.page.eval_on_selector_all(
            "#params tr", "els => els.map((e) => [e.cells[0].textContent, e.cells[1].textContent])"
        )
        assert dict(shown) == {"lr": "0.0012346", "layers": "3", "opt": "adam", "wd": "0.3"}
        values = self.page.eval_on_selector_all(
            "#rung-results tbody tr td:nth-child(3)", "els => els.map((e) => e.textContent)"
        )
        assert values == ["0.12346", "0.66667"]
        assert self.page.text_content("#f-best") == "0.012346"
        assert self.page.text_content("#f-budget") == "9 epochs"
        facts = self.page.eval_on_selector_all(".facts dt", "els => els.map((e) => e.textContent)")
        assert "Segment" in facts and "Attempt" not in facts
        assert self.page.inner_text("#f-segment") == "5 (rung 2)"
        # A fact's name and value wrap together, never split over two lines.
        apart = self.page.eval_on_selector_all(
            ".facts dt",
            """els => els.map((e) => Math.abs(e.getBoundingClientRect().bottom
                                              - e.nextElementSibling.getBoundingClientRect().bottom))""",
        )
        assert max(apart) < 3, apart

        heads = self.page.eval_on_selector_all(
            "#trial-events thead th", "els => els.map((e) => e.textContent)"
        )
        assert heads == ["When", "Who", "What", "Details"]
        local = (at + timedelta(hours=5, minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
        assert local == "2025-03-02 05:20:07"
        assert self.page.text_content("#trial-events tbody td.when") == local
        when = self.page.eval_on_selector_all(
            "#rung-results time", "els => els.map((e) => e.textContent)"
        )
        assert all(len(w) == 19 for w in when), when
        self.screenshot("trial-polish.png")


class TestAdminSearchSpaceForm(BrowserCase):
    def test_the_search_space_form_fits_1440_px_without_scrolling_sideways(self) -> None:
        admin = get_user_model().objects.create_superuser("root", password="root-password")
        self.context.close()
        self.context = self.browser.new_context(viewport={"width": 1440, "height": 900})
        self.context.add_cookies([self.session_cookie(admin)])
        self.page = self.context.new_page()
        response = self.page.goto(f"{self.live_server_url}/admin/sweeps/searchspace/add/")
        assert response is not None and response.status == 200
        # Nothing past the window, nor past the parameters' box (which would scroll it).
        fit = self.page.evaluate(
            """() => ({page: document.documentElement.scrollWidth, window: window.innerWidth,
                  box: document.querySelector('.inline-group').getBoundingClientRect().right,
                  fields: Math.max(...Array.from(document.querySelectorAll(
                    '.inline-group input, .inline-group select, .inline-group textarea'))
                    .map((e) => e.getBoundingClientRect().right))})"""
        )
        self.screenshot("admin-searchspace.png")
        assert fit["page"] <= fit["window"] and fit["fields"] <= fit["box"] <= fit["window"], fit
