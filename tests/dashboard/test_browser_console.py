"""A script trial's console on its page in a real browser: tailed while it runs. The
screenshot goes to ``test-artifacts/trial-console.png``."""

from __future__ import annotations

from sweeps.ingest import append_console
from sweeps.models import Trial
from tests.dashboard.conftest import make_sweep, make_trial
from tests.dashboard.test_browser import BrowserCase, pytestmark  # noqa: F401 (the marks)


class TestTrialConsole(BrowserCase):
    def test_the_console_is_tailed_while_the_trial_runs(self) -> None:
        sweep = make_sweep(self.user, name="script sweep")
        trial = make_trial(sweep, 1, status="running", worker="w@host:1")
        append_console(trial.pk, 0, 1, "epoch 1: val_loss 0.9000\n", 0)
        append_console(trial.pk, 1, 2, "training from step 22, epoch 1 to 3\n")
        response = self.page.goto(f"{self.live_server_url}/sweeps/{sweep.pk}/trials/1/")
        assert response is not None and response.status == 200
        segments = self.page.locator("#console details.console-seg")
        assert segments.count() == 2
        assert "exit code 0" in segments.nth(0).locator("summary").inner_text()
        assert "running" in segments.nth(1).locator("summary").inner_text()
        # New output appears without a reload, in the open (latest) segment.
        append_console(trial.pk, 1, 2, "[stderr] warning: lr is high\nepoch 2: val_loss 0.7\n")
        self.page.wait_for_function(
            "document.querySelectorAll('#console pre')[1].textContent.includes('epoch 2')",
            timeout=6000,
        )
        assert "[stderr] warning: lr is high" in segments.nth(1).locator("pre").inner_text()
        self.screenshot("trial-console.png")
        # The segment ends: its exit code shows on the next read.
        append_console(trial.pk, 1, 2, "epoch 3: val_loss 0.6\n", 0)
        Trial.objects.filter(pk=trial.pk).update(status="completed", worker="")
        self.page.wait_for_function(
            "document.querySelectorAll('#console summary')[1].textContent.includes('exit code 0')",
            timeout=6000,
        )

    def test_a_trial_without_a_script_shows_no_console(self) -> None:
        sweep = make_sweep(self.user)
        make_trial(sweep, 1, status="completed")
        self.page.goto(f"{self.live_server_url}/sweeps/{sweep.pk}/trials/1/")
        self.page.wait_for_timeout(500)
        assert self.page.locator("#console").is_hidden()
