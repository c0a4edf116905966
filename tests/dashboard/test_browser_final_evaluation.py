"""The test set touched once, from the sweep page in a real browser: the owner asks for the
final evaluation of a trial, the page shows it at its top with who asked, and a second
request from a page opened before (its form still there) is refused, naming the first."""

from __future__ import annotations

from sweeps.models import Event, FinalEvaluation
from tests.dashboard.conftest import add_result, make_sweep, make_trial
from tests.dashboard.test_browser import BrowserCase, pytestmark  # noqa: F401 (the marks)


class TestFinalEvaluationPage(BrowserCase):
    def test_asked_once_shown_at_the_top_and_refused_the_second_time(self) -> None:
        sweep = make_sweep(self.user, trainer="digits-mlp", status="completed")
        for number, value in ((1, 0.4), (2, 0.3)):
            trial = make_trial(sweep, number, status="completed", rung=2, budget=9.0,
                               checkpoint=f"t{number}.pt", best_value=value)  # fmt: skip
            add_result(trial, 2, 9.0, value)
        stale = self.context.new_page()  # opened before the request: its form is still there
        stale.on("dialog", lambda dialog: dialog.accept())
        stale.goto(f"{self.live_server_url}/sweeps/{sweep.pk}/")
        stale.wait_for_selector("#final-evaluation-form:not([hidden])")

        self.open_sweep(sweep.pk)
        form = self.page.locator("#final-evaluation-form")
        form.wait_for(state="visible")
        assert form.locator("input[name=trial_number]").input_value() == "2"  # the best trial
        form.locator("button[type=submit]").click()  # the confirm dialog is accepted
        box = self.page.locator("#final-evaluation")
        box.wait_for(state="visible")
        self.wait(lambda: "asked by alice" in box.inner_text(), 10, "the evaluation at the top")
        assert "trial 2" in box.inner_text()
        # Asked, not done: a worker evaluates it (none runs here, so it stays queued).
        ok = self.page.locator("#flash .flash-item.ok").inner_text()
        assert "final evaluation: asked" in ok and "queued" in box.inner_text(), ok
        assert FinalEvaluation.objects.get(sweep=sweep).trial.number == 2
        assert Event.objects.filter(sweep=sweep, kind="final_evaluation", user=self.user).exists()
        self.wait(lambda: form.is_hidden(), 10, "the form to go once it is used")

        stale.evaluate("document.getElementById('final-evaluation-form').requestSubmit()")
        flash = stale.locator("#flash .flash-item.error")
        flash.wait_for(timeout=10_000)
        text = flash.inner_text()
        assert "refused" in text and "by alice (trial 2); it is looked at once" in text, text
        assert FinalEvaluation.objects.count() == 1
        self.screenshot("final-evaluation.png")
