"""Raw document rows for tests of the stages after collection, written for the project."""

import json
from datetime import datetime, timezone

import polars as pl

from twin_assets.collect.records import sha256
from twin_assets.lake.tables import DOCUMENT_SCHEMA

ARTICLE = (
    "If running your job twice gives you twice the rows, you do not have a pipeline. You have a countdown to a "
    "duplicate-revenue incident.\n\nIdempotency sounds academic until you need to rerun last week after fixing a "
    "bug. Then it is the only property that matters.\n\n1. Every row has a stable key derived from its source.\n"
    "2. Writes are upserts on that key.\n3. Unchanged rows are detected by a content hash and left alone.\n\n"
    "The last point is underrated. A rerun that rewrites every row creates a new table version and burns compute "
    "to arrive exactly where you started."
)
OTHER_ARTICLE = (
    "Dashboards should answer three questions before anyone builds them: who reads it, which decision it changes, "
    "and how often that decision is made. Most requests fail the second question, and that is fine: a one-off "
    "query answers them better than a dashboard nobody opens after the first week. I keep a short template for "
    "these conversations and it has saved my team months of maintenance over the years, mostly by saying no kindly."
)


def doc(key, content, *, category="article", platform="web", published="2025-03-10", author="jane", title=None):
    return {
        "id": sha256(key), "author_id": author, "platform": platform, "category": category,
        "url": key, "title": title or key.rsplit("/", 1)[-1], "content": content,
        "published_at": datetime.fromisoformat(published).replace(tzinfo=timezone.utc) if published else None,
        "crawled_at": datetime(2025, 12, 1, tzinfo=timezone.utc), "content_hash": sha256(content),
        "source": "test", "metadata": json.dumps({}),
    }


def frame(*rows):
    return pl.DataFrame(list(rows), schema=DOCUMENT_SCHEMA)
