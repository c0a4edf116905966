"""Clone and Zoom in from a sweep page, in a real browser: the New sweep form filled from
the sweep's spec, and the zoomed-in space previewed (old against new bounds) as k and the
margin change. Screenshot: ``test-artifacts/zoom-in.png``."""

from __future__ import annotations

import json
import re

from tests.dashboard.conftest import add_result, make_sweep, make_trial
from tests.dashboard.test_browser import pytestmark  # noqa: F401 (the marks)
from tests.dashboard.test_browser_new_sweep import LaunchCase


class TestCloneAndZoom(LaunchCase):
    def test_clone_opens_the_form_filled_from_the_sweep(self) -> None:
        sweep = make_sweep(self.user, name="lr search", trainer_args={"steps_per_epoch": 7},
                           max_trials=30, concurrency=3, seed=11)  # fmt: skip
        self.open_sweep(sweep.pk)
        self.page.click("#clone-sweep")
        self.page.wait_for_url(re.compile(rf"/sweeps/new/\?from={sweep.pk}$"))
        self.page.wait_for_selector("#new-page[data-ready='1']")
        page = self.page
        assert page.input_value("[name=name]") == "lr search (copy)"
        assert page.input_value("[name=trainer]") == "synthetic"
        assert page.input_value('[data-arg="steps_per_epoch"]') == "7"
        assert page.input_value("[name=scheduler]") == "sha"
        assert page.input_value("[name=max_resource]") == "9"
        assert page.input_value("[name=eta]") == "3"
        assert page.input_value("[name=max_trials]") == "30"
        assert page.input_value("[name=concurrency]") == "3"
        assert page.input_value("[name=seed]") == "11"
        # In the stored order: PostgreSQL's jsonb keeps its own key order (lr, opt, layers).
        assert sorted(self.param_names()) == ["layers", "lr", "opt"]
        assert self.row("lr").locator('[data-col="log"]').is_checked()
        assert self.row("opt").locator('[data-col="choices"]').input_value() == "adam, sgd"
        self.wait_checked("valid")
        assert self.plan_column(0, 1) == ["9", "3", "1"]

    def test_zoom_in_previews_old_and_new_bounds_and_fills_the_form(self) -> None:
        sweep = make_sweep(self.user, name="wide", status="completed")
        for n in range(1, 11):
            trial = make_trial(sweep, n, status="stopped",
                               params={"lr": 0.001 * n, "layers": 1 + n % 4, "opt": "adam"})  # fmt: skip
            add_result(trial, 0, 1.0, 0.1 * n)
        self.open_sweep(sweep.pk)
        self.page.click("#zoom-sweep")
        self.page.wait_for_url(re.compile(rf"/sweeps/new/\?zoom={sweep.pk}$"))
        self.page.wait_for_selector("#new-page[data-ready='1']")
        page = self.page
        page.wait_for_selector('#zoom-preview tr[data-param="lr"]')
        lr = page.locator('#zoom-preview tr[data-param="lr"]')
        assert lr.locator("td.old").text_content() == "0.0001 – 0.1 log"
        first_new = lr.locator("td.new").text_content()
        # Every parameter has a row; one the best trials span whole stays as it was.
        rows = page.eval_on_selector_all(
            "#zoom-preview tbody tr", "rows => rows.map(r => r.dataset.param)"
        )
        assert sorted(rows) == ["layers", "lr", "opt"]
        assert first_new != lr.locator("td.old").text_content()
        self.wait_checked("valid")
        # The form below holds the narrowed space.
        spec = page.evaluate("RungsNewSweep.formSpec().spec")
        zoomed = page.evaluate(
            f"fetch('/api/sweeps/{sweep.pk}/zoom/?k=5&margin=0.25').then(r => r.json())"
        )
        assert spec["space"] == zoomed["space"]
        assert page.input_value("[name=name]") == "wide (zoom)"
        self.screenshot("zoom-in.png")
        # Another k: the preview and the form follow.
        page.fill("#zoom-k", "2")
        page.wait_for_function(
            "old => document.querySelector('#zoom-preview tr[data-param=\"lr\"] td.new')"
            ".textContent !== old",
            arg=first_new,
        )
        zoomed = page.evaluate(
            f"fetch('/api/sweeps/{sweep.pk}/zoom/?k=2&margin=0.25').then(r => r.json())"
        )
        page.wait_for_function(
            "lr => JSON.stringify(RungsNewSweep.formSpec().spec.space.lr) === lr",
            arg=json.dumps(zoomed["space"]["lr"], separators=(",", ":")),
        )
        # A bad k is named beside its input.
        page.fill("#zoom-k", "1")
        page.wait_for_selector('label:has(#zoom-k) .field-error[data-for="k"]')

    def test_no_zoom_in_without_results(self) -> None:
        sweep = make_sweep(self.user)
        self.open_sweep(sweep.pk)
        assert self.page.locator("#clone-sweep").count() == 1
        assert self.page.locator("#zoom-sweep").count() == 0
