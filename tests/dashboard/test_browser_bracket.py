"""The bracket at scale in a real browser: an 81-trial successive-halving sweep folds each
rung to its top ranks and its promotion cut, unfolds on a click (and stays unfolded across
live updates), and no label overlaps another or is cut by its box, at 1,440 and 1,024 px.
Screenshots: ``test-artifacts/bracket-81*.png``.
"""

from __future__ import annotations

import random
from typing import Any

from sweeps.models import RungResult, Trial
from sweeps.queries import build_bracket
from tests.dashboard.conftest import add_result, make_sweep, make_trial
from tests.dashboard.test_browser import ARTIFACTS, BrowserCase, pytestmark  # noqa: F401

BUDGETS = (1.0, 3.0, 9.0, 27.0, 81.0)

# Everything a reader reads in the bracket, and the trouble it can be in: wider than its own
# box, cut by a box that clips (a scroller), overlapping another label, or the page itself
# scrolling sideways.
LAYOUT_PROBLEMS = """() => {
  const root = document.getElementById('bracket');
  const labels = Array.from(root.querySelectorAll(
    '.bracket-title, .rung-head strong, .rung-head span, .cell, .gap, .cutline span, button.fold'));
  const rects = labels.map((el) => el.getBoundingClientRect());
  const name = (el) => el.className + ' "' + el.textContent.trim() + '"';
  const problems = [];
  labels.forEach((el, i) => {
    const r = rects[i];
    if (!r.width || !r.height) problems.push('not shown: ' + name(el));
    if (el.scrollWidth > el.clientWidth + 1) problems.push('wider than its box: ' + name(el));
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const st = getComputedStyle(a);
      if (st.overflowX === 'visible' && st.overflowY === 'visible') continue;
      const b = a.getBoundingClientRect();
      if (r.left < b.left - 0.5 || r.right > b.right + 0.5 || r.top < b.top - 0.5 || r.bottom > b.bottom + 0.5) {
        problems.push('cut by ' + a.className + ': ' + name(el));
      }
    }
  });
  for (const cell of root.querySelectorAll('.cell')) {
    const box = cell.getBoundingClientRect();
    const parts = Array.from(cell.children).map((c) => c.getBoundingClientRect()).filter((p) => p.width);
    for (const p of parts) {
      if (p.left < box.left || p.right > box.right) problems.push('a part sticks out of ' + name(cell));
    }
    for (let i = 0; i < parts.length; i++) for (let j = i + 1; j < parts.length; j++) {
      const a = parts[i], b = parts[j];
      if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 &&
          Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5) problems.push('parts overlap in ' + name(cell));
    }
  }
  for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
    const a = rects[i], b = rects[j];
    if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 &&
        Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5) {
      problems.push('overlap: ' + name(labels[i]) + ' / ' + name(labels[j]));
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth) problems.push('the page scrolls sideways');
  return problems;
}"""


def build_81(owner: Any, se: float | None = None) -> dict[str, Any]:
    """Successive halving over 1/3/9/27/81 epochs (eta 3), 81 trials, part way through the
    top rung: rung results in a shuffled order (ranks are not trial numbers), the best third
    of each rung promoted by the rule, rank 50 of rung 0 promoted by hand (paused at rung 1),
    rank 60 killed at rung 0, the best trial running at rung 4. ``se``: every result's
    standard error (the cells then show ± and "≈ cut")."""
    sweep = make_sweep(
        owner,
        scheduler={"name": "sha", "min_resource": 1, "max_resource": 81, "eta": 3},
        max_trials=81,
        concurrency=4,
    )
    rng = random.Random(7)
    values = {n: rng.random() for n in range(1, 82)}
    ranked = sorted(values, key=values.get)  # best (lowest) first
    top = {n: 0 for n in ranked}  # the highest rung each trial reaches
    alive = ranked
    for rung in range(1, 5):
        alive = alive[: len(alive) // 3]
        for n in alive:
            top[n] = rung
    manual, killed = ranked[49], ranked[59]
    top[manual] = 1
    trials = {}
    for n in range(1, 82):
        status = "stopped"
        if top[n] == 4:
            status = "running"
        elif n == manual:
            status = "paused"
        elif n == killed:
            status = "killed"
        trials[n] = make_trial(
            sweep, n, status=status, rung=top[n], budget=BUDGETS[top[n]],
            manual_rungs=[1] if n == manual else [], best_value=values[n],
        )  # fmt: skip
        for rung in range(top[n] + 1):
            if rung == 4 or (n == manual and rung == 1):
                continue  # still training there
            add_result(trials[n], rung, BUDGETS[rung], values[n] * (1 - 0.1 * rung))
    if se is not None:
        RungResult.objects.filter(sweep=sweep).update(se=se)
    return {"sweep": sweep, "trials": trials, "ranked": ranked, "manual": manual, "killed": killed}


def big_payload(n_brackets: int = 124) -> dict[str, Any]:
    """A bracket payload of ``81 * n_brackets`` trials (10,044 for 124), built by the pure
    :func:`build_bracket` as the page receives it."""
    rng = random.Random(3)
    trials, results, plan = [], [], {}
    number = 0
    for b in range(n_brackets):
        plan[b] = {"entry": 0, "budgets": dict(enumerate(BUDGETS)),
                   "sizes": {0: 81, 1: 27, 2: 9, 3: 3, 4: 1}}  # fmt: skip
        members = []
        for _ in range(81):
            number += 1
            members.append((number, rng.random()))
        members.sort(key=lambda m: m[1])
        for k, (n, value) in enumerate(members):
            top = next(r for r, size in ((4, 1), (3, 3), (2, 9), (1, 27), (0, 81)) if k < size)
            trials.append({"id": n, "number": n, "status": "running" if top == 4 else "stopped",
                           "bracket": b, "rung": top, "budget": BUDGETS[top], "manual_rungs": []})  # fmt: skip
            for rung in range(min(top + 1, 4)):
                results.append({"trial": n, "rung": rung, "budget": BUDGETS[rung],
                                "value": value, "manual": False})  # fmt: skip
    return {"sweep": 1, "metric": "val_loss", "mode": "min", "unit": "epochs", "scheduler": "sha",
            "brackets": build_bracket(trials, results, mode="min", planned=plan)}  # fmt: skip


class TestBracketAt81(BrowserCase):
    def rung(self, rung: int) -> dict[str, Any]:
        return self.page.eval_on_selector(
            f'#bracket .rung[data-rung="{rung}"]',
            """(el) => ({size: Number(el.dataset.size), hidden: Number(el.dataset.hidden),
                cells: Array.from(el.querySelectorAll('.cell')).map((c) => Number(c.dataset.number)),
                gaps: Array.from(el.querySelectorAll('.gap')).map((g) => g.textContent),
                fold: (el.querySelector('button.fold') || {}).textContent || null,
                order: Array.from(el.querySelectorAll('.cells > *')).map((c) =>
                  c.classList.contains('cutline') ? 'cut' : c.classList.contains('cell') ? c.dataset.number : '')})""",
        )

    def assert_reads_well(self) -> None:
        problems = self.page.evaluate(LAYOUT_PROBLEMS)
        assert problems == [], "\n".join(problems[:20])

    def check_at(self, width: int, suffix: str, se: float | None = None) -> None:
        self.page.set_viewport_size({"width": width, "height": 900})
        data = build_81(self.user, se)
        ranked = data["ranked"]
        self.open_sweep(data["sweep"].pk)

        # Rung 0 folded: ranks 1-6, the cut (ranks 26-27 go on, 28 does not) and the trial
        # promoted by hand (rank 50); the rest is behind the fold.
        rung0 = self.rung(0)
        assert rung0["size"] == 81
        shown = [ranked[k] for k in (*range(6), 25, 26, 27, 49)]
        assert rung0["cells"] == shown
        assert rung0["hidden"] == 81 - len(shown) == 71
        assert rung0["fold"] == "+ 71 more"
        assert rung0["gaps"] == ["⋮ 19", "⋮ 21"]
        cut = rung0["order"].index("cut")
        assert rung0["order"][cut - 1 : cut + 2] == [str(ranked[26]), "cut", str(ranked[27])]
        assert self.page.text_content('.rung[data-rung="0"] .cutline') == "top 27 go on"
        # Rung 1 (28: 27 by the rule and one by hand) folds too; rungs 2-4 show every trial.
        assert self.rung(1)["size"] == 28 and self.rung(1)["hidden"] > 0
        assert [self.rung(r)["hidden"] for r in (2, 3, 4)] == [0, 0, 0]
        assert self.rung(2)["cells"] == ranked[:9]
        # The hand promotion keeps its dashed line from its own (shown) cell.
        manual = data["trials"][data["manual"]]
        assert self.page.locator(f'svg.links path.manual[data-trial="{manual.pk}"]').count() == 1
        assert self.page.locator("svg.links path.link").count() > 20
        self.assert_reads_well()
        self.page.locator("#bracket").locator("xpath=..").screenshot(
            path=str(ARTIFACTS / f"bracket-81{suffix}.png")
        )

        # Unfolded: every trial of rung 0, still readable.
        self.page.click('.rung[data-rung="0"] button.fold')
        rung0 = self.rung(0)
        assert len(rung0["cells"]) == 81 and rung0["hidden"] == 0
        assert rung0["fold"] == "− show fewer" and rung0["gaps"] == []
        self.assert_reads_well()
        self.page.locator("#bracket").locator("xpath=..").screenshot(
            path=str(ARTIFACTS / f"bracket-81-open{suffix}.png")
        )

        # A live update redraws the bracket: rung 0 stays unfolded.
        Trial.objects.filter(pk=manual.pk).update(status="running", worker="w1")
        self.page.wait_for_selector(
            f'.rung[data-rung="1"] .cell[data-trial="{manual.pk}"].state-running', timeout=10000
        )
        assert len(self.rung(0)["cells"]) == 81

        self.page.click('.rung[data-rung="0"] button.fold')
        assert self.rung(0)["fold"] == "+ 71 more"
        self.assert_reads_well()

    def test_selecting_a_shown_trial_marks_it_in_place_and_a_folded_one_unfolds(self) -> None:
        data = build_81(self.user)
        ranked, trials = data["ranked"], data["trials"]
        self.open_sweep(data["sweep"].pk)
        kept = "document.querySelector('#bracket .bracket').__kept"
        self.page.evaluate(f"{kept} = 1")

        def selected() -> list[int]:
            return self.page.eval_on_selector_all(
                "#bracket .cell.selected", "els => els.map((e) => Number(e.dataset.number))"
            )

        best = ranked[0]  # shown in every rung: marked without drawing the bracket again
        self.page.click(f'.rung[data-rung="2"] .cell[data-number="{best}"]')
        assert selected() == [best] * 5
        assert self.page.evaluate(kept) == 1
        # Rank 16 is behind rung 0's fold: selected from the table, the bracket is drawn
        # again and shows its cell.
        hidden = ranked[15]
        assert hidden not in self.rung(0)["cells"]
        self.page.click(f'#trials tr[data-trial="{trials[hidden].pk}"] td.params')
        assert hidden in self.rung(0)["cells"] and set(selected()) == {hidden}
        assert self.page.evaluate(kept) is None
        self.page.click(f'#trials tr[data-trial="{trials[hidden].pk}"] td.params')
        assert selected() == []

    def test_81_trials_fold_and_read_at_1440_px(self) -> None:
        self.check_at(1440, "")

    def test_81_trials_fold_and_read_at_1024_px(self) -> None:
        self.check_at(1024, "-1024")

    def test_81_results_with_their_intervals_read_at_1024_px(self) -> None:
        # Five columns of "0.02256 ±0.024 ≈ cut" are wider than 1,024 px: they narrow and
        # wrap the value under the number, nothing scrolls or is cut.
        self.check_at(1024, "-1024-se", se=0.0123)

    def test_drawing_10000_trials_lays_the_page_out_once(self) -> None:
        sweep = make_sweep(self.user, status="completed")
        self.open_sweep(sweep.pk)
        payload = big_payload()
        self.page.evaluate("(data) => { window.__big = data; }", payload)
        cdp = self.context.new_cdp_session(self.page)
        cdp.send("Performance.enable")

        def layouts() -> float:
            metrics = cdp.send("Performance.getMetrics")["metrics"]
            return next(m["value"] for m in metrics if m["name"] == "LayoutCount")

        before = layouts()
        # (How long it takes is bench/scale.py's to measure: a loaded CI machine took 2 s.)
        self.page.evaluate(
            "RungsBracket.render(document.getElementById('bracket'), window.__big, null, () => {})"
        )
        forced = layouts() - before
        paths = self.page.locator("svg.links path").count()
        assert paths > 124 * 10, paths
        # One layout for every bracket's lines (was one or more per bracket).
        assert forced <= 2, forced
