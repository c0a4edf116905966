"""The Workers page in a real browser (Playwright + Debian chromium) against a live daphne:
two workers with their trainers, the trial one of them trains, and a change seen without a
reload. The screenshot goes to ``test-artifacts/workers.png``."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from sweeps.models import Worker
from tests.dashboard.conftest import make_sweep, make_trial
from tests.dashboard.test_browser import BrowserCase, pytestmark  # noqa: F401 (the marks)
from tests.factories import make_worker


class TestWorkersPage(BrowserCase):
    def test_two_workers_their_trainers_and_the_running_trial(self) -> None:
        gpu = make_worker(
            "gpu0@node-a:4101", ["digits-cnn", "digits-mlp", "synthetic"],
            device="cuda:0", gpu_name="NVIDIA H100 80GB HBM3", beat_age=1,
        )  # fmt: skip
        make_worker(
            "cpu0@node-b:4202", ["synthetic"], beat_age=2,
            broken={"my-script": "FileNotFoundError: train.py is not in /srv/jobs"},
        )  # fmt: skip
        sweep = make_sweep(self.user, name="lr search")
        trial = make_trial(sweep, 5, status="running", rung=1, worker=gpu.name)

        response = self.page.goto(f"{self.live_server_url}/workers/")
        assert response is not None and response.status == 200
        rows = self.page.locator("#workers tbody tr")
        assert rows.count() == 2
        gpu_row = self.page.locator('#workers tr[data-worker="gpu0@node-a:4101"]')
        cpu_row = self.page.locator('#workers tr[data-worker="cpu0@node-b:4202"]')
        assert gpu_row.get_attribute("data-state") == "running"
        assert cpu_row.get_attribute("data-state") == "idle"
        chips = gpu_row.locator(".chip").all_text_contents()
        assert chips == ["digits-cnn", "digits-mlp", "synthetic"]
        assert "NVIDIA H100 80GB HBM3" in gpu_row.locator("td.device").text_content()
        link = gpu_row.locator("td.trial a")
        assert link.get_attribute("href") == f"/sweeps/{sweep.pk}/trials/5/"
        assert link.text_content() == "lr search · trial 5"
        assert cpu_row.locator("td.trial").text_content() == "—"
        broken = cpu_row.locator('.broken li[data-trainer="my-script"]')
        assert broken.get_attribute("title") == "FileNotFoundError: train.py is not in /srv/jobs"
        assert "s ago" in cpu_row.locator("td.beat").text_content()
        cpu_row.locator("details.broken summary").click()  # open, for the screenshot
        self.screenshot("workers.png")

        # The page re-reads the list: the trial ends, the CPU worker goes quiet past its lease.
        trial.status, trial.worker = "waiting", ""
        trial.save(update_fields=["status", "worker"])
        Worker.objects.filter(name="cpu0@node-b:4202").update(
            heartbeat_at=timezone.now() - timedelta(minutes=5)
        )
        self.page.wait_for_selector('tr[data-worker="gpu0@node-a:4101"][data-state="idle"]')
        self.page.wait_for_selector('tr[data-worker="cpu0@node-b:4202"][data-state="lost"]')
        assert "5 min ago" in cpu_row.locator("td.beat").text_content()
        assert gpu_row.locator("td.trial").text_content() == "—"
        assert cpu_row.locator("details.broken").get_attribute("open") is not None  # kept open
        assert self.page.locator("#workers-updated").text_content().startswith("updated ")
        self.screenshot("workers-later.png")
