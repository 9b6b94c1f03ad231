"""The cleaning rules as DuckDB scalar functions, registered on dbt's connection by the lake plugin."""

from __future__ import annotations

import hashlib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb

from twin_assets.clean import language, similarity, text
from twin_assets.clean.language import detect_language
from twin_assets.clean.similarity import jaccard, sketch
from twin_assets.clean.text import (
    clean_text,
    edge_lines,
    plain_letters,
    remove_repeated_edge_lines,
    strip_tracking,
    word_count,
)


def _cleaning_version() -> str:
    """Changes whenever a per-document rule does: staged rows cleaned by other rules are cleaned again."""
    digest = hashlib.sha256(version("langdetect").encode())
    for module in (text, language, similarity):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


CLEANING_VERSION = _cleaning_version()

VARCHAR, VARCHAR_LIST, BIGINT, BIGINT_LIST, DOUBLE = "VARCHAR", "VARCHAR[]", "BIGINT", "BIGINT[]", "DOUBLE"

# name: (function, argument types, return type); DuckDB needs exactly one parameter per argument
FUNCTIONS: dict[str, tuple[Any, list[str], str]] = {
    "cleaning_version": (lambda: CLEANING_VERSION, [], VARCHAR),
    "clean_text": (clean_text, [VARCHAR, VARCHAR], VARCHAR),
    "plain_letters": (plain_letters, [VARCHAR], VARCHAR),
    "strip_tracking": (strip_tracking, [VARCHAR], VARCHAR),
    "edge_lines": (lambda text: edge_lines(text), [VARCHAR], VARCHAR_LIST),
    "remove_repeated_edge_lines": (
        lambda text, lines: remove_repeated_edge_lines(text, lines), [VARCHAR, VARCHAR_LIST], VARCHAR,
    ),
    "word_count": (word_count, [VARCHAR], BIGINT),
    "detect_language": (detect_language, [VARCHAR], VARCHAR),
    "shingle_sketch": (lambda text: sketch(text), [VARCHAR], BIGINT_LIST),
    "text_similarity": (jaccard, [VARCHAR, VARCHAR], DOUBLE),
}

# Functions that take or return NULL: remove_repeated_edge_lines gets NULL for an author with no
# repeated lines, detect_language returns NULL for text too short to tell. The others never see NULL.
_NULL_AWARE = frozenset({"remove_repeated_edge_lines", "detect_language"})


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
