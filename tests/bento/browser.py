"""Playwright driving Debian's Chromium (/usr/bin/chromium; no browser download) against the real
service, and screenshots under test-output/screenshots/ for the review of each page."""

import os
import re
from pathlib import Path

import pytest

from tests.bento.serving import REPO_ROOT, RunningService

CHROMIUM = os.environ.get("TWIN_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying hosts this closed network refuses.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "test-output" / "screenshots"

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed (apt-get install chromium)")


def open_page(chromium, service: RunningService):
    """A new browser context signed in to `service` (its key as the UI's cookie); the page fails
    the test on any JavaScript error or console error."""
    from bento.guard import KEY_COOKIE

    context = chromium.new_context(base_url=service.url, viewport={"width": 1200, "height": 900})
    if service.api_key:
        context.add_cookies([{"name": KEY_COOKIE, "value": service.api_key, "url": service.url}])
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    return page


def screenshot(page, request: pytest.FixtureRequest, name: str) -> Path:
    """Saves the page under test-output/screenshots/<test>/<name>.png and returns the path."""
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
