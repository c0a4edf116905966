"""The New sweep page in a real browser (Playwright + Debian chromium against a live
daphne): a user who is not staff picks a trainer, sees the server's errors beside the fields
they name, fixes them, reads the plan and launches; the JSON tab edits the same spec. No
worker runs: a launch only has to create the sweep and open its page. Screenshots:
``test-artifacts/new-sweep-error.png`` and ``new-sweep-plan.png``."""

from __future__ import annotations

import json
import re
from typing import Any

from sweeps.models import Sweep
from tests.dashboard.test_browser import BrowserCase, pytestmark  # noqa: F401 (the marks)

SWEEP_PAGE = re.compile(r"/sweeps/(\d+)/$")


class LaunchCase(BrowserCase):
    def open_new(self, query: str = "") -> None:
        response = self.page.goto(f"{self.live_server_url}/sweeps/new/{query}")
        assert response is not None and response.status == 200, self.page.content()[:3000]
        self.page.wait_for_selector("#new-page[data-ready='1']")

    def wait_checked(self, state: str) -> None:
        """Wait for the live check to settle on ``state`` (valid, 1 error, ...)."""
        self.page.wait_for_function(
            "s => document.getElementById('check-state').textContent === s", arg=state
        )

    def wait_launched(self) -> None:
        """Wait for Launch to open the new sweep's page (the navigation, not every script
        of the page: a loaded machine took over 30 s to fire the page's load event)."""
        try:
            self.page.wait_for_url(SWEEP_PAGE, wait_until="commit", timeout=60_000)
        except Exception as exc:
            note = self.page.text_content("#launch-note")
            raise AssertionError(f"not launched: {note!r}") from exc

    def field_error(self, path: str) -> Any:
        return self.page.locator(f'.field-error[data-for="{path}"]')

    def row(self, name: str) -> Any:
        return self.page.locator("#space-table tr.param").filter(
            has=self.page.locator(f'[data-col="name"][data-path="space.{name}"]')
        )

    def param_names(self) -> list[str]:
        return self.page.eval_on_selector_all(
            '#space-table [data-col="name"]', "els => els.map(e => e.value)"
        )

    def plan_column(self, bracket: int, column: int) -> list[str]:
        return self.page.eval_on_selector_all(
            f'.plan-table[data-bracket="{bracket}"] tbody tr',
            "(rows, i) => rows.map(r => r.children[i].textContent)",
            column,
        )


class TestNewSweep(LaunchCase):
    def test_nav_and_list_link_to_the_new_sweep_page(self) -> None:
        response = self.page.goto(f"{self.live_server_url}/")
        assert response is not None and response.status == 200
        assert self.page.locator('header nav a[href="/sweeps/new/"]').count() == 1
        self.page.click("#new-sweep")
        self.page.wait_for_selector("#new-page[data-ready='1']")

    def test_a_user_fixes_the_errors_beside_their_fields_sees_the_plan_and_launches(self) -> None:
        page = self.page
        self.open_new()
        page.select_option("[name=trainer]", "synthetic")
        # The trainer's arguments, metrics and default space come from /api/trainers/.
        assert page.locator('[data-arg="steps_per_epoch"]').input_value() == "50"
        assert "val_loss" in page.eval_on_selector_all(
            "[name=metric] option", "els => els.map(e => e.value)"
        )
        assert self.param_names() == ["lr", "width", "momentum"]
        page.fill("[name=name]", "launched from the browser")
        page.select_option("[name=scheduler]", "hyperband")
        page.fill("[name=min_resource]", "1")
        page.fill("[name=max_resource]", "81")
        page.fill("[name=max_trials]", "128")
        page.fill('[data-arg="steps_per_epoch"]', "5")

        # Two mistakes: eta 1 and a range whose low is above its high.
        page.fill("[name=eta]", "1")
        self.row("momentum").locator('[data-col="low"]').fill("0.95")
        self.wait_checked("2 errors")
        eta_error = self.field_error("scheduler.eta")
        assert "must be an integer >= 2" in eta_error.text_content()
        # Beside the field: inside the eta input's label, the input marked.
        assert page.locator("label:has([name=eta]) .field-error").count() == 1
        assert "invalid" in (page.get_attribute("[name=eta]", "class") or "")
        low_error = self.row("momentum").locator('.field-error[data-for="space.momentum.low"]')
        assert "must be less than high" in low_error.text_content()
        assert page.locator("#plan .plan-table").count() == 0
        assert page.locator("#error-summary").is_hidden()
        self.screenshot("new-sweep-error.png")

        page.fill("[name=eta]", "3")
        self.row("momentum").locator('[data-col="low"]').fill("0")
        self.wait_checked("valid")
        assert page.locator(".field-error[data-for]").count() == 0
        # The lecture's Hyperband table (max 81, eta 3): the first bracket runs 81/27/9/3/1
        # trials at 1/3/9/27/81 epochs; 128 trials fill one cycle of five brackets.
        assert page.locator(".plan-table").count() == 5
        assert self.plan_column(0, 1) == ["81", "27", "9", "3", "1"]
        assert self.plan_column(0, 2) == ["1", "3", "9", "27", "81"]
        assert self.plan_column(4, 1) == ["5"]
        assert self.plan_column(4, 2) == ["81"]
        assert "epochs" in page.text_content("#plan-total")
        # No worker is alive here: the launch is warned about, not refused.
        assert page.locator("#warnings").is_visible()
        assert "worker" in page.text_content("#warnings")
        self.screenshot("new-sweep-plan.png")

        page.click("#launch")
        self.wait_launched()
        pk = int(SWEEP_PAGE.search(page.url).group(1))
        sweep = Sweep.objects.get(pk=pk)
        assert sweep.name == "launched from the browser"
        assert sweep.owner_id == self.user.pk
        assert sweep.scheduler["name"] == "hyperband"
        assert (sweep.scheduler["max_resource"], sweep.scheduler["eta"]) == (81, 3)
        assert sweep.max_trials == 128
        assert sweep.trainer_args["steps_per_epoch"] == 5
        assert set(sweep.space) == {"lr", "width", "momentum"}

    def test_the_json_tab_edits_the_same_spec_and_a_refused_launch_creates_nothing(self) -> None:
        page = self.page
        self.open_new()
        page.select_option("[name=trainer]", "synthetic")
        page.fill("[name=name]", "round trip")
        self.row("lr").locator('[data-col="log"]').uncheck()
        page.click("#add-param")
        new_row = page.locator("#space-table tr.param").last
        new_row.locator('[data-col="name"]').fill("opt")
        new_row.locator('[data-col="type"]').select_option("categorical")
        new_row.locator('[data-col="choices"]').fill('adam, sgd, "32"')
        self.row("momentum").locator('[data-col="parent"]').select_option("opt")
        self.row("momentum").locator('[data-col="values"]').fill("sgd")
        self.wait_checked("valid")
        before = page.evaluate("RungsNewSweep.formSpec().spec")

        page.click('.tab[data-tab="json"]')
        spec = page.evaluate("JSON.parse(document.getElementById('spec-json').value)")
        assert spec == before
        assert spec["space"]["opt"] == {"type": "categorical", "choices": ["adam", "sgd", "32"]}
        assert spec["space"]["momentum"]["condition"] == {"parent": "opt", "values": ["sgd"]}
        assert "log" not in spec["space"]["lr"]
        # An error typed in the JSON goes to the summary (no field is in front).
        spec["scheduler"]["eta"] = 1
        spec["extra_field"] = 1
        page.fill("#spec-json", json.dumps(spec, indent=2))
        self.wait_checked("2 errors")
        summary = page.text_content("#error-summary")
        assert "scheduler.eta" in summary and "extra_field" in summary
        # Back to the form: the edit comes along, the error shows beside eta; the field the
        # form does not know survives the round trip.
        page.click('.tab[data-tab="form"]')
        assert page.input_value("[name=eta]") == "1"
        self.wait_checked("2 errors")
        assert self.field_error("scheduler.eta").count() == 1
        assert "extra_field" in page.text_content("#error-summary")
        assert page.evaluate("RungsNewSweep.formSpec().spec.extra_field") == 1

        # Launch anyway: refused with the same errors, nothing created.
        page.click("#launch")
        page.wait_for_function(
            "() => document.getElementById('launch-note').textContent.startsWith('not launched')"
        )
        assert self.field_error("scheduler.eta").count() == 1
        assert not Sweep.objects.exists()
        assert page.url.endswith("/sweeps/new/")

    def test_a_link_sets_the_lr_range_and_a_saved_space_fills_the_table(self) -> None:
        from sweeps.search.space import parse_space
        from sweeps.services.spaces import create_space

        saved = create_space(
            self.user,
            name="small lr",
            space=parse_space(
                {
                    "lr": {"type": "float", "low": 0.01, "high": 0.2, "log": True},
                    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
                }
            ),
        )
        page = self.page
        # The LR range test's "use this range" link.
        self.open_new("?trainer=synthetic&lr_low=0.002&lr_high=0.3")
        assert page.input_value("[name=trainer]") == "synthetic"
        lr = self.row("lr")
        assert lr.locator('[data-col="low"]').input_value() == "0.002"
        assert lr.locator('[data-col="high"]').input_value() == "0.3"
        assert lr.locator('[data-col="log"]').is_checked()
        assert self.param_names() == ["lr", "width", "momentum"]
        # A saved space replaces the table; an edit keeps where it came from.
        page.select_option("#space-source", f"saved:{saved.pk}")
        assert self.param_names() == ["lr", "opt"]
        self.row("lr").locator('[data-col="high"]').fill("0.1")
        page.fill("[name=name]", "from a saved space")
        self.wait_checked("valid")
        page.click("#launch")
        self.wait_launched()
        sweep = Sweep.objects.get(name="from a saved space")
        assert sweep.search_space_id == saved.pk
        assert sweep.space["lr"]["high"] == 0.1
        assert set(sweep.space) == {"lr", "opt"}
