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
        try:
            yield browser
        finally:
            browser.close()
            # Inside Playwright's greenlet the ORM sees its own connection (Django keeps
            # connections per context); close it, or PostgreSQL cannot drop the test db.
            connections.close_all()


def screenshot(page, name: str, full: bool = True) -> None:
    """Keep a screenshot when FICHA_SCREENSHOT_DIR is set (for looking, not asserting)."""
    folder = os.environ.get("FICHA_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full)
