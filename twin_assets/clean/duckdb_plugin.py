"""The dbt-duckdb plugin of the cleaning stage (alias `lake` in twin_dbt/profiles.yml).

- It registers the Python cleaning rules as DuckDB functions on every connection dbt opens,
  so the SQL models call the same unit-tested code.
- It loads sources from the lake's Delta tables with polars (`Lake.read`). dbt-duckdb's own
  `delta` plugin hands DuckDB a pyarrow dataset whose declared `string` columns are stored as
  `string_view` in files delta-rs writes on MERGE; any filter DuckDB pushes into that scan
  fails. A table never written reads as empty with its contract's columns.
- It writes `external` models with `plugin='lake'` back to the lake as Delta tables, upserted
  by key: an unchanged model leaves its Delta table at the same version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
import duckdb
from duckdb import DuckDBPyConnection

from twin_assets.clean.language import detect_language
from twin_assets.clean.similarity import jaccard, sketch
from twin_assets.clean.text import clean_text, edge_lines, plain_letters, remove_edge_lines, strip_tracking, word_count
from twin_assets.lake import LAKE_TABLES, Lake, TableSpec

VARCHAR, VARCHAR_LIST, BIGINT, BIGINT_LIST, DOUBLE = "VARCHAR", "VARCHAR[]", "BIGINT", "BIGINT[]", "DOUBLE"

# name: (function, argument types, return type); DuckDB needs exactly one parameter per argument
FUNCTIONS: dict[str, tuple[Any, list[str], str]] = {
    "clean_text": (clean_text, [VARCHAR, VARCHAR], VARCHAR),
    "plain_letters": (plain_letters, [VARCHAR], VARCHAR),
    "strip_tracking": (strip_tracking, [VARCHAR], VARCHAR),
    "edge_lines": (lambda text: edge_lines(text), [VARCHAR], VARCHAR_LIST),
    "remove_edge_lines": (lambda text, lines: remove_edge_lines(text, lines), [VARCHAR, VARCHAR_LIST], VARCHAR),
    "word_count": (word_count, [VARCHAR], BIGINT),
    "detect_language": (detect_language, [VARCHAR], VARCHAR),
    "shingle_sketch": (lambda text: sketch(text), [VARCHAR], BIGINT_LIST),
    "text_similarity": (jaccard, [VARCHAR, VARCHAR], DOUBLE),
}

# Functions that take or return NULL: remove_edge_lines gets NULL for an author with no repeated
# lines, detect_language returns NULL for text too short to tell. The others never see NULL.
_NULL_AWARE = frozenset({"remove_edge_lines", "detect_language"})


def register_functions(connection: DuckDBPyConnection) -> None:
    """Register the cleaning functions (cursors share them); registering again replaces them."""
    for name, (function, arguments, returns) in FUNCTIONS.items():
        try:
            connection.remove_function(name)
        except duckdb.InvalidInputException:
            pass  # not registered yet
        connection.create_function(
            name,
            function,
            arguments,
            returns,
            null_handling="special" if name in _NULL_AWARE else "default",
            side_effects=False,
        )


def _contract(name: str) -> TableSpec:
    try:
        return LAKE_TABLES[name]
    except KeyError:
        raise ValueError(f"{name} uses the lake plugin but has no table contract in twin_assets/lake/tables.py") from None


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        if "lake_root" not in plugin_config:
            raise ValueError("the lake plugin needs `lake_root` in its profiles.yml config")
        self.lake = Lake(plugin_config["lake_root"])

    def update_connection_config(self, creds, config: dict[str, Any]) -> None:
        # The warehouse lives under TWIN_HOME and appears on first use, like the lake.
        for folder in (Path(creds.path).parent, Path(creds.external_root)):
            folder.mkdir(parents=True, exist_ok=True)

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        register_functions(conn)

    def load(self, source_config) -> pa.Table:
        spec = _contract(source_config.identifier)
        version = source_config.get("as_of_version")
        return self.lake.read(spec, version=None if version is None else int(version)).to_arrow()

    def store(self, target_config) -> None:
        spec = _contract(target_config.relation.identifier)
        name = spec.name
        layer = target_config.config.get("lake_layer")
        if layer != spec.layer:
            raise ValueError(f"model {name} says lake_layer={layer!r}; its table contract says {spec.layer!r}")
        rows = pl.read_parquet(target_config.location.path)
        # dbt-duckdb writes one all-NULL row for an empty model; it is not a document.
        rows = rows.filter(pl.col(spec.key).is_not_null())
        self.lake.replace(spec, rows)
