"""prompt_logs rows for tests: every column, with overrides."""

from datetime import datetime, timezone
from itertools import count

import polars as pl

from twin_assets.lake.tables import PROMPT_LOG_SCHEMA

_serial = count()


def log_row(**values) -> dict:
    row = dict.fromkeys(PROMPT_LOG_SCHEMA)
    row.update(
        trace_id=f"{next(_serial):032x}", started_at=datetime(2025, 3, 1, 10, 15, tzinfo=timezone.utc),
        endpoint="http:/generate", operation="text_completion", model_version="twin-jane v3", engine="transformers",
        author_id="jane", category="post", prompt="Write a post about reruns.", answer="A draft.",
        retrieved_chunk_ids=[], retrieval_scores=[], links=[],
    )
    row.update(values)
    return row


def log_frame(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=PROMPT_LOG_SCHEMA)
