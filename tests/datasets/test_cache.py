"""The answer cache: only missing items are computed, in batches, and kept when a later batch fails."""

import pytest

from twin_assets.datasets.cache import AnswerCache


def test_only_missing_items_are_computed_once_each(tmp_path):
    cache = AnswerCache(tmp_path / "answers.sqlite")
    asked: list[list[str]] = []

    def upper(items):
        asked.append(items)
        return [item.upper() for item in items]

    assert cache.map("v1", ["a", "b", "a"], upper) == ["A", "B", "A"]
    assert cache.map("v1", ["b", "c"], upper) == ["B", "C"]
    assert asked == [["a", "b"], ["c"]]
    assert cache.map("v2", ["a"], upper) == ["A"] and asked[-1] == ["a"]  # another namespace, another answer


def test_a_failing_batch_keeps_the_batches_before_it_and_unanswered_items_are_asked_again(tmp_path):
    path = tmp_path / "answers.sqlite"
    calls: list[list[str]] = []

    def fails_on_c(items):
        calls.append(items)
        if "c" in items:
            raise RuntimeError("generator crashed")
        return [None if item == "b" else item * 2 for item in items]

    with pytest.raises(RuntimeError):
        AnswerCache(path).map("v1", ["a", "b", "c"], fails_on_c, batch=2)
    reopened = AnswerCache(path)
    assert reopened.map("v1", ["a", "b"], lambda items: [f"new {i}" for i in items]) == ["aa", "new b"]
