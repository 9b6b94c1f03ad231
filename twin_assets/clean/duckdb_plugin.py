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
from duckdb import DuckDBPyConnection

from twin_assets.clean.functions import register_functions
from twin_assets.lake import LAKE_TABLES, Lake, TableSpec


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
