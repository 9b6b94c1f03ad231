"""The served twin's request log: one row per request in the lake's `prompt_logs` Delta table.

`PromptLogWriter.record` only queues a record (a dict insert under a lock), so request handlers,
threads and asyncio code never wait on storage. A background thread writes what is queued, one
Delta upsert per batch, every `flush_every_s` seconds or as soon as `max_batch` records wait. A
write that fails (the lake unreachable or unwritable, a concurrent commit) keeps its batch queued
for the next flush, and the error is logged without any prompt or answer text; `close` flushes
what is left, so a clean shutdown loses nothing.

Feedback (a rating, the author's edit, a reason) is merged into the request's row: into the queued
record while it is not written yet, else into the stored row, which is written again.

Plain Python: it imports the lake (deltalake and polars), never dagster.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import polars as pl
from deltalake.exceptions import DeltaError

from twin_assets.lake import PROMPT_LOGS, Lake, LakeError

log = logging.getLogger(__name__)

ENDPOINTS = (
    "http:/generate", "http:/v1/chat/completions", "http:/search", "grpc:Generate", "grpc:Search", "cli:generate",
)
OPERATIONS = ("chat", "text_completion", "search")  # gen_ai.operation.name
RATINGS = (-1, 0, 1)
FEEDBACK_COLUMNS = ("feedback_rating", "feedback_edited_text", "feedback_reason", "feedback_at")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
TEXT_COLUMNS = ("prompt", "answer", "feedback_edited_text", "feedback_reason")  # never logged


def new_trace_id() -> str:
    """A random trace id in the W3C / OpenTelemetry form: 32 lowercase hex digits."""
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class PromptRecord:
    """One request as the service saw it; the columns of prompt_logs less the feedback ones."""

    trace_id: str
    endpoint: str
    operation: str
    prompt: str
    started_at: datetime = field(default_factory=_now)
    model_version: str | None = None
    engine: str | None = None
    author_id: str | None = None
    category: str | None = None
    answer: str | None = None
    retrieved_chunk_ids: list[str] = field(default_factory=list)
    retrieval_scores: list[float] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    time_to_first_token_s: float | None = None
    latency_s: float | None = None
    retrieval_latency_s: float | None = None
    error: str | None = None

    def row(self) -> dict[str, Any]:
        """The record as a prompt_logs row (no feedback yet); ValueError names a malformed field."""
        if not isinstance(self.trace_id, str) or not _TRACE_ID.fullmatch(self.trace_id):
            raise ValueError(f"trace_id must be 32 lowercase hex digits, got {self.trace_id!r}")
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}, got {self.endpoint!r}")
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, got {self.operation!r}")
        if not isinstance(self.started_at, datetime) or self.started_at.tzinfo is None:
            raise ValueError("started_at must be a timezone-aware datetime")
        if len(self.retrieval_scores) != len(self.retrieved_chunk_ids):
            raise ValueError("retrieval_scores must hold one score per retrieved chunk id")
        row = asdict(self)  # copies the lists: the caller may reuse its own
        row["started_at"] = self.started_at.astimezone(timezone.utc)
        return {**row, **dict.fromkeys(FEEDBACK_COLUMNS)}


class UnknownTrace(KeyError):
    """No request with this trace id is queued or stored (or retention has deleted it)."""

    def __init__(self, trace_id: str) -> None:
        super().__init__(trace_id)
        self.trace_id = trace_id

    def __str__(self) -> str:
        return f"no request with trace id {self.trace_id!r} is logged"


class PromptLogError(RuntimeError):
    """Writing queued records failed; they stay queued for the next flush."""


def _feedback(rating: int | None, edited_text: str | None, reason: str | None) -> dict[str, Any]:
    if rating is not None and (isinstance(rating, bool) or rating not in RATINGS):
        raise ValueError(f"rating must be -1, 0 or 1, got {rating!r}")
    given = {"feedback_rating": rating, "feedback_edited_text": edited_text, "feedback_reason": reason}
    # A blank text says nothing: it neither counts as feedback nor clears earlier feedback.
    given = {name: value for name, value in given.items() if value is not None and str(value).strip()}
    if not given:
        raise ValueError("feedback needs a rating, an edited text or a reason")
    return {**given, "feedback_at": _now()}


class PromptLogWriter:
    """Queues request records and writes them to prompt_logs in batches from a background thread."""

    def __init__(self, lake: Lake, flush_every_s: float = 2.0, max_batch: int = 256) -> None:
        if flush_every_s <= 0 or max_batch < 1:
            raise ValueError("flush_every_s must be positive and max_batch at least 1")
        self.lake = lake
        self.flush_every_s = flush_every_s
        self.max_batch = max_batch
        self._pending: dict[str, dict[str, Any]] = {}  # trace_id -> row, oldest first; rows are never mutated
        self._lock = threading.Lock()  # guards _pending and _closed; never held during I/O
        self._write_lock = threading.Lock()  # one write at a time
        self._feedback_lock = threading.Lock()  # one read-merge-write of a stored row at a time
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="prompt-log-writer", daemon=True)
        self._thread.start()

    # -- queueing ---------------------------------------------------------------------------------

    def record(self, record: PromptRecord) -> None:
        """Queues the record; the background thread writes it. Never waits on I/O."""
        row = record.row()
        with self._lock:
            if self._closed:
                raise RuntimeError("the prompt log writer is closed")
            self._pending[row["trace_id"]] = row
            full = len(self._pending) >= self.max_batch
        if full:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Records queued and not yet written."""
        with self._lock:
            return len(self._pending)

    def get(self, trace_id: str) -> dict[str, Any] | None:
        """The request's row, queued or stored; None when it is in neither."""
        with self._lock:
            row = self._pending.get(trace_id)
        return dict(row) if row is not None else self._stored(trace_id)

    def add_feedback(
        self, trace_id: str, rating: int | None, edited_text: str | None, reason: str | None,
    ) -> dict[str, Any]:
        """Merges feedback into the request's row and returns the row. A queued record takes it
        before it is written; a stored row is read, merged and written again (by flush: if that
        write fails, the merged row stays queued like any record). Fields not given keep their
        earlier feedback. UnknownTrace when the trace is neither queued nor stored; ValueError for
        a rating outside -1..1 or when nothing is given."""
        feedback = _feedback(rating, edited_text, reason)
        with self._lock:
            queued = self._pending.get(trace_id)
            if queued is not None:
                merged = {**queued, **feedback}
                self._pending[trace_id] = merged
                return dict(merged)
        with self._feedback_lock:  # two feedbacks on one stored row: the second sees the first
            with self._lock:
                queued = self._pending.get(trace_id)  # queued again meanwhile (a failed write): merge into it
            stored = queued if queued is not None else self._stored(trace_id)
            if stored is None:
                raise UnknownTrace(trace_id)
            with self._lock:
                merged = {**self._pending.get(trace_id, stored), **feedback}
                self._pending[trace_id] = merged
            try:
                self.flush()
            except PromptLogError:
                pass  # logged; the merged row stays queued and the background thread retries
        return dict(merged)

    def _stored(self, trace_id: str) -> dict[str, Any] | None:
        if not self.lake.exists(PROMPT_LOGS):
            return None
        rows = (
            pl.scan_delta(self.lake.uri(PROMPT_LOGS), storage_options=self.lake.storage_options)
            .filter(pl.col("trace_id") == trace_id)
            .select(list(PROMPT_LOGS.schema))
            .collect()
        )
        return rows.row(0, named=True) if rows.height else None

    # -- writing ----------------------------------------------------------------------------------

    def flush(self) -> None:
        """Writes everything queued now, one upsert per `max_batch` records. PromptLogError when a
        write fails: that batch and the ones after it stay queued."""
        with self._write_lock:
            with self._lock:
                snapshot = list(self._pending.items())
            for start in range(0, len(snapshot), self.max_batch):
                batch = snapshot[start:start + self.max_batch]
                try:
                    self.lake.upsert(PROMPT_LOGS, pl.DataFrame([row for _, row in batch], schema=PROMPT_LOGS.schema))
                except Exception as exc:
                    left = len(snapshot) - start
                    message = f"writing {len(batch)} prompt log records failed, {left} stay queued: {_described(exc, batch)}"
                    log.error(message)
                    raise PromptLogError(message) from None
                with self._lock:
                    for trace_id, row in batch:
                        # A row that took feedback during the write is newer than what was written: keep it.
                        if self._pending.get(trace_id) is row:
                            del self._pending[trace_id]

    def close(self) -> None:
        """Stops the background thread and writes what is queued; PromptLogError (records still
        queued) when that last write fails, so the caller can try `flush` again."""
        with self._lock:
            self._closed = True
        self._wake.set()
        self._thread.join()
        self.flush()

    def __enter__(self) -> PromptLogWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_every_s)
            self._wake.clear()
            with self._lock:
                if self._closed:
                    return  # close() writes the rest
            try:
                self.flush()
            except PromptLogError:
                pass  # logged; retried on the next tick
            except Exception:  # the thread must outlive any surprise
                log.exception("the prompt log writer failed unexpectedly; records stay queued")


def _described(exc: Exception, batch: list[tuple[str, dict[str, Any]]]) -> str:
    """The error for the log, without request text: storage errors (paths, commits) keep their
    message, with any text of the batch's requests cut out; any other error is named by its type
    only, since data errors quote the values they failed on."""
    if not isinstance(exc, (OSError, DeltaError, LakeError)):
        return type(exc).__name__
    texts = [row[column] for _, row in batch for column in TEXT_COLUMNS if row.get(column)]
    return f"{type(exc).__name__}: {redact(str(exc)[:500], texts)}"


MIN_REDACTED_CHARS = 4  # shorter texts are in every message by chance ("a", "ok"); cutting them out garbles it


def redact(message: str, texts: list[str]) -> str:
    """`message` with each of `texts` (of at least MIN_REDACTED_CHARS) replaced by <redacted>, in
    one pass, longest first, so a text inside another, or inside a replacement, is never cut again."""
    wanted = sorted({t for t in texts if len(t) >= MIN_REDACTED_CHARS}, key=len, reverse=True)
    if not wanted:
        return message
    return re.sub("|".join(map(re.escape, wanted)), "<redacted>", message)
