"""Preference pairs: for an instruct sample, the author's text is chosen and a generic answer to
the same instruction (from a base model or an LLM endpoint) is rejected.

Pairs are made for prose only (articles and posts): both sides must be complete sentences,
and sentence filters mean nothing for source code. Both sides are cut back to their last
complete sentence; the rejected side also to about the chosen side's length, so that length
alone does not tell them apart. Pairs are dropped, with a reason, when a side is too short or
when the rejected answer copies the chosen text.

Feedback adds pairs of another kind: when the author edits a draft the served twin wrote (a
prompt_logs row whose feedback_edited_text differs from its answer), the edit is chosen and the
draft rejected. Those are kept as the author wrote them (no sentence cut: the edit is the author's
final word), go to the train split (the test split stays the author's published writing), and have
no document. Edits of code, and pairs that hold contact details, are left out like the others.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping

import polars as pl

from twin_assets.collect.records import sha256
from twin_assets.datasets.instruct import PERSONAL_DATA_PATTERNS
from twin_assets.lake.tables import PREFERENCE_SCHEMA
from twin_assets.monitoring.logs import edited_draft

PROSE_CATEGORIES = ("article", "post")
INSTRUCT, FEEDBACK = "instruct", "feedback"  # the `source` of a pair
FEEDBACK_CATEGORY = "post"  # a request that named no category asked for a post
MIN_WORDS = 12
MIN_REJECTED_SHARE = 0.25  # a rejected answer has at least this share of the chosen text's words
MIN_REJECTED_CHARS = 400  # the length a rejected answer may always reach, however short the chosen
MAX_COPIED_SHARE = 0.8  # above this share of shared words, the rejected answer copies the chosen
_SENTENCE_END = re.compile(r"[.!?…][\"'’”)\]]*(?=\s|$)")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")
_UNPRINTABLE = re.compile("[\ufffd\x00-\x08\x0b-\x1f]")


def complete_sentences(text: str, limit: int | None = None) -> str:
    """The text up to its last sentence end (within `limit` characters); "" when it has none."""
    text = _UNPRINTABLE.sub("", text or "").strip()
    window = text if limit is None else text[:limit]
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    return window[: ends[-1]].strip() if ends else ""


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def copies(rejected: str, chosen: str) -> bool:
    mine, theirs = set(_words(rejected)), set(_words(chosen))
    return bool(mine) and len(mine & theirs) / len(mine) > MAX_COPIED_SHARE


def pair(chosen_text: str, answer: str) -> tuple[str, str] | str:
    """(chosen, rejected) cut to complete sentences, or the reason the pair is dropped."""
    chosen = complete_sentences(chosen_text)
    chosen_words = len(_words(chosen))
    if chosen_words < MIN_WORDS:
        return "chosen_incomplete_or_short"
    rejected = complete_sentences(_BLANK_LINES.sub("\n\n", answer), max(MIN_REJECTED_CHARS, 2 * len(chosen)))
    if not rejected:
        return "rejected_incomplete"
    if len(_words(rejected)) < max(MIN_WORDS, MIN_REJECTED_SHARE * chosen_words):
        return "rejected_short"
    if copies(rejected, chosen):
        return "rejected_copies_chosen"
    return chosen, rejected


def prose_samples(instruct: pl.DataFrame) -> pl.DataFrame:
    """The instruct samples preference pairs are made from, in a fixed order."""
    return instruct.filter(pl.col("category").is_in(PROSE_CATEGORIES)).sort("sample_id")


def build_preference(instruct: pl.DataFrame, answers: Mapping[str, str | None]) -> tuple[pl.DataFrame, dict[str, int]]:
    """Pairs for the prose samples that have an answer (by sample_id), and drops counted by reason.
    A pair keeps its instruct sample's id and split, so both datasets split documents alike."""
    rows, dropped = [], Counter()
    for sample in prose_samples(instruct).iter_rows(named=True):
        answer = answers.get(sample["sample_id"])
        made = "no_answer" if answer is None else pair(sample["output"], answer)
        if isinstance(made, str):
            dropped[made] += 1
            continue
        chosen, rejected = made
        rows.append({
            "sample_id": sample["sample_id"], "document_id": sample["document_id"], "split": sample["split"],
            "category": sample["category"], "prompt": sample["instruction"], "chosen": chosen, "rejected": rejected,
            "source": INSTRUCT,
        })
    return pl.DataFrame(rows, schema=PREFERENCE_SCHEMA), dict(sorted(dropped.items()))


def feedback_sample_id(trace_id: str) -> str:
    return sha256("feedback:" + trace_id)


def feedback_pairs(prompt_logs: pl.DataFrame) -> pl.DataFrame:
    """A pair per request whose draft the author edited into something else (prompt_logs rows):
    prompt = the request's prompt, chosen = the edit, rejected = the draft, in the train split,
    with the request's category (`post` when it named none) and no document. Requests for code,
    and pairs holding an e-mail address or phone number, make no pair; the same prompt edited to
    the same text twice makes one."""
    text = ("prompt", "feedback_edited_text", "answer")
    leaks = pl.any_horizontal(pl.col(c).str.contains(p) for c in text for p in PERSONAL_DATA_PATTERNS)
    rows = (
        prompt_logs.filter(edited_draft() & (pl.col("prompt").str.strip_chars().str.len_chars() > 0))
        .with_columns(pl.col("category").fill_null(FEEDBACK_CATEGORY))
        .filter(pl.col("category").is_in(PROSE_CATEGORIES) & ~leaks)
        .sort("trace_id")
    )
    pairs = pl.DataFrame(
        {
            "sample_id": [feedback_sample_id(t) for t in rows["trace_id"]],
            "split": ["train"] * rows.height,
            "prompt": rows["prompt"].str.strip_chars(),
            "chosen": rows["feedback_edited_text"].str.strip_chars(),
            "rejected": rows["answer"].str.strip_chars(),
            "category": rows["category"],
            "document_id": [None] * rows.height,
            "source": [FEEDBACK] * rows.height,
        },
        schema=PREFERENCE_SCHEMA,
    )
    return _one_per_edit(pairs)


def _one_per_edit(pairs: pl.DataFrame) -> pl.DataFrame:
    """The same prompt edited to the same text twice is one pair (the first kept), sorted by sample_id."""
    return pairs.unique(subset=["prompt", "chosen"], keep="first", maintain_order=True).sort("sample_id")


def with_retained_feedback(fresh: pl.DataFrame, stored: pl.DataFrame, logged_trace_ids: list[str]) -> pl.DataFrame:
    """Fresh feedback pairs plus the stored ones whose request is no longer in prompt_logs (retention
    deleted it): the author's edits stay training data after their requests are gone. A pair whose
    request is still logged is what `feedback_pairs` makes of it now, or nothing."""
    logged = pl.Series([feedback_sample_id(t) for t in logged_trace_ids], dtype=pl.String)
    gone = stored.filter((pl.col("source") == FEEDBACK) & ~pl.col("sample_id").is_in(logged.implode()))
    return _one_per_edit(pl.concat([fresh, gone.select(fresh.columns)]))
