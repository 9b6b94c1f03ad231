"""An optional LLM judge of the twin's answers, run when an OpenAI-compatible endpoint is set.

Two questions, both through the cached `JSONChat`, so a re-run over unchanged answers sends nothing:

- Absolute scores, as the LLM Engineer's Handbook asks them: accuracy and style on a 1-3 scale.
  A coarse scale because judges do not use the steps of a finer one consistently.
- A blind pairwise question, "which of these two texts did the reference's author write?", between
  a candidate twin and the production one. Judges prefer whichever text they read first, so each
  pair is asked twice with the positions swapped and the bias cancels out.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

from twin_assets.datasets.llm import JSONChat, LLMError

SCORES = ("1", "2", "3")

SCORES_SYSTEM = (
    "You judge how well an answer written by an assistant imitates one author. You are given the request, "
    "the author's own reference answer to it, and the answer to judge. Rate the answer on two criteria, "
    "each on a scale of 1 to 3.\n"
    "Accuracy: is the answer factually consistent with the reference answer and does it cover its points? "
    "1 = poor: wrong or contradicting the reference, or missing its main points; "
    "2 = acceptable: mostly consistent, some points missing or imprecise; "
    "3 = excellent: consistent with the reference and covering its points.\n"
    "Style: does the answer read like the reference's author (tone, sentence shape, vocabulary, habits) "
    "rather than generic blog prose? "
    "1 = poor: generic or a clearly different voice; "
    "2 = acceptable: some of the author's habits, partly generic; "
    "3 = excellent: could pass for the author.\n"
    'Reply with one JSON object and nothing else: {"accuracy": "1", "style": "3", "reason": "..."}, '
    'where accuracy and style are each the string "1", "2" or "3" and reason is one or two sentences.'
)

PAIRWISE_SYSTEM = (
    "You are an expert in authorship attribution. You are given a request, a reference answer written by "
    "one author, and two other answers to the same request, A and B. Exactly one of A and B was written by "
    "the same author as the reference. Decide which, from the voice alone: tone, sentence shape, vocabulary, "
    "punctuation and formatting habits; not from which answer is better or more correct.\n"
    'Reply with one JSON object and nothing else: {"choice": "A", "reason": "..."}, where choice is '
    'the string "A" or "B" and reason is one or two sentences.'
)


def judge_scores(chat: JSONChat, instruction: str, answer: str, reference: str) -> tuple[int, int]:
    """(accuracy, style) of `answer` against the author's `reference`, each 1 (poor) to 3 (excellent)."""
    user = f"Request:\n{instruction}\n\nReference answer, by the author:\n{reference}\n\nAnswer to judge:\n{answer}"
    reply = chat.ask(SCORES_SYSTEM, user, ("accuracy", "style", "reason"), choices={"accuracy": SCORES, "style": SCORES})
    return int(reply["accuracy"]), int(reply["style"])


def pairwise_preference(chat: JSONChat, instruction: str, reference: str, first: str, second: str) -> str:
    """"first" or "second": which text the judge attributes to the reference's author. Blind: the
    prompt says nothing of which text comes from which model, only A (first) and B (second)."""
    user = f"Request:\n{instruction}\n\nReference answer:\n{reference}\n\nAnswer A:\n{first}\n\nAnswer B:\n{second}"
    choice = chat.ask(PAIRWISE_SYSTEM, user, ("choice", "reason"), choices={"choice": ("A", "B")})["choice"]
    return "first" if choice == "A" else "second"


def _check_items(**columns: Sequence[str]) -> None:
    """A ValueError naming the columns when their lengths differ or are zero, before any request:
    a mean over misaligned items, or over none, would be a wrong number rather than a missing one."""
    lengths = {name: len(column) for name, column in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"the judge needs one of each per item; got lengths {lengths}")
    if not next(iter(lengths.values())):
        raise ValueError("the judge needs at least one item")


def judge_preference_rate(
    chat: JSONChat,
    instructions: Sequence[str],
    references: Sequence[str],
    candidate_answers: Sequence[str],
    production_answers: Sequence[str],
) -> float:
    """How often the blind judge attributes the candidate's answer, rather than production's, to the
    author: 1 per item won in both orders, 0.5 per split, 0 per loss, averaged. A judge that always
    picks the same position splits every item, so it gives exactly 0.5: no preference."""
    _check_items(
        instructions=instructions, references=references,
        candidate_answers=candidate_answers, production_answers=production_answers,
    )
    wins = []
    for instruction, reference, candidate, production in zip(
        instructions, references, candidate_answers, production_answers, strict=True,
    ):
        as_first = pairwise_preference(chat, instruction, reference, candidate, production) == "first"
        as_second = pairwise_preference(chat, instruction, reference, production, candidate) == "second"
        wins.append((as_first + as_second) / 2)
    return fmean(wins)


def judge_means(
    chat: JSONChat, instructions: Sequence[str], answers: Sequence[str], references: Sequence[str],
) -> dict[str, float]:
    """Mean accuracy and mean style (1-3) of the answers over the items."""
    _check_items(instructions=instructions, answers=answers, references=references)
    scores = [judge_scores(chat, *item) for item in zip(instructions, answers, references, strict=True)]
    return {"judge_accuracy": fmean(a for a, _ in scores), "judge_style": fmean(s for _, s in scores)}
