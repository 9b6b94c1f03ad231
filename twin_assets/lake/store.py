"""Read, upsert and time-travel Delta tables under one root, local or s3://.

Every write is a single Delta commit, so a process that dies mid-write leaves the table
readable at its last committed version. Rows whose compared column is unchanged are
filtered out before writing: an upsert with nothing new makes no commit at all.

A column added to a table's schema reaches tables written before it by itself: reads (at any
version) give it as null, and the next upsert adds it to the stored table first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from deltalake import DeltaTable, Schema, write_deltalake
from deltalake.exceptions import TableNotFoundError

from twin_assets.lake.tables import TableSpec


def sql_strings(values) -> str:
    """Values as a comma-separated list of SQL string literals, for `IN (...)` predicates."""
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


class LakeError(RuntimeError):
    """A lake operation failed; the message names the table."""


class NotMaterialized(LakeError):
    """An asset's input was never written under this root: the user selected the asset without its upstream."""

    def __init__(self, needed: str, needed_by: str, root: str) -> None:
        super().__init__(
            f"{needed_by} needs {needed}, which has not been materialized under {root}: "
            f"materialize {needed} first, or select '*{needed_by}' to run {needed_by} with everything upstream"
        )


@dataclass(frozen=True)
class UpsertResult:
    inserted: int
    updated: int
    unchanged: int
    version: int | None  # the table's version after the upsert; None if the table does not exist
    deleted: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.deleted


class Lake:
    def __init__(self, root: str, storage_options: dict[str, str] | None = None) -> None:
        self.root = root.rstrip("/")
        self.storage_options = storage_options or None

    def uri(self, spec: TableSpec) -> str:
        return f"{self.root}/lake/{spec.layer}/{spec.name}"

    def _table(self, spec: TableSpec, version: int | None = None) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri(spec), version=version, storage_options=self.storage_options)
        except TableNotFoundError:
            return None

    def exists(self, spec: TableSpec) -> bool:
        return self._table(spec) is not None

    def require(self, spec: TableSpec, needed_by: str) -> None:
        """Fail with NotMaterialized unless the table has been written (an empty table counts)."""
        if not self.exists(spec):
            raise NotMaterialized(spec.name, needed_by, self.root)

    def version(self, spec: TableSpec) -> int | None:
        table = self._table(spec)
        return None if table is None else table.version()

    def history(self, spec: TableSpec) -> list[dict[str, Any]]:
        table = self._table(spec)
        return [] if table is None else table.history()

    def read(self, spec: TableSpec, version: int | None = None, columns: list[str] | None = None) -> pl.DataFrame:
        """The table as of `version` (default: latest); an empty frame if it was never written."""
        columns = columns or list(spec.schema)
        table = self._table(spec)
        if table is None:
            if version is not None:
                raise LakeError(f"{spec.name} has no version {version}: it was never written")
            return spec.empty().select(columns)
        try:
            if version is not None:
                table = DeltaTable(self.uri(spec), version=version, storage_options=self.storage_options)
            stored = set(table.schema().to_arrow().names)
            present = [c for c in columns if c in stored or c not in spec.schema]  # an unknown name still fails below
            frame = pl.read_delta(  # the key keeps the row count when every column asked for is new
                self.uri(spec), version=version, columns=present or [spec.key], storage_options=self.storage_options
            )
        except Exception as exc:  # deltalake raises several types for a missing version
            raise LakeError(f"cannot read {spec.name} at version {version}: {exc}") from exc
        # Columns added to the spec after this version was written read as null.
        return frame.with_columns(
            pl.lit(None, spec.schema[c]).alias(c) for c in columns if c not in frame.columns
        ).select(columns)

    def add_missing_columns(self, spec: TableSpec) -> list[str]:
        """Adds the spec's columns the stored table lacks (as nullable columns, in one commit) and
        returns their names; nothing when the table is current or was never written."""
        table = self._table(spec)
        if table is None:
            return []
        stored = set(table.schema().to_arrow().names)
        missing = [name for name in spec.schema if name not in stored]
        if missing:
            table.alter.add_columns(Schema.from_arrow(spec.empty().select(missing).to_arrow().schema).fields)
        return missing

    def _conform(self, spec: TableSpec, frame: pl.DataFrame) -> pl.DataFrame:
        missing = set(spec.schema) - set(frame.columns)
        if missing:
            raise LakeError(f"rows for {spec.name} lack columns: {', '.join(sorted(missing))}")
        frame = frame.select([pl.col(name).cast(dtype) for name, dtype in spec.schema.items()])
        if frame[spec.key].null_count():
            raise LakeError(f"rows for {spec.name} have a null key {spec.key!r}")
        return frame.unique(subset=[spec.key], keep="last", maintain_order=True)

    def upsert(self, spec: TableSpec, rows: pl.DataFrame) -> UpsertResult:
        """Create the table if needed (even with no rows), insert new keys and update changed rows in one commit; unchanged rows are not rewritten."""
        rows = self._conform(spec, rows)
        self.add_missing_columns(spec)
        table = self._table(spec)
        if table is None:
            # An empty table is still written, with its schema: readers of the lake expect the
            # table of every materialized asset to exist.
            write_deltalake(self.uri(spec), rows.to_arrow(), mode="append", storage_options=self.storage_options)
            return UpsertResult(len(rows), 0, 0, self.version(spec))

        stored = self.read(spec, columns=[spec.key, *spec.compare_on]).with_columns(pl.lit(True).alias("__present"))
        joined = rows.join(stored, on=spec.key, how="left", suffix="__stored")
        is_new = pl.col("__present").is_null()
        if spec.compare_on:
            differs = pl.any_horizontal(pl.col(f"{c}__stored").ne_missing(pl.col(c)) for c in spec.compare_on)
            is_changed = ~is_new & differs
        else:
            is_changed = ~is_new
        flagged = joined.with_columns(is_new.alias("__new"), is_changed.alias("__changed"))
        inserted = int(flagged["__new"].sum())
        updated = int(flagged["__changed"].sum())
        unchanged = len(rows) - inserted - updated
        if inserted + updated == 0:
            return UpsertResult(0, 0, unchanged, table.version())

        changed_rows = flagged.filter(pl.col("__new") | pl.col("__changed")).select(spec.schema.keys())
        (
            table.merge(
                changed_rows.to_arrow(),
                predicate=f"target.{spec.key} = source.{spec.key}",
                source_alias="source",
                target_alias="target",
            )
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
        return UpsertResult(inserted, updated, unchanged, self.version(spec))

    def replace(self, spec: TableSpec, rows: pl.DataFrame) -> UpsertResult:
        """Make the table hold exactly `rows`: upsert them, then delete every other key.
        Unchanged rows are not rewritten, so replacing with the same rows makes no commit."""
        result = self.upsert(spec, rows)
        stored_keys = self.read(spec, columns=[spec.key])[spec.key]
        gone = stored_keys.filter(~stored_keys.is_in(rows[spec.key].implode())).to_list()
        deleted = self.delete(spec, gone)
        return UpsertResult(result.inserted, result.updated, result.unchanged, self.version(spec), deleted)

    def delete(self, spec: TableSpec, keys: list[str]) -> int:
        """Delete rows by key in one commit; returns how many were removed."""
        table = self._table(spec)
        if table is None or not keys:
            return 0
        present = self.read(spec, columns=[spec.key]).filter(pl.col(spec.key).is_in(keys))
        if present.is_empty():
            return 0
        table.delete(f"{spec.key} IN ({sql_strings(present[spec.key])})")
        return len(present)
