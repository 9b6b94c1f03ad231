"""The service's prompt log writer: queued records land in prompt_logs, feedback merges into them,
and a failed write keeps what it could not write."""

import asyncio
import logging
import threading
import time
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from bento.prompt_log import PromptLogError, PromptLogWriter, PromptRecord, UnknownTrace, new_trace_id, redact
from twin_assets.lake import PROMPT_LOGS, Lake
from twin_assets.monitoring.logs import delete_older_than, tidy

SECRET_PROMPT = "Write to my doctor about the results of my biopsy"


def request(prompt: str = "Write a post about reruns.", **values) -> PromptRecord:
    return PromptRecord(
        trace_id=new_trace_id(), endpoint="http:/generate", operation="text_completion", prompt=prompt,
        model_version="twin-jane v3", engine="transformers", answer="A draft about reruns.", **values,
    )


@pytest.fixture
def writer(lake):
    # The background thread waits an hour between writes: what lands in a test was written by
    # flush() or close(), unless the test says otherwise.
    log = PromptLogWriter(lake, flush_every_s=3600)
    yield log
    log.close()


def stored(lake: Lake) -> dict[str, dict]:
    return {row["trace_id"]: row for row in lake.read(PROMPT_LOGS).iter_rows(named=True)}


def test_a_record_is_queued_then_written_with_every_column(lake, writer):
    record = request(retrieved_chunk_ids=["c1", "c2"], retrieval_scores=[0.8, 0.4], links=["https://jane.example.com"],
                     input_tokens=120, output_tokens=40, time_to_first_token_s=0.3, latency_s=2.5,
                     retrieval_latency_s=0.1, author_id="jane", category="post")
    writer.record(record)
    assert writer.pending == 1 and not lake.exists(PROMPT_LOGS)  # nothing written by record()
    assert writer.get(record.trace_id)["prompt"] == record.prompt

    writer.flush()
    row = stored(lake)[record.trace_id]
    assert writer.pending == 0
    assert row["retrieval_scores"] == [0.8, 0.4] and row["links"] == ["https://jane.example.com"]
    assert (row["input_tokens"], row["output_tokens"], row["error"], row["feedback_rating"]) == (120, 40, None, None)
    assert row["started_at"].utcoffset() == timedelta(0)
    assert writer.get(record.trace_id)["answer"] == "A draft about reruns."  # read back from the table


def test_records_from_eight_threads_all_land(lake):
    writer = PromptLogWriter(lake, flush_every_s=0.05, max_batch=32)  # the background thread writes as they come
    ids: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def serve(mine: list[str]) -> None:
        start.wait()
        for _ in range(40):
            record = request()
            writer.record(record)
            mine.append(record.trace_id)

    threads = [threading.Thread(target=serve, args=(mine,)) for mine in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert writer.pending == 0
    assert set(stored(lake)) == {trace for mine in ids for trace in mine} and len(stored(lake)) == 320


def test_records_from_asyncio_tasks_are_only_queued(lake, writer):
    async def handle(n: int) -> str:
        record = request(f"prompt {n}")
        writer.record(record)  # no await: nothing here waits on storage
        return record.trace_id

    async def serve() -> list[str]:
        return await asyncio.gather(*(handle(n) for n in range(50)))

    ids = asyncio.run(serve())
    assert writer.pending == 50
    writer.close()
    assert set(stored(lake)) == set(ids)


def test_close_writes_everything_queued_and_refuses_more(lake):
    writer = PromptLogWriter(lake, flush_every_s=3600, max_batch=2)
    records = [request() for _ in range(5)]
    for record in records:
        writer.record(record)
    writer.close()
    assert set(stored(lake)) == {r.trace_id for r in records}
    with pytest.raises(RuntimeError, match="closed"):
        writer.record(request())
    writer.close()  # closing twice is harmless


def test_feedback_before_the_write_merges_into_the_queued_record(lake, writer):
    record = request()
    writer.record(record)
    row = writer.add_feedback(record.trace_id, 1, "The author's own version.", None)
    assert (row["feedback_rating"], row["feedback_edited_text"], row["feedback_reason"]) == (1, "The author's own version.", None)
    assert row["feedback_at"] is not None and writer.get(record.trace_id) == row
    assert not lake.exists(PROMPT_LOGS)
    writer.flush()
    assert stored(lake)[record.trace_id]["feedback_edited_text"] == "The author's own version."


def test_feedback_after_the_write_updates_the_stored_row_and_keeps_earlier_feedback(lake, writer):
    record = request()
    writer.record(record)
    writer.flush()
    writer.add_feedback(record.trace_id, -1, None, "too generic")
    assert writer.pending == 0 and stored(lake)[record.trace_id]["feedback_rating"] == -1

    # Another process (the service restarted) adds the author's edit: the rating and reason stay.
    other = PromptLogWriter(lake, flush_every_s=3600)
    try:
        row = other.add_feedback(record.trace_id, None, "Better.", None)
    finally:
        other.close()
    kept = stored(lake)[record.trace_id]
    assert (kept["feedback_rating"], kept["feedback_reason"], kept["feedback_edited_text"]) == (-1, "too generic", "Better.")
    assert row["feedback_edited_text"] == "Better." and kept["prompt"] == record.prompt
    assert len(stored(lake)) == 1


def test_feedback_on_a_trace_never_logged_is_unknown(lake, writer):
    with pytest.raises(UnknownTrace) as no_table:
        writer.add_feedback(new_trace_id(), 1, None, None)
    assert isinstance(no_table.value, KeyError)
    writer.record(request())
    writer.flush()
    missing = new_trace_id()
    with pytest.raises(UnknownTrace, match=missing):
        writer.add_feedback(missing, 1, None, None)
    assert writer.get(missing) is None


@pytest.mark.parametrize(
    ("rating", "edited_text", "reason", "message"),
    [(2, None, None, "rating must be"), (-2, None, None, "rating must be"), (True, None, None, "rating must be"),
     (None, None, None, "needs a rating"), (None, "  ", "", "needs a rating")],
    ids=["two", "minus-two", "bool", "nothing", "blank"],
)
def test_bad_feedback_is_refused_and_changes_nothing(lake, writer, rating, edited_text, reason, message):
    record = request()
    writer.record(record)
    with pytest.raises(ValueError, match=message):
        writer.add_feedback(record.trace_id, rating, edited_text, reason)
    assert writer.get(record.trace_id)["feedback_at"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [({"trace_id": "not-a-trace"}, "trace_id"), ({"endpoint": "http:/nowhere"}, "endpoint"),
     ({"operation": "embeddings"}, "operation"), ({"started_at": datetime(2025, 3, 1)}, "timezone"),
     ({"retrieval_scores": [0.5]}, "one score per")],
)
def test_a_malformed_record_is_refused_at_once(writer, change, message):
    record = request()
    for name, value in change.items():
        setattr(record, name, value)
    with pytest.raises(ValueError, match=message):
        writer.record(record)
    assert writer.pending == 0


def test_a_failed_write_keeps_the_batch_logs_no_prompt_and_a_later_flush_writes_it(tmp_path, caplog):
    blocker = tmp_path / "home"
    blocker.write_text("a file where the lake's folder should be")
    lake = Lake(str(blocker))
    writer = PromptLogWriter(lake, flush_every_s=3600)
    record = request(SECRET_PROMPT)
    writer.record(record)
    with caplog.at_level(logging.ERROR, logger="bento.prompt_log"), pytest.raises(PromptLogError, match="1 stay queued"):
        writer.flush()
    assert writer.pending == 1
    assert caplog.records and all(SECRET_PROMPT not in r.getMessage() for r in caplog.records)
    # Feedback still reaches the queued record.
    writer.add_feedback(record.trace_id, 1, None, None)

    blocker.unlink()  # the lake is writable again
    writer.flush()
    assert writer.pending == 0
    assert stored(lake)[record.trace_id]["feedback_rating"] == 1
    writer.close()


def test_redaction_cuts_each_request_text_once_and_leaves_the_rest_of_the_error_readable():
    message = "Commit failed: a concurrent transaction wrote /lake/part-1.parquet while writing 'secret words here'"
    assert redact(message, ["secret words here", "secret", "a", "ok"]) == \
        "Commit failed: a concurrent transaction wrote /lake/part-1.parquet while writing '<redacted>'"
    # One pass: a text that also occurs inside "<redacted>" does not cut into the replacement.
    assert redact("prompt=abcd answer=xyzw", ["abcd", "xyzw", "dact"]) == "prompt=<redacted> answer=<redacted>"
    assert redact("nothing to cut", []) == "nothing to cut"


def test_the_background_thread_retries_a_failed_write(tmp_path):
    blocker = tmp_path / "home"
    blocker.write_text("in the way")
    lake = Lake(str(blocker))
    failed, written = threading.Event(), threading.Event()

    class WatchedLake(Lake):
        def upsert(self, spec, rows):
            try:
                result = super().upsert(spec, rows)
            except Exception:
                failed.set()
                raise
            written.set()
            return result

    writer = PromptLogWriter(WatchedLake(lake.root), flush_every_s=0.01)
    record = request()
    writer.record(record)
    assert failed.wait(10), "the background thread never tried to write"
    assert writer.pending == 1
    blocker.unlink()
    assert written.wait(10), "the background thread never retried"
    writer.close()
    assert set(stored(lake)) == {record.trace_id}


def test_feedback_during_a_write_is_not_lost(lake):
    """A record that takes feedback while its batch is being written stays queued with it."""
    writing, release = threading.Event(), threading.Event()

    class SlowLake(Lake):
        def upsert(self, spec, rows):
            writing.set()
            assert release.wait(10)
            return super().upsert(spec, rows)

    writer = PromptLogWriter(SlowLake(lake.root), flush_every_s=3600)
    record = request()
    writer.record(record)
    flushing = threading.Thread(target=writer.flush)
    flushing.start()
    assert writing.wait(10)
    writer.add_feedback(record.trace_id, 1, "Edited while the draft was being written.", None)
    release.set()
    flushing.join()
    assert stored(lake)[record.trace_id]["feedback_rating"] is None  # the write carried the record as it was
    assert writer.pending == 1  # ...and the feedback waits for the next one
    writer.close()
    assert stored(lake)[record.trace_id]["feedback_rating"] == 1


def test_a_stored_row_reads_back_as_the_writer_wrote_it(lake, writer):
    record = request(started_at=datetime(2025, 3, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    writer.record(record)
    writer.flush()
    row = writer.get(record.trace_id)
    assert row["started_at"] == datetime(2025, 3, 1, 10, tzinfo=timezone.utc)
    assert lake.read(PROMPT_LOGS).schema == pl.Schema(PROMPT_LOGS.schema)


def test_retention_and_compaction_while_the_service_writes_lose_no_record(lake):
    """The prompt_logs asset compacts, vacuums and deletes while the service appends and merges
    feedback: a write that clashes with a commit stays queued and lands on a later flush."""
    writer = PromptLogWriter(lake, flush_every_s=3600)
    written, stop = [], threading.Event()

    def serve() -> None:
        while not stop.is_set():
            record = request()
            writer.record(record)
            written.append(record.trace_id)
            if len(written) % 3 == 0:
                writer.add_feedback(written[-2], 1, None, None)
            try:
                writer.flush()
            except PromptLogError:
                pass  # kept queued, as the background thread would retry it
            time.sleep(0.01)

    service = threading.Thread(target=serve)
    service.start()
    try:
        tidied = 0
        while len(written) < 30 or tidied < 6:
            tidy(lake, keep_hours=0)  # removes every file no current version needs, at once
            assert delete_older_than(lake, days=30) == 0
            tidied += 1
    finally:
        stop.set()
        service.join()
    writer.close()
    rows = stored(lake)
    assert set(rows) == set(written)
    assert all(rows[trace]["feedback_rating"] == 1 for trace in written[1:-1:3])
