"""Shared fixtures: a scriptable HTTP server on 127.0.0.1, a fast crawl policy, a lake in tmp."""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from twin_assets.collect.http import FetchPolicy
from twin_assets.lake import Lake
from twin_assets.resources import LakeResource
from twin_assets.settings import TwinConfig, parse_config

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Route:
    status: int = 200
    body: bytes | str = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    # Answers a conditional request carrying this ETag with 304 Not Modified.
    etag: str | None = None


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # clients that time out on purpose hang up mid-response


@dataclass
class Request:
    path: str
    headers: dict[str, str]


class FixtureSite:
    """Routes by path; a route may be a list of Routes served in turn (the last one repeats)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route | list[Route] | Callable[[], Route]] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with site._lock:
                    site.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}))
                    route = site._next(self.path)
                if route is None:
                    route = Route(status=404, body="<html><body>Not found</body></html>")
                if route.delay_s:
                    time.sleep(route.delay_s)
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self.send_response(304)
                    self.send_header("ETag", route.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = route.body.encode("utf-8") if isinstance(route.body, str) else route.body
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(body)))
                if route.etag:
                    self.send_header("ETag", route.etag)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _next(self, path: str) -> Route | None:
        route = self.routes.get(path)
        if isinstance(route, list):
            return route.pop(0) if len(route) > 1 else route[0]
        if callable(route):
            return route()
        return route

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    server = FixtureSite()
    yield server
    server.close()


@pytest.fixture
def policy() -> FetchPolicy:
    return FetchPolicy(timeout_s=1.0, retries=2, backoff_s=0.01, max_backoff_s=0.05, max_bytes=300_000, concurrency=4)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "home"))


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout


def author_config(*sources) -> TwinConfig:
    """A config with one author, 'jane', holding the given sources."""
    return parse_config({"authors": [{"id": "jane", "name": "Jane", "sources": list(sources)}]}, Path.cwd())


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small local base model folder (a Hugging Face model directory), built once per test session."""
    from tests.documents import ARTICLE, OTHER_ARTICLE
    from training.base_model import TinyLlamaSpec, build_tiny_llama

    folder = tmp_path_factory.mktemp("base-model")
    build_tiny_llama([ARTICLE, OTHER_ARTICLE] * 4, folder, TinyLlamaSpec(vocab_size=600, warmup_steps=10, sequence_length=128))
    return folder


def lake_resource(tmp_path: Path) -> LakeResource:
    """The lake resource over a local TWIN_HOME in tmp, as the assets get it."""
    from dagster_aws.s3 import S3Resource

    return LakeResource(root=str(tmp_path / "home"), s3=S3Resource())
