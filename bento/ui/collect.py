"""The collect page: start a collection of one author's sources (or every author's) and watch it.

A collection is `twin collect [--author ID] --json`, the very command people run from a terminal,
started as a subprocess of the service with the service's environment (TWIN_HOME, TWIN_CONFIG;
DAGSTER_HOME unset, so the run lands in the Dagster instance under TWIN_HOME and shows in its UI).
One runs at a time. Its JSON lines are folded into the outcome the page shows (`dashboards.
collection_outcome`), and `/collect/status` answers it as JSON for the page's script to poll.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from bento.ui import render
from bento.ui.dashboards import collection_outcome

router = APIRouter()
log = logging.getLogger("twin.ui.collect")

ALL_AUTHORS = "all"
class AlreadyRunning(RuntimeError):
    pass


class Collection:
    """One `twin collect --json` subprocess and what it has said so far."""

    def __init__(self, command: list[str], env: dict[str, str], author: str) -> None:
        self.author = author
        self.command = command
        self.started_at = datetime.now(timezone.utc)
        self._started = time.monotonic()
        self._ended: float | None = None
        self._events: list[dict[str, Any]] = []
        self._stderr: deque[str] = deque(maxlen=40)
        self._lock = threading.Lock()
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, bufsize=1)
        self._readers = [threading.Thread(target=self._read_events, daemon=True, name="collect-stdout"),
                         threading.Thread(target=self._read_stderr, daemon=True, name="collect-stderr")]
        for reader in self._readers:
            reader.start()

    def _read_events(self) -> None:
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # not one of ours (a library printing): the outcome comes from the JSON lines
            if isinstance(event, dict):
                with self._lock:
                    self._events.append(event)
        self.process.wait()
        self._readers[1].join(timeout=5)
        with self._lock:
            self._ended = time.monotonic()

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self._stderr.append(line.rstrip())

    @property
    def running(self) -> bool:
        with self._lock:
            return self._ended is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()

    def snapshot(self, dagster: str) -> dict[str, Any]:
        with self._lock:
            events, ended = list(self._events), self._ended
        outcome = collection_outcome(events)
        if ended is None:
            status = "running"
        elif outcome["success"] and self.process.returncode == 0:
            status = "finished"
        else:
            status = "failed"
            outcome["phase"] = "failed"
            if not outcome["error"]:
                tail = [line for line in self._stderr if line.strip()]
                outcome["error"] = (tail[-1] if tail else f"twin collect exited with {self.process.returncode}")
        return {
            **outcome, "status": status, "author": self.author,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "elapsed_s": round((ended or time.monotonic()) - self._started, 1),
            "run_url": f"{dagster}/runs/{outcome['run_id']}" if outcome["run_id"] else None,
            "exit_code": self.process.returncode if ended is not None else None,
            "log_tail": list(self._stderr)[-15:] if status == "failed" else [],
        }


class Collections:
    """The service's collections: one at a time, the latest kept for the page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latest: Collection | None = None
        atexit.register(self.stop)

    def start(self, author: str, env: dict[str, str]) -> Collection:
        command = [str(Path(sys.executable).parent / "twin"), "collect", "--json"]
        if author != ALL_AUTHORS:
            command += ["--author", author]
        with self._lock:
            if self.latest is not None and self.latest.running:
                raise AlreadyRunning(f"a collection ({self._describe(self.latest.author)}) is already running, started "
                                     f"{self.latest.started_at:%H:%M:%S} UTC: wait for it to finish")
            self.latest = Collection(command, env, author)
            log.info("collection started: %s", " ".join(command))
            return self.latest

    @staticmethod
    def _describe(author: str) -> str:
        return "every author" if author == ALL_AUTHORS else author

    def stop(self) -> None:
        if self.latest is not None:
            self.latest.stop()


def collections(request: Request) -> Collections:
    state = request.app.state
    if getattr(state, "collections", None) is None:
        state.collections = Collections()
    return state.collections


def collect_environment(settings: Any) -> dict[str, str]:
    """The service's environment for `twin collect`: its TWIN_HOME and TWIN_CONFIG, no DAGSTER_HOME,
    so the run lands in the instance under TWIN_HOME, the one the Dagster UI shows."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if getattr(settings, "home", None):
        env["TWIN_HOME"] = str(settings.home)
    env.pop("DAGSTER_HOME", None)
    return env


def configured_authors() -> tuple[list[tuple[str, str]], str | None]:
    """[(id, name)] of twin.yaml's authors, and the error when the file cannot be read."""
    from twin_assets.settings import ConfigError, config_path, load_config

    try:
        return [(a.id, a.name or a.id) for a in load_config(config_path()).authors], None
    except (ConfigError, OSError, ValueError) as exc:
        return [], str(exc)


def _page(request: Request, status_code: int = 200, message: str | None = None, selected: str | None = None):
    authors, config_error = configured_authors()
    latest = collections(request).latest
    snapshot = latest.snapshot(request.app.state.settings.dagster_url) if latest is not None else None
    served = request.app.state.settings.author
    if selected is None:
        selected = latest.author if latest is not None else (served if served in dict(authors) else ALL_AUTHORS)
    return render(request, "collect.html", status_code=status_code, authors=authors, config_error=config_error,
                  collection=snapshot, message=message, selected=selected, dagster=request.app.state.settings.dagster_url)


@router.get("/collect", include_in_schema=False)
def collect_page(request: Request):
    return _page(request)


@router.post("/collect", include_in_schema=False)
def start_collection(request: Request, author: str = Form(ALL_AUTHORS)):
    authors, config_error = configured_authors()
    if config_error:
        return _page(request, 500, f"twin.yaml cannot be read: {config_error}")
    if author != ALL_AUTHORS and author not in dict(authors):
        return _page(request, 400, f"{author!r} is not an author in twin.yaml", selected=ALL_AUTHORS)
    try:
        collections(request).start(author, collect_environment(request.app.state.settings))
    except AlreadyRunning as exc:
        return _page(request, 409, str(exc), selected=author)
    return RedirectResponse("/collect", status_code=303)


@router.get("/collect/status", include_in_schema=False)
def collection_status(request: Request) -> JSONResponse:
    """The latest collection as JSON (`{"status": "idle"}` before the first)."""
    latest = collections(request).latest
    if latest is None:
        return JSONResponse({"status": "idle"})
    return JSONResponse(latest.snapshot(request.app.state.settings.dagster_url))
