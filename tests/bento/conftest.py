"""One Chromium for the whole session: a fixture defined here is one fixture for every module
(imported into several modules it would be several, and a second sync Playwright cannot start
while the first runs)."""

from collections.abc import Iterator

import pytest

from tests.bento.browser import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
