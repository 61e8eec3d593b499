"""Debian's Chromium driven by Playwright for Python, for the browser tests: real typing and clicks (Playwright
clicks a button only once it is visible, enabled and still), waiting for the navigation a form starts, and a
full-page screenshot kept when a test fails (under TEST_ARTIFACTS_DIR, default var/test-artifacts/).

No browser download is possible here: Playwright launches the system's chromium (`make tools` installs it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.needs import needs

CHROMIUM = "/usr/bin/chromium"
needs_chromium = needs(Path(CHROMIUM).exists(), "Debian's chromium")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", Path(__file__).resolve().parents[1] / "var" / "test-artifacts"))
TIMEOUT_MS = 30_000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_test_failed = report.failed
    return report


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    # Per module, not per session: while Playwright's sync API runs, the main thread counts as running an event
    # loop, so asyncio tests later in the same pytest process would fail ("cannot be called from a running loop").
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Browser, request) -> Iterator[Page]:
    """A fresh browser context (no cookies) at 1280 px wide; its screenshot is kept if the test fails."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        yield page
    finally:
        if getattr(request.node, "browser_test_failed", False):
            keep_screenshot(page, request.node.nodeid)
        context.close()


def keep_screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot under ARTIFACTS (for a page a test opened in its own context)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / (re.sub(r"[^\w.-]+", "_", name) + ".png")
    page.screenshot(path=shot, full_page=True)
    print(f"screenshot of the failed page: {shot}")


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    """Open `url` (a page behind the sign-in form), type the credentials and submit; waits for the next page."""
    page.goto(url)
    page.locator("#username").press_sequentially(username)
    page.locator("#password").press_sequentially(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
