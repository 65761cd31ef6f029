"""What every browser test shares: Debian's Chromium driven by Playwright.

Tests using these need Debian's chromium (/usr/bin/chromium, or $FICHA_CHROMIUM) and the
playwright package; they skip cleanly without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = os.environ.get("FICHA_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,  # tens of seconds each: run by scripts/test.sh and CI, or --run-slow
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.fixture
def chromium(monkeypatch):
    """A headless Chromium; the ORM's extra connection is closed afterwards."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        violations = watch_csp(browser)
        try:
            yield browser
        finally:
            browser.close()
            # Inside Playwright's greenlet the ORM sees its own connection (Django keeps
            # connections per context); close it, or PostgreSQL cannot drop the test db.
            connections.close_all()
        # Every browser test also checks that the pages live with the Content-Security-Policy.
        assert not violations, f"Content-Security-Policy violations: {violations[:5]}"


@pytest.fixture
def page(chromium):
    """A desktop page (1280×860, British English) in a context of its own; a test file
    wanting another size or no JavaScript defines its own ``page``."""
    context = chromium.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def watch_csp(browser) -> list[str]:
    """Collect what Chromium reports as Content-Security-Policy violations (console
    messages "Refused to ... because it violates the following Content Security Policy
    directive") on every page of every context the browser opens from now on."""
    if hasattr(browser, "csp_violations"):  # one list per browser
        return browser.csp_violations
    violations: list[str] = []
    browser.csp_violations = violations
    new_context = browser.new_context

    def watched(*args, **kwargs):
        context = new_context(*args, **kwargs)
        context.on("console", lambda msg: violations.append(f"{msg.location}: {msg.text}")
                   if "Content Security Policy" in msg.text else None)
        return context

    browser.new_context = watched
    return violations


def screenshot(page, name: str, full: bool = True) -> None:
    """Keep a screenshot when FICHA_SCREENSHOT_DIR is set (for looking, not asserting)."""
    folder = os.environ.get("FICHA_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full)
