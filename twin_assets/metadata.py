"""Small renderers for asset and check metadata, shared by every stage's assets.py."""

from __future__ import annotations

import dagster as dg
import polars as pl

from twin_assets.lake.tables import COLUMN_DESCRIPTIONS, LAKE_TABLES, TableSpec


def markdown_sample(frame: pl.DataFrame, columns: list[str], limit: int = 5, width: int = 80) -> str:
    """The first rows of a frame as a Markdown table, each cell cut to `width` characters."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.head(limit).select(columns).to_dicts():
        cells = [str(row[c] if row[c] is not None else "")[:width].replace("|", "\\|").replace("\n", " ") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def counts_by(frame: pl.DataFrame, column: str) -> dict[str, int]:
    """Rows per value of `column`, sorted by value; {} for an empty frame."""
    if frame.is_empty():
        return {}
    return {str(k): v for k, v in frame.group_by(column).len().sort(column).iter_rows()}


def _type_name(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return f"timestamp ({dtype.time_zone})" if dtype.time_zone else "timestamp"
    if isinstance(dtype, pl.List):
        return f"list<{_type_name(dtype.inner)}>"
    return str(dtype).lower()


def column_schema(spec: TableSpec) -> dg.TableSchema:
    """A lake table's columns with their types and meanings, for the UI's column view."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, _type_name(dtype), description=COLUMN_DESCRIPTIONS.get(name))
            for name, dtype in spec.schema.items()
        ]
    )


def table_metadata(spec: TableSpec) -> dict[str, dg.TableSchema]:
    """Definition-time metadata of a lake table's asset, so its columns show before it is materialized."""
    return {"dagster/column_schema": column_schema(spec)}


def typed_columns(schema: dg.TableSchema) -> dg.TableSchema:
    """Fill in the types dbt leaves unknown from the lake contracts (a column name means one thing
    and has one type across tables), and missing descriptions from theirs."""
    types = {name: _type_name(dtype) for spec in LAKE_TABLES.values() for name, dtype in spec.schema.items()}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                column.name,
                types.get(column.name, column.type),
                description=column.description or COLUMN_DESCRIPTIONS.get(column.name),
            )
            for column in schema.columns
        ]
    )
