from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_a_collector_logs_in_through_the_form_and_sees_their_home(page, collector):
    page.goto("/")
    assert page.url.endswith("/login?next=%2F")
    assert page.locator("#username").evaluate("el => el === document.activeElement")
    page.fill("#username", "collector")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    assert page.locator("h1").inner_text() == "UCSD-01 site: today"
    assert "Collector · collector · UCSD-01" in page.locator(".who").inner_text()
    screenshot(page, "collector-home")


def test_a_wrong_password_is_shown_beside_the_field(page, collector):
    page.goto("/login")
    page.fill("#username", "collector")
    page.fill("#password", "not-the-password")
    page.press("#password", "Enter")
    error = page.locator("#password-error")
    assert "username or password is not right" in error.inner_text()
    assert page.input_value("#username") == "collector"
