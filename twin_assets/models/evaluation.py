"""Does a twin write like its author? Scores of each model on the author's held-out test split
(split by document, so no model trained on these texts), one row per model, metric and
category, the shape of the `model_evaluation` table.

Plain Python: the asset loads the models and generates; these functions turn texts and
log-likelihoods into numbers. Every metric's direction is in HIGHER_IS_BETTER.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from twin_assets.models.metrics import CopyIndex, length_ratio, mean_reciprocal_rank, python_parses, recall_at_k, rouge_l
from twin_assets.models.style import cosine_delta, profile_differences, profile_distance, style_profile

ALL = "all"  # the category of a row over every test sample
CODE_CATEGORY = "repository"
# Rows `style/<measure>` hold one style_profile measure of a model's writing, and of the author's
# training texts (role AUTHOR): no direction is better, only closer to the author's.
STYLE_PREFIX = "style/"
AUTHOR = "author"

# What a better twin does to each metric; the gate and the comparison table read it.
HIGHER_IS_BETTER = {
    "perplexity": False,
    "cosine_delta": False,
    "style_profile_distance": False,
    "author_likeness": True,
    "memorisation_rate": False,
    "rouge_l": True,
    "length_ratio_error": False,
    "python_parse_rate": True,
    "recall_at_k": True,
    "mrr": True,
    "verifier_auc": True,
    "judge_accuracy": True,
    "judge_style": True,
    "judge_preference": True,
}


@dataclass(frozen=True)
class EvaluationSettings:
    """Fixed so that a re-run with nothing new generates nothing and gives the same numbers."""

    max_samples: int = 48  # test samples each model writes for; perplexity scores them all
    max_new_tokens: int = 160
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int = 0
    k: int = 5  # retrieval: is the source document among the first k results
    pool_words: int = 1500  # Cosine Delta pools short texts to at least this many words
    copy_words: int = 12  # a generation that copies this many training words verbatim is memorised
    copy_chars: int = 50  # ... or this many characters


@dataclass(frozen=True)
class HeldOutSplit:
    """The held-out samples a model is scored on, in sample_id order."""

    sample_ids: list[str]
    instructions: list[str]
    outputs: list[str]  # the author's own text for each instruction
    categories: list[str]
    document_ids: list[str]

    @classmethod
    def of(cls, instruct: pl.DataFrame, limit: int | None = None) -> HeldOutSplit:
        test = instruct.filter(pl.col("split") == "test").sort("sample_id")
        if limit is not None:
            test = test.head(limit)
        if test.is_empty():
            raise ValueError("instruct_dataset has no test samples to evaluate on")
        return cls(*(test[c].to_list() for c in ("sample_id", "instruction", "output", "category", "document_id")))

    def by_category(self) -> dict[str, list[int]]:
        """Row positions per category, plus ALL."""
        groups: dict[str, list[int]] = {ALL: list(range(len(self.outputs)))}
        for position, category in enumerate(self.categories):
            groups.setdefault(category, []).append(position)
        return groups


def row(model: str, role: str, metric: str, value: float, category: str = ALL, samples: int = 0) -> dict[str, Any]:
    return {"model": model, "role": role, "metric": metric, "category": category, "value": float(value),
            "samples": samples}


def generation_scores(
    model: str, role: str, generations: Sequence[str], split: HeldOutSplit, author_texts: Sequence[str],
    author_profile: dict[str, float], copies: CopyIndex, author_likeness: Callable[[Sequence[str]], float],
    settings: EvaluationSettings,
) -> list[dict[str, Any]]:
    """Style, authorship, memorisation and task fit of what `model` wrote for the test instructions.

    Style compares the generations with `author_texts` (the author's training texts: enough of
    them to pool, and the style the twin was taught) and their `author_profile` (style_profile of
    them, computed once for every model scored), task fit with the author's own answers."""
    if len(generations) != len(split.outputs):
        raise ValueError(f"{len(generations)} generations for {len(split.outputs)} test samples")
    count = len(generations)
    profile = style_profile(generations)
    rows = [
        row(model, role, "cosine_delta", cosine_delta(author_texts, generations, min_words=settings.pool_words), samples=count),
        row(model, role, "style_profile_distance", profile_distance(author_profile, profile), samples=count),
        row(model, role, "author_likeness", author_likeness(generations), samples=count),
        *style_rows(model, role, profile, count),
    ]
    copied = [copies.longest_span(text) for text in generations]
    memorised = sum(chars >= settings.copy_chars or words >= settings.copy_words for chars, words in copied)
    rows.append(row(model, role, "memorisation_rate", memorised / count, samples=count))
    for category, positions in split.by_category().items():
        pairs = [(generations[p], split.outputs[p]) for p in positions]
        rows.append(row(model, role, "rouge_l", _mean(rouge_l(g, o) for g, o in pairs), category, len(pairs)))
        # How far from the author's length, either way: 0 is the author's length.
        rows.append(row(model, role, "length_ratio_error", _mean(abs(length_ratio(g, o) - 1) for g, o in pairs),
                        category, len(pairs)))
        if category == CODE_CATEGORY:
            rows.append(row(model, role, "python_parse_rate", _mean(python_parses(g) for g, _ in pairs), category, len(pairs)))
    return rows


def style_rows(model: str, role: str, profile: dict[str, float], samples: int) -> list[dict[str, Any]]:
    """A style_profile as rows, one per measure."""
    return [row(model, role, STYLE_PREFIX + measure, value, samples=samples) for measure, value in profile.items()]


def is_style_metric(metric: str) -> bool:
    return metric.startswith(STYLE_PREFIX)


def style_differences(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """measure -> {model role: signed relative difference from the author's value} (0 is like the
    author; see style.profile_differences), from the style rows of one evaluation."""
    profiles: dict[str, dict[str, float]] = {}
    for r in rows:
        if is_style_metric(r["metric"]) and r["category"] == ALL:
            profiles.setdefault(r["role"], {})[r["metric"].removeprefix(STYLE_PREFIX)] = r["value"]
    author = profiles.pop(AUTHOR, None)
    if author is None:
        return {}
    table: dict[str, dict[str, float]] = {}
    for role, profile in profiles.items():
        for measure, difference in profile_differences(author, profile).items():
            table.setdefault(measure, {})[role] = difference
    return table


def perplexity_rows(model: str, role: str, score: Callable[[list[int]], float], split: HeldOutSplit) -> list[dict[str, Any]]:
    """Perplexity over all test samples and per category; `score(positions)` returns the
    perplexity of the author's answers at those positions."""
    return [row(model, role, "perplexity", score(positions), category, len(positions))
            for category, positions in split.by_category().items()]


def retrieval_rows(ranked_documents: Sequence[Sequence[str]], split: HeldOutSplit, k: int) -> list[dict[str, Any]]:
    """Whether retrieval for each test instruction finds the document the author's answer came from."""
    rows = []
    for category, positions in split.by_category().items():
        ranked = [ranked_documents[p] for p in positions]
        relevant = [split.document_ids[p] for p in positions]
        rows.append(row("retrieval", "retrieval", "recall_at_k", recall_at_k(ranked, relevant, k), category, len(positions)))
        rows.append(row("retrieval", "retrieval", "mrr", mean_reciprocal_rank(ranked, relevant), category, len(positions)))
    return rows


def evaluation_frame(rows: list[dict[str, Any]], evaluation: str, instruct_version: int, evaluated_at: Any) -> pl.DataFrame:
    """The rows as the model_evaluation table stores them: keyed by evaluation, model, metric, category."""
    frame = pl.DataFrame(rows, schema={"model": pl.String(), "role": pl.String(), "metric": pl.String(),
                                       "category": pl.String(), "value": pl.Float64(), "samples": pl.Int64()})
    keys = [hashlib.sha256(f"{evaluation}|{r['model']}|{r['metric']}|{r['category']}".encode()).hexdigest() for r in rows]
    return frame.with_columns(
        pl.Series("row_id", keys, dtype=pl.String()), pl.lit(evaluation).alias("evaluation"),
        pl.lit(instruct_version, dtype=pl.Int64()).alias("instruct_dataset_version"),
        pl.lit(evaluated_at).cast(pl.Datetime("us", "UTC")).alias("evaluated_at"),
    )


def comparison(rows: list[dict[str, Any]], category: str = ALL) -> dict[str, dict[str, float]]:
    """metric -> {model role: value} for one category."""
    table: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["category"] == category:
            table.setdefault(r["metric"], {})[r["role"]] = r["value"]
    return table


def _mean(values: Any) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


@dataclass(frozen=True)
class GateSettings:
    """What a candidate must show to replace production."""

    perplexity_margin: float = 0.02  # at least 2 % below the base model's perplexity
    style_margin: float = 0.0  # Cosine Delta to the author below the base model's by more than this
    production_tolerance: float = 0.05  # no more than 5 % worse than production on perplexity and style
    max_memorisation: float = 0.05  # at most 5 % of generations paste a long span of the training set
    # With the judge on, the candidate must be taken for the author at least as often as production.


def gate_failures(table: dict[str, dict[str, float]], settings: GateSettings) -> list[str]:
    """Each gate condition the candidate fails, with the numbers; empty when it passes.
    `table` is `comparison(rows)`: metric -> {role: value}."""
    failures = []
    perplexity, style = table.get("perplexity", {}), table.get("cosine_delta", {})
    if "candidate" in perplexity and "base" in perplexity:
        ceiling = perplexity["base"] * (1 - settings.perplexity_margin)
        if perplexity["candidate"] > ceiling:
            failures.append(f"perplexity {perplexity['candidate']:.3f} is not {settings.perplexity_margin:.0%} below the "
                            f"base model's {perplexity['base']:.3f} (needs at most {ceiling:.3f})")
    if "candidate" in style and "base" in style:
        ceiling = style["base"] - settings.style_margin
        if style["candidate"] >= ceiling:
            failures.append(f"style distance (Cosine Delta) {style['candidate']:.3f} is not below the base model's "
                            f"{style['base']:.3f} by more than {settings.style_margin:g}")
    for metric, values in (("perplexity", perplexity), ("cosine_delta", style)):
        if "candidate" in values and "production" in values:
            ceiling = values["production"] * (1 + settings.production_tolerance)
            if values["candidate"] > ceiling:
                failures.append(f"{metric} {values['candidate']:.3f} is worse than production's {values['production']:.3f} "
                                f"beyond the {settings.production_tolerance:.0%} tolerance (at most {ceiling:.3f})")
    preferred = table.get("judge_preference", {}).get("candidate")
    if preferred is not None and preferred < 0.5:
        failures.append(f"the judge took production's drafts for the author's more often: the candidate's were chosen in "
                        f"{preferred:.0%} of blind comparisons (at least 50%)")
    memorised = table.get("memorisation_rate", {}).get("candidate")
    if memorised is not None and memorised > settings.max_memorisation:
        failures.append(f"memorisation {memorised:.1%} of generations copy a long training span "
                        f"(at most {settings.max_memorisation:.0%})")
    return failures
