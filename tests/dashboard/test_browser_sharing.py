"""Sharing from the sweep page, in a real browser: the owner adds a viewer by name (an
unknown name is refused beside the input), the viewer sees the sweep with nothing to steer
with, a stranger gets the plain 404 page. Screenshot: ``test-artifacts/sharing.png``."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from tests.dashboard.conftest import make_sweep, make_trial
from tests.dashboard.test_browser import pytestmark  # noqa: F401 (the marks)
from tests.dashboard.test_browser_new_sweep import LaunchCase


class TestSharing(LaunchCase):
    def test_the_owner_shares_with_a_viewer_who_sees_no_steering_and_a_stranger_gets_404(
        self,
    ) -> None:
        users = get_user_model().objects
        viewer = users.create_user("bob", password="bob-password")
        stranger = users.create_user("carol", password="carol-password")
        sweep = make_sweep(self.user, name="shared one")
        make_trial(sweep, 1, status="running", worker="w1")
        make_trial(sweep, 2, status="waiting")
        page = self.page
        self.open_sweep(sweep.pk)
        # The owner sees the steering controls (the contrast for the viewer below).
        page.wait_for_selector('#trials button[data-action="kill"]')
        page.click("#sharing summary")
        page.wait_for_selector("#share-form")
        # An unknown name is refused beside the input.
        page.fill("[name=share-user]", "nobody-here")
        page.click("#share-form button")
        page.wait_for_function("() => document.getElementById('share-error').textContent !== ''")
        assert "nobody-here" in page.text_content("#share-error")
        assert not sweep.viewers.exists()
        page.fill("[name=share-user]", "bob")
        page.select_option("[name=share-role]", "viewer")
        page.click("#share-form button")
        page.wait_for_selector('.share-list li[data-user="bob"][data-role="viewer"]')
        assert list(sweep.viewers.values_list("username", flat=True)) == ["bob"]
        assert page.text_content("#share-error") == ""
        self.screenshot("sharing.png")

        # The viewer's browser: the sweep, its trials, and nothing to steer with.
        viewer_context = self.browser.new_context(viewport={"width": 1400, "height": 1200})
        viewer_context.add_cookies([self.session_cookie(viewer)])
        viewer_page = viewer_context.new_page()
        viewer_page.on("pageerror", lambda exc: self.errors.append(f"viewer: {exc}"))
        try:
            response = viewer_page.goto(f"{self.live_server_url}/sweeps/{sweep.pk}/")
            assert response is not None and response.status == 200
            viewer_page.wait_for_function("document.getElementById('live').textContent === 'live'")
            viewer_page.wait_for_selector("#trials tbody tr[data-trial]")
            assert viewer_page.locator("#trials tbody tr[data-trial]").count() == 2
            assert viewer_page.locator("button[data-action]").count() == 0
            assert viewer_page.locator("#sweep-controls, #enqueue, #sweep-update").count() == 0
            assert viewer_page.locator("#clone-sweep").count() == 1  # anyone who sees may clone
            # The sharing list is read-only for the viewer.
            viewer_page.click("#sharing summary")
            viewer_page.wait_for_selector('.share-list li[data-user="bob"]')
            assert viewer_page.locator("#share-form, [data-remove]").count() == 0
            trial_page = viewer_page.goto(f"{self.live_server_url}/sweeps/{sweep.pk}/trials/1/")
            assert trial_page is not None and trial_page.status == 200
            assert viewer_page.locator("#trial-controls, button[data-action]").count() == 0
        finally:
            viewer_context.close()

        # A stranger: the plain 404 page, for the sweep and for cloning it.
        stranger_context = self.browser.new_context()
        stranger_context.add_cookies([self.session_cookie(stranger)])
        stranger_page = stranger_context.new_page()
        try:
            for path in (f"/sweeps/{sweep.pk}/", f"/sweeps/new/?from={sweep.pk}"):
                response = stranger_page.goto(f"{self.live_server_url}{path}")
                assert response is not None and response.status == 404
                html = stranger_page.content()
                assert stranger_page.locator("#not-found").count() == 1
                assert "Traceback" not in html and "Django" not in html
                assert "shared one" not in html
        finally:
            stranger_context.close()

        # Removing the viewer takes the sweep away from them.
        page.click('[data-remove="bob"]')
        page.wait_for_selector('.share-list li[data-user="bob"]', state="detached")
        assert not sweep.viewers.exists()

        # An editor, by contrast, is offered the steering buttons.
        page.fill("[name=share-user]", "carol")
        page.select_option("[name=share-role]", "editor")
        page.click("#share-form button")
        page.wait_for_selector('.share-list li[data-user="carol"][data-role="editor"]')
        page.keyboard.press("Escape")
        assert not page.locator("#sharing").evaluate("d => d.open")
        editor_context = self.browser.new_context()
        editor_context.add_cookies([self.session_cookie(stranger)])
        editor_page = editor_context.new_page()
        try:
            response = editor_page.goto(f"{self.live_server_url}/sweeps/{sweep.pk}/")
            assert response is not None and response.status == 200
            editor_page.wait_for_selector('#trials button[data-action="kill"]')
            assert editor_page.locator("#sweep-controls").count() == 1
        finally:
            editor_context.close()
