"""Headless Chromium (Debian's ``chromium``) driven by Playwright against the app on a real port.

Without Chromium the browser tests skip and say how to install it; under CI a missing browser
is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import IN_CI

CHROMIUM = os.environ.get("BIOBANK_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine's network is closed: background fetches only make noise and stalls.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Chromium's own pages (its PDF viewer, when a manifest opens in a tab) come from inside the
# browser, never from the network.
BROWSER_OWN = ("chrome://", "chrome-extension://")
INSTALL_HINT = (
    "Chromium is not installed: `sudo apt-get install chromium` (Debian/Ubuntu), or set "
    "BIOBANK_CHROMIUM to a Chromium binary. Browser tests never download a browser."
)


def _chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


@pytest.fixture(scope="session")
def playwright_browser():
    if not _chromium_available():
        if IN_CI:
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        message = "Playwright is not installed: pip install -e '.[test]'"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def page(playwright_browser, live_server):
    """A fresh browser context; any request to another host fails the test."""
    # Playwright's wait_for_function evaluates its condition with eval, which the app's
    # Content-Security-Policy forbids; test_csp.py checks the pages under the real policy.
    context = playwright_browser.new_context(
        base_url=live_server, viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    foreign_requests: list[str] = []

    def guard(route):
        url = route.request.url
        if url.startswith((live_server, "data:", *BROWSER_OWN)):
            route.continue_()
        else:
            foreign_requests.append(url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert foreign_requests == [], f"the page tried to load from other hosts: {foreign_requests}"


GUIDE_PREFIX = "guide-"


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot under tests/.artifacts, and a copy in ``BIOBANK_SCREENSHOTS_DIR``
    when that is set (``make screenshots`` sets it to docs/images for the user guide).

    ``full_page=False`` keeps only what the window shows: a long page stays a small image.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    copies = os.environ.get("BIOBANK_SCREENSHOTS_DIR")
    if copies and name.startswith(GUIDE_PREFIX):  # only the guide's pictures go in the docs
        target = Path(copies)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / path.name)
    return path
