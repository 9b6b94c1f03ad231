"""Instruction samples whose answer is always the author's own text.

Each cleaned document yields exact extracts of about 1,000-2,000 characters, cut at paragraph
breaks where possible, else at sentence (or, in code, line) ends and never inside a fenced code
block, or the whole piece when it is short, as a post usually is. The instruction asks for that
extract the way a user of the twin would, from a topic taken from the text itself (its title,
keyphrases or opening sentence), with the template chosen by a stable hash so that the same
extract always gets the same instruction. The split is a stable hash of the document id,
so no document feeds both train and test.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import polars as pl

from twin_assets.collect.records import text_key
from twin_assets.lake.tables import INSTRUCT_SCHEMA

MIN_EXTRACT_CHARS = 1000
MAX_EXTRACT_CHARS = 2000
MIN_WHOLE_CHARS = 200  # a whole piece shorter than an extract is used if it is at least this long
TEST_FRACTION = 0.1
MAX_POINT_CHARS = 200  # an opening sentence used as the topic is cut to this

# (extract, category) -> an instruction, or None to fall back to the templates (e.g. an LLM that failed)
InstructionWriter = Callable[[str, str], str | None]
# extracts -> keyphrases of each (keyphrases.keyphrases with the embedding model, cached)
PhraseFinder = Callable[[list[str]], list[list[str]]]

# Per category, templates for a subject (a title) and for a point (an opening sentence).
_TEMPLATES = {
    "post": {
        "subject": (
            "Write a LinkedIn post about {topic}.",
            "Draft a short social media post on {topic}, in my usual voice.",
            "Write a post for my followers about {topic}.",
        ),
        "point": (
            "Write a LinkedIn post that makes this point: {topic}",
            "Draft a short post for my followers starting from this thought: {topic}",
            "Turn this idea into a post in my voice: {topic}",
        ),
    },
    "article": {
        "subject": (
            "Write an article section explaining {topic}.",
            "Write a blog post passage about {topic}.",
            "Draft a few paragraphs for my newsletter on {topic}.",
            "Explain {topic} the way I would in one of my articles.",
        ),
        "point": (
            "Write the next part of an article that argues this: {topic}",
            "Write a few paragraphs for my blog that develop this point: {topic}",
            "Continue my article from this idea: {topic}",
        ),
    },
    "repository": {
        "subject": (
            "Write the code for {topic}.",
            "Implement {topic} the way I write code.",
            "Write a {language} file for {topic}.",
        ),
    },
}
_LANGUAGES = {".py": "Python", ".sql": "SQL", ".js": "JavaScript", ".ts": "TypeScript", ".go": "Go", ".rs": "Rust",
              ".md": "Markdown", ".toml": "TOML", ".yaml": "YAML", ".yml": "YAML"}  # fmt: skip
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
PHONE_PATTERN = r"(?:\+\d{1,3}[\s.-]?)?\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b"
# The dataset suites check outputs against these same patterns.
PERSONAL_DATA_PATTERNS = (EMAIL_PATTERN, PHONE_PATTERN)
_BLOCK_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])[\"')\]]*(?=\s)")
_FENCED = re.compile(r"^\s*```.*?^\s*```", re.DOTALL | re.MULTILINE)
_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(\s|$)", re.DOTALL)
_MARKUP = re.compile(r"[#*_`>\[\]]|^\s*[-+]\s+|^\s*\d+\.\s+", re.MULTILINE)


@dataclass(frozen=True)
class InstructSample:
    sample_id: str
    document_id: str
    split: str
    category: str
    instruction: str
    output: str


def sample_id(document_id: str, output: str) -> str:
    return text_key(document_id, output)


def split_of(document_id: str, test_fraction: float = TEST_FRACTION) -> str:
    """train or test, fixed for a document forever (a hash, not a random draw)."""
    bucket = int(hashlib.sha256(document_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if bucket < test_fraction else "train"


def _cut_points(text: str, category: str) -> tuple[list[int], list[int]]:
    """Where an extract may end: (block ends, sentence or line ends), never inside a fenced code block."""
    fences = [m.span() for m in _FENCED.finditer(text)]

    def outside(position: int) -> bool:
        return not any(start < position < end for start, end in fences)

    blocks = [m.start() for m in _BLOCK_BREAK.finditer(text)]
    if category == "repository":
        minor = [m.start() for m in re.finditer(r"\n", text)]
    else:
        minor = [m.end() for m in _SENTENCE_BREAK.finditer(text)]  # closing quotes stay with their sentence
    return [p for p in blocks if outside(p)], [p for p in minor if outside(p)]


def extracts(text: str, category: str) -> list[str]:
    """Exact slices of the author's text: the whole piece when short, else 1,000-2,000 character
    extracts ending at a paragraph break where possible, else at a sentence (or line) end."""
    text = (text or "").strip()
    if len(text) <= MAX_EXTRACT_CHARS:
        return [text] if len(text) >= MIN_WHOLE_CHARS or (category == "post" and text) else []
    blocks, minor = _cut_points(text, category)
    pieces, start = [], 0
    while len(text) - start > MAX_EXTRACT_CHARS:
        window = (start + MIN_EXTRACT_CHARS, start + MAX_EXTRACT_CHARS)
        cuts = [p for p in blocks if window[0] <= p <= window[1]] or [p for p in minor if window[0] <= p <= window[1]]
        if not cuts:  # one sentence longer than an extract: skip to its end
            start = next((p for p in blocks + minor if p > start), len(text))
            continue
        pieces.append(text[start : cuts[-1]].strip())
        start = cuts[-1]
        while start < len(text) and text[start].isspace():
            start += 1
    tail = text[start:].strip()
    if len(tail) >= MIN_EXTRACT_CHARS:
        pieces.append(tail)
    return pieces


def _plain(text: str) -> str:
    return " ".join(_MARKUP.sub("", text).split())


def as_topic(phrases: list[str]) -> str:
    """Keyphrases as a topic a user would type: "data catalogs and undocumented tables"."""
    words = [p.split(" ", 1) for p in phrases[:2]]
    # A capital that only starts a sentence goes; acronyms and product names (SQL, DuckDB) stay.
    lowered = [w[0][0].lower() + w[0][1:] if w[0][1:].islower() else w[0] for w in words]
    return " and ".join(" ".join([first, *rest]) for first, (_, *rest) in zip(lowered, words, strict=True))


def topic_of(
    extract: str, category: str, title: str | None, first: bool, extract_id: str, phrases: list[str] | None = None,
) -> tuple[str, str]:
    """("subject", the piece's title, file, or keyphrases) or ("point", the extract's opening sentence).
    Extracts without a title to name them take their keyphrases two times in three."""
    if category == "repository":
        return "subject", f"`{title}`" if title else "this file"
    if title and first:
        return "subject", f'"{_plain(title)}"'
    if phrases and int(extract_id[8:16], 16) % 3:
        return "subject", as_topic(phrases)
    sentence = _FIRST_SENTENCE.match(_plain(extract))
    opening = (sentence.group(1) if sentence else _plain(extract)).strip()
    point = " ".join(opening.split()[:30])
    if len(point) > MAX_POINT_CHARS:  # a sentence full of code or links
        point = point[:MAX_POINT_CHARS].rsplit(" ", 1)[0]
    return "point", point + ("…" if point != opening else "")


def instruction_for(extract_id: str, category: str, kind: str, topic: str, path: str | None = None) -> str:
    family = _TEMPLATES.get(category, _TEMPLATES["article"])
    templates = family.get(kind) or family["subject"]
    template = templates[int(extract_id[:8], 16) % len(templates)]
    suffix = re.search(r"\.[A-Za-z0-9]+$", path or "")
    language = _LANGUAGES.get(suffix.group(0).lower(), "source") if suffix else "source"
    return template.format(topic=topic, language=language)


def needs_phrases(category: str, title: str | None, index: int) -> bool:
    """Whether an extract may take its keyphrases as topic: prose with no title to name it."""
    return category != "repository" and not (title and index == 0)


def document_samples(
    document_id: str, text: str, category: str, title: str | None, path: str | None = None,
    test_fraction: float = TEST_FRACTION,
    write_instruction: InstructionWriter | None = None,
    phrases: Mapping[str, list[str]] | None = None,
) -> list[InstructSample]:
    return _samples(document_id, extracts(text, category), category, title, path, test_fraction, write_instruction, phrases)


def _samples(
    document_id: str, outputs: list[str], category: str, title: str | None, path: str | None,
    test_fraction: float, write_instruction: InstructionWriter | None, phrases: Mapping[str, list[str]] | None,
) -> list[InstructSample]:
    split = split_of(document_id, test_fraction)
    samples = []
    for index, output in enumerate(outputs):
        identifier = sample_id(document_id, output)
        instruction = write_instruction(output, category) if write_instruction else None
        if instruction is None:
            kind, topic = topic_of(output, category, title, index == 0, identifier, (phrases or {}).get(output))
            instruction = instruction_for(identifier, category, kind, topic, path)
        samples.append(InstructSample(identifier, document_id, split, category, instruction, output))
    return samples


def build_instruct(
    documents: pl.DataFrame, test_fraction: float = TEST_FRACTION, write_instruction: InstructionWriter | None = None,
    phrases_of: PhraseFinder | None = None,
) -> pl.DataFrame:
    """Samples for every cleaned document (columns of the instruct_dataset contract). Keyphrases
    are asked for once, for all extracts that may use them, so the embedding model runs one batch."""
    pieces = []
    for doc in documents.iter_rows(named=True):
        path = json.loads(doc["metadata"] or "{}").get("path") or doc["title"]
        title = path if doc["category"] == "repository" else doc["title"]
        pieces.append((doc, title, path, extracts(doc["text"], doc["category"])))
    untitled = [
        output for doc, title, _, outputs in pieces if phrases_of
        for index, output in enumerate(outputs) if needs_phrases(doc["category"], title, index)
    ]
    phrases = dict(zip(untitled, phrases_of(untitled), strict=True)) if phrases_of and untitled else {}
    rows = []
    for doc, title, path, outputs in pieces:
        for sample in _samples(doc["id"], outputs, doc["category"], title, path, test_fraction, write_instruction, phrases):
            rows.append(asdict(sample))
    return pl.DataFrame(rows, schema=INSTRUCT_SCHEMA)


def withhold_personal_data(samples: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The samples whose output holds no e-mail address or phone number, and how many were withheld:
    the model must not learn contact details, even ones the author once published."""
    leaks = pl.any_horizontal(pl.col("output").str.contains(pattern) for pattern in PERSONAL_DATA_PATTERNS)
    kept = samples.filter(~leaks)
    return kept, samples.height - kept.height
