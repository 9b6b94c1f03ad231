"""Perplexity on the author's tokens only, rendered as training renders them."""

import math

import pytest

from tests.training.conftest import samples
from training.base_model import load_model
from training.perplexity import completion_perplexity, completion_tokens
from training.prompts import chat_messages
from training.runtime import load_training_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_base_model):
    return load_training_tokenizer(tiny_base_model, "tokenizer_default_fallback_chatml")


def _rows(count: int) -> list[dict]:
    return [{"messages": chat_messages(instruction, output)} for instruction, output in samples(count)]


def test_only_the_authors_turn_is_scored_and_the_cut_matches_training(tokenizer):
    messages = _rows(1)[0]["messages"]
    ids, labels = completion_tokens(tokenizer, messages, max_length=4096)
    scored = [token for token, label in zip(ids, labels) if label != -100]
    assert scored == ids[len(ids) - len(scored):]  # a suffix: the prompt is never scored
    assert messages[-1]["content"][:40] in tokenizer.decode(scored)
    assert messages[1]["content"] not in tokenizer.decode(scored)  # the instruction is not
    short_ids, short_labels = completion_tokens(tokenizer, messages, max_length=20)
    assert short_ids == ids[:20] and short_labels == labels[:20]


def test_perplexity_is_the_exponent_of_the_mean_token_loss_whatever_the_batch(tiny_base_model, tokenizer):
    model = load_model(tiny_base_model)
    one_by_one = completion_perplexity(model, tokenizer, _rows(5), batch_size=1)
    batched = completion_perplexity(model, tokenizer, _rows(5), batch_size=4)
    assert batched["tokens"] == one_by_one["tokens"] and batched["samples"] == 5
    assert batched["perplexity"] == pytest.approx(one_by_one["perplexity"], rel=1e-4)
    assert batched["perplexity"] == pytest.approx(math.exp(batched["mean_nll"]))
    assert 1 < batched["perplexity"] < tokenizer.vocab_size * 10


def test_nothing_to_score_is_an_error(tiny_base_model, tokenizer):
    model = load_model(tiny_base_model)
    with pytest.raises(ValueError, match="no sample has any of the author's tokens"):
        completion_perplexity(model, tokenizer, _rows(2), max_length=5)
