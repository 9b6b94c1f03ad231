"""What a cleaning run did, read back from the dbt warehouse: documents in, out, dropped and why."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

WAREHOUSE_FILE = "twin.duckdb"  # the `path` in twin_dbt/profiles.yml


@dataclass(frozen=True)
class CleaningSummary:
    documents_in: int
    documents_out: int
    dropped_by_reason: dict[str, int]
    dropped_examples: list[dict[str, str]]  # url, reason, duplicate_of
    kept_by_category: dict[str, int]
    cross_posted: int  # kept documents that remember copies elsewhere


def _connect(warehouse_dir: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(warehouse_dir / WAREHOUSE_FILE), read_only=True)


def row_counts(warehouse_dir: Path, relations: list[str]) -> dict[str, int]:
    """Rows in each named model relation that exists in the warehouse."""
    with _connect(warehouse_dir) as connection:
        existing = {name for (name,) in connection.execute("select table_name from information_schema.tables").fetchall()}
        return {
            name: connection.execute(f'select count(*) from "{name}"').fetchone()[0]
            for name in relations
            if name in existing
        }


def cleaning_summary(warehouse_dir: Path, examples: int = 10) -> CleaningSummary:
    with _connect(warehouse_dir) as connection:

        def rows(sql: str) -> list[tuple]:
            return connection.execute(sql).fetchall()

        documents_in = rows("select count(*) from int_documents")[0][0]
        kept = dict(rows("select category, count(*) from int_documents where drop_reason is null group by 1 order by 1"))
        # Read from int_documents, which cleaned_documents is built from: dropped_documents is
        # not built when only cleaned_documents was selected.
        dropped = dict(rows("select drop_reason, count(*) from int_documents where drop_reason is not null group by 1 order by 1"))
        sample = rows(
            "select url, drop_reason, coalesce(duplicate_of, '') from int_documents where drop_reason is not null "
            f"order by drop_reason, url limit {examples}"
        )
        cross_posted = rows("select count(*) from int_documents where drop_reason is null and len(duplicate_urls) > 0")[0][0]
    return CleaningSummary(
        documents_in=documents_in,
        documents_out=sum(kept.values()),
        dropped_by_reason=dropped,
        dropped_examples=[{"url": u, "reason": r, "duplicate_of": d} for u, r, d in sample],
        kept_by_category=kept,
        cross_posted=cross_posted,
    )
