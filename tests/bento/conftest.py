"""Fixtures every serving test module shares. One Chromium for all of tests/bento: a fixture
defined here is one fixture for every module (imported into several modules it would be several,
and a second sync Playwright cannot start while the first runs)."""

import http.server
import threading
from collections.abc import Iterator

import pytest

from tests.bento.browser import CHROMIUM, CHROMIUM_ARGS


# Package scope: while Playwright's sync API runs, its event loop is this thread's running loop, so
# the browser must be gone before tests elsewhere call asyncio.run.
@pytest.fixture(scope="package")
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


LINKED_PAGE = (
    "<html><head><title>Scheduler release notes</title></head><body><article><h1>Scheduler release notes</h1>"
    "<p>Version 2 of the scheduler retries failed partitions on its own and keeps a history of every retry.</p>"
    "<p>Backfills now run in priority order, so the freshest partitions land first.</p></article></body></html>"
)


@pytest.fixture(scope="module")
def linked_page() -> Iterator[str]:
    """The URL of a page on 127.0.0.1 that a request links to as extra knowledge."""

    class Page(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            body = LINKED_PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/release-notes"
    server.shutdown()
