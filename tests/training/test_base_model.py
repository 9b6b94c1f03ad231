"""The local base model: tokenizer, build, reproducibility, generation, prompt formats."""

import json

import pytest
import torch

from tests.documents import ARTICLE, OTHER_ARTICLE
from training.base_model import (
    CARD_FILE,
    TinyLlamaSpec,
    build_tiny_llama,
    load_model,
    load_tokenizer,
    read_card,
    train_tokenizer,
)
from training.generate import Sampling, TextGenerator
from training.prompts import SYSTEM_PROMPT, alpaca_prompt, prompt_text

SMALL = TinyLlamaSpec(vocab_size=600, warmup_steps=10, sequence_length=128)


def test_the_tokenizer_encodes_any_text_back_to_itself():
    tokenizer = train_tokenizer([ARTICLE, OTHER_ARTICLE] * 3, 600)
    for text in (ARTICLE, "Ünïcode, emoji 👩‍💻 and\n\tcode: `x = {'a': 1}`", "words it never saw: zyzzyva"):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text
    assert tokenizer.unk_token_id is None or tokenizer.unk_token_id not in tokenizer(ARTICLE)["input_ids"]


def test_the_tokenizer_carries_the_chatml_template():
    tokenizer = train_tokenizer([ARTICLE, OTHER_ARTICLE] * 3, 600)
    text = prompt_text(tokenizer, "Write a post about reruns.")
    assert text == f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\nWrite a post about reruns.<|im_end|>\n" \
                   "<|im_start|>assistant\n"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3  # one token each, not split into bytes


def test_a_tokenizer_without_a_chat_template_gets_the_alpaca_prompt():
    class Plain:
        chat_template = None

    assert prompt_text(Plain(), "Write a post.") == alpaca_prompt("Write a post.") == \
        "### Instruction:\nWrite a post.\n\n### Response:\n"


def test_the_same_texts_and_spec_build_the_same_model(tmp_path, tiny_base_model):
    card = build_tiny_llama([ARTICLE, OTHER_ARTICLE] * 4, tmp_path / "again", SMALL)
    first, second = load_model(tiny_base_model), load_model(tmp_path / "again")
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True))
    kept, _ = read_card(tiny_base_model)
    assert kept.identity == card.identity and kept.parameters == card.parameters > 10_000
    assert card.warmup_loss < 7  # below log(600) = 6.4 + slack: it learned something from the corpus
    assert json.loads((tmp_path / "again" / CARD_FILE).read_text())["spec"]["warmup_steps"] == 10


def test_another_corpus_gives_another_identity(tmp_path, tiny_base_model):
    card = build_tiny_llama([OTHER_ARTICLE, ARTICLE] * 4 + ["One more post."], tmp_path / "other", SMALL)
    assert card.identity != read_card(tiny_base_model)[0].identity


@pytest.mark.parametrize(
    ("texts", "message"),
    [([], "cleaned_documents is empty"), (["  "], "cleaned_documents is empty"), (["A short corpus."], "needs 256")],
    ids=["no-text", "blank", "too-small"],
)
def test_a_corpus_too_small_to_learn_from_is_refused_with_a_clear_error(tmp_path, texts, message):
    with pytest.raises(ValueError, match=message):
        build_tiny_llama(texts, tmp_path / "model", SMALL)
    assert read_card(tmp_path / "model") is None


def test_the_generator_answers_every_instruction_and_repeats_itself_with_the_same_seed(tiny_base_model):
    sampling = Sampling(max_new_tokens=24, min_new_tokens=8, batch_size=2)
    instructions = ["Write a post about reruns.", "Explain idempotency.", "Write about dashboards in three sentences."]
    answers = TextGenerator(tiny_base_model, sampling).answer(instructions)
    assert len(answers) == 3 and all(isinstance(a, str) and a for a in answers)
    tokenizer = load_tokenizer(tiny_base_model)
    assert all(8 <= len(tokenizer(a, add_special_tokens=False)["input_ids"]) <= 30 for a in answers)
    assert TextGenerator(tiny_base_model, sampling).answer(instructions) == answers
