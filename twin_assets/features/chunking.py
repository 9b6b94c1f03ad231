"""Chunking per category, bounded in tokens of the embedding model.

The service imports this same module to chunk at query time, so what is indexed and what is
searched are cut the same way.

- Articles: paragraphs (a fenced code block is one paragraph) packed up to `max_tokens`; a
  paragraph that is too long is cut at sentences, a sentence that is too long at words. Each
  chunk after the first starts with the last sentences of the one before, up to
  `overlap_tokens`.
- Posts: whole when they fit, otherwise like articles.
- Code: cut at top-level definitions (functions, classes, SQL statements) where the language
  has them, then packed like paragraphs; a definition that is too long is cut at lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from twin_assets.collect.records import text_key

TokenCounter = Callable[[str], int]

DEFAULT_MAX_TOKENS = 128  # all-MiniLM-L6-v2 was trained on 128-token inputs
DEFAULT_OVERLAP_TOKENS = 24

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9À-Ý])")
_DEFINITION_STARTS = {
    "python": re.compile(r"^(?:@|def |async def |class )"),
    "javascript": re.compile(r"^(?:export |function |async function |class |const \w+ = (?:async )?\()"),
    "typescript": re.compile(r"^(?:export |function |async function |class |interface |type |const \w+ = (?:async )?\()"),
    "go": re.compile(r"^(?:func |type )"),
    "rust": re.compile(r"^(?:pub |fn |impl |struct |enum |trait |mod )"),
    "java": re.compile(r"^\s{0,4}(?:public |private |protected |class |interface )"),
    "sql": re.compile(r"^(?:with |select |create |insert |update |delete |merge )", re.IGNORECASE),
}
_EXTENSION_LANGUAGES = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".jsx": "javascript", ".ts": "typescript",
    ".tsx": "typescript", ".go": "go", ".rs": "rust", ".java": "java", ".sql": "sql",
}  # fmt: skip


@dataclass(frozen=True)
class ChunkBounds:
    max_tokens: int = DEFAULT_MAX_TOKENS
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS  # articles and long posts only; code chunks do not overlap

    def label(self, model: str) -> str:
        """What chunks were cut with; stored chunks with another label are cut again."""
        return f"{model}:{self.max_tokens}:{self.overlap_tokens}"


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    document_id: str
    chunk_index: int
    text: str
    token_count: int


def chunk_id(document_id: str, text: str) -> str:
    return text_key(document_id, text)


def language_of(path: str | None) -> str | None:
    if not path:
        return None
    match = re.search(r"\.[A-Za-z0-9]+$", path)
    return _EXTENSION_LANGUAGES.get(match.group(0).lower()) if match else None


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks; a fenced code block stays one block even with blank lines inside."""
    blocks, current, in_fence = [], [], False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        if not line.strip() and not in_fence:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _sentences(paragraph: str) -> list[str]:
    if _FENCE.match(paragraph):
        return paragraph.split("\n")  # code is cut at lines, never inside one
    return [s for s in _SENTENCE_END.split(paragraph) if s.strip()]


def _words_within(piece: str, count: TokenCounter, max_tokens: int) -> list[str]:
    """The last resort for a sentence or line longer than a chunk: cut between words."""
    parts, current = [], []
    for word in piece.split(" "):
        if current and count(" ".join([*current, word])) > max_tokens:
            parts.append(" ".join(current))
            current = []
        current.append(word)
    if current:
        parts.append(" ".join(current))
    return parts


def _units(block: str, count: TokenCounter, max_tokens: int, split: Callable[[str], list[str]] | None) -> list[str]:
    """A block as pieces that each fit in a chunk: its sentences (prose), or the block whole if it
    fits and else its lines (code)."""
    if split is None:
        split = lambda b: b.split("\n")  # noqa: E731
        if count(block) <= max_tokens:
            return [block]
    elif _FENCE.match(block) and count(block) <= max_tokens:
        return [block]
    units = []
    for piece in split(block):
        units.extend([piece] if count(piece) <= max_tokens else _words_within(piece, count, max_tokens))
    return units


# A piece of a chunk: the text and what joins it to the piece before ("\n\n" between blocks,
# " " between sentences of one paragraph, "\n" between lines of code).
_Piece = tuple[str, str]


def _join(pieces: list[_Piece]) -> str:
    return "".join((sep if i else "") + text for i, (sep, text) in enumerate(pieces))


def _pack(
    blocks: list[str], count: TokenCounter, max_tokens: int, overlap_tokens: int,
    split: Callable[[str], list[str]] | None, inner: str,
) -> list[str]:
    """Greedy packing into chunks of at most `max_tokens`, each starting with the tail of the one before."""
    chunks: list[str] = []
    current: list[_Piece] = []
    carried = 0  # how many leading pieces of `current` repeat the previous chunk

    def fits(pieces: list[_Piece], limit: int) -> bool:
        return count(_join(pieces)) <= limit

    for block in blocks:
        joiner = "\n" if _FENCE.match(block) else inner  # lines of a fenced code block stay lines
        for position, unit in enumerate(_units(block, count, max_tokens, split)):
            piece = ("\n\n" if position == 0 else joiner, unit)
            if current and not fits([*current, piece], max_tokens):
                if len(current) > carried:
                    chunks.append(_join(current))
                    tail: list[_Piece] = []
                    for previous in reversed(current[carried:]):
                        if not fits([previous, *tail], overlap_tokens):
                            break
                        tail.insert(0, previous)
                    current, carried = tail, len(tail)
                while current and not fits([*current, piece], max_tokens):
                    current.pop(0)  # the overlap must leave room for the new piece
                    carried = max(carried - 1, 0)
            current.append(piece)
    if len(current) > carried:
        chunks.append(_join(current))
    return chunks


def _code_blocks(text: str, language: str | None) -> list[str]:
    starts = _DEFINITION_STARTS.get(language or "")
    if starts is None:
        return _paragraphs(text)
    blocks, current = [], []
    for line in text.split("\n"):
        if starts.match(line) and current and not (current[-1].startswith("@") and language == "python"):
            blocks.append("\n".join(current).strip("\n"))
            current = []
        current.append(line)
    if current:
        blocks.append("\n".join(current).strip("\n"))
    return [b for b in blocks if b.strip()]


def chunk_text(
    text: str, category: str, count: TokenCounter, bounds: ChunkBounds = ChunkBounds(), path: str | None = None,
) -> list[str]:
    """The chunk texts of one document; `path` tells a source file's language."""
    text = text.strip()
    if not text:
        return []
    if category == "repository":
        return _pack(_code_blocks(text, language_of(path)), count, bounds.max_tokens, 0, None, "\n")
    if category == "post" and count(text) <= bounds.max_tokens:
        return [text]
    return _pack(_paragraphs(text), count, bounds.max_tokens, bounds.overlap_tokens, _sentences, " ")


def chunk_document(
    document_id: str, text: str, category: str, count: TokenCounter, bounds: ChunkBounds = ChunkBounds(),
    path: str | None = None,
) -> list[Chunk]:
    texts = chunk_text(text, category, count, bounds, path)
    return [Chunk(chunk_id(document_id, t), document_id, i, t, count(t)) for i, t in enumerate(texts)]
