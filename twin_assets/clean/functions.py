"""The cleaning rules as DuckDB scalar functions, for the dbt models and for reading their views."""

from __future__ import annotations

from typing import Any

import duckdb

from twin_assets.clean.language import detect_language
from twin_assets.clean.similarity import jaccard, sketch
from twin_assets.clean.text import clean_text, edge_lines, plain_letters, remove_edge_lines, strip_tracking, word_count

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


def register_functions(connection: duckdb.DuckDBPyConnection) -> None:
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
