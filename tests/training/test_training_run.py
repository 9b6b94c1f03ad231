"""Short real fine-tuning runs of the tiny local Llama: what the loss covers, the run folder and its
card, adapter against merged weights, resuming after an interruption, a rerun with nothing new,
DPO after SFT, and failures that leave nothing behind."""

from pathlib import Path

import pytest
import torch

from tests.training.conftest import FAST, samples, write_instruct, write_preference
from training.base_model import load_model, load_tokenizer
from training.config import DpoStage
from training.prompts import chat_messages, prompt_text
from training.run import TWINS, BaseModelRef, train_twin, version_name
from training.runtime import detect_runtime, last_complete_checkpoint, load_base_model, load_training_tokenizer
from training.sft import build_sft_trainer, sft_datasets

REPEATED = samples(1) * 4  # micro-batches of 2: every step sees the same batch, so the loss must fall


@pytest.fixture(scope="module")
def trained(tmp_path_factory, base_ref):
    home = tmp_path_factory.mktemp("home")
    instruct = write_instruct(home / "datasets", 1, REPEATED, samples(2, offset=3))
    steps = []
    twin = train_twin(FAST, base_ref, instruct, home / "models", on_step=steps.append)
    return home, instruct, twin, steps


def conversation_tokens(tokenizer, instruction: str, text: str) -> int:
    rendered = tokenizer.apply_chat_template(chat_messages(instruction, text), tokenize=False)
    return len(tokenizer(rendered, add_special_tokens=False)["input_ids"])


def sft_trainer(tmp_path, base_ref, chosen):
    instruct = write_instruct(tmp_path / "datasets", 1, chosen, [])
    runtime = detect_runtime(FAST)
    tokenizer = load_training_tokenizer(base_ref.location, FAST.chat_template)
    train, _ = sft_datasets(instruct, "tiny")
    model = load_base_model(base_ref.location, runtime, four_bit=False)
    return build_sft_trainer(FAST, runtime, model, tokenizer, train, None, tmp_path / "out"), tokenizer


def test_the_loss_covers_exactly_the_authors_text(tmp_path, base_ref):
    """Labels are -100 over the system prompt and instruction (rendered as serving renders them)
    and equal the tokens over the author's turn, its end-of-turn token included."""
    chosen = samples(3)
    trainer, tokenizer = sft_trainer(tmp_path, base_ref, chosen)
    examples = list(trainer.train_dataset)
    assert len(examples) == 3
    for example in examples:
        ids, labels = example["input_ids"], example["labels"]
        start = next(i for i, label in enumerate(labels) if label != -100)
        assert all(label == -100 for label in labels[:start]) and labels[start:] == ids[start:]
        instruction, text = next(s for s in chosen if tokenizer.decode(ids[:start]) == prompt_text(tokenizer, s[0]))
        assert tokenizer.decode(ids[start:]) == text + "<|im_end|>\n"


def test_the_cpu_trainer_computes_trls_loss_without_its_chunked_head(tmp_path, base_ref):
    from trl import SFTTrainer

    trainer, _ = sft_trainer(tmp_path, base_ref, samples(2))
    assert type(trainer) is not SFTTrainer
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        ours = trainer.compute_loss(trainer.model, dict(batch))
        trls = SFTTrainer.compute_loss(trainer, trainer.model, dict(batch))
    assert torch.allclose(ours, trls, atol=1e-5)


def test_a_short_run_lowers_the_loss_on_a_repeated_batch_and_reports_every_step(trained):
    _, _, twin, steps = trained
    assert [s.step for s in steps] == [1, 2, 3, 4] and {s.stage for s in steps} == {"sft"}
    assert steps[-1].loss < steps[0].loss
    assert all(s.tokens_per_second > 0 and s.learning_rate == FAST.learning_rate and s.max_steps == 4 for s in steps)
    assert [h["loss"] for h in twin.card["stages"]["sft"]["loss_history"]] == [s.loss for s in steps]


def test_the_card_records_what_made_the_model(trained, base_ref):
    _, instruct, twin, _ = trained
    card = twin.card
    assert card["version"] == twin.version == version_name(FAST, base_ref, instruct)
    assert card["base_model"] == {"name": "local:tiny-llama", "identity": base_ref.identity}
    assert card["datasets"] == {"instruct_dataset": {"version": 1, "size": "tiny", "train_samples": 4, "test_samples": 2}}
    assert card["config"] == FAST.to_dict() and card["config_hash"] == FAST.config_hash()
    assert card["device"] == "cpu" and card["precision"] == "fp32"
    assert card["train_loss"] > 0 and card["eval_loss"] > 0 and card["tokens_per_second"] > 0 and card["seconds"] > 0
    assert len(card["stages"]["sft"]["loss_history"]) == 4 and card["stages"]["sft"]["eval_history"]
    assert "code_version" in card and "created_at" in card
    # Four steps of two copies of one conversation, no padding counted.
    tokenizer = load_tokenizer(twin.merged_dir)
    assert card["tokens_seen"] == 4 * 2 * conversation_tokens(tokenizer, *REPEATED[0])


def test_the_version_folder_holds_adapter_merged_and_card_and_nothing_is_left_over(trained):
    home, _, twin, _ = trained
    assert sorted(p.name for p in twin.folder.iterdir()) == ["adapter", "card.json", "merged"]
    assert (twin.adapter_dir / "adapter_config.json").is_file() and not (twin.adapter_dir / "ref").exists()
    assert [p.name for p in (home / "models" / TWINS).iterdir()] == [twin.version]  # the work folder is gone
    # The merged model's tokenizer formats prompts exactly as training did: serving cannot drift.
    assert prompt_text(load_tokenizer(twin.merged_dir), "Write a post.") == \
        prompt_text(load_tokenizer(twin.adapter_dir), "Write a post.")


def test_the_adapter_on_the_base_gives_the_merged_models_output(trained, base_ref):
    from peft import PeftModel

    _, _, twin, _ = trained
    tokenizer = load_tokenizer(twin.merged_dir)
    batch = tokenizer(prompt_text(tokenizer, "Write a paragraph about item 0."), return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        adapted = PeftModel.from_pretrained(load_model(base_ref.location), twin.adapter_dir).eval()(**batch).logits
        merged = load_model(twin.merged_dir)(**batch).logits
        base = load_model(base_ref.location)(**batch).logits
    assert torch.allclose(adapted, merged, atol=1e-4)
    assert not torch.allclose(merged, base, atol=1e-3)  # training changed the model


def test_a_rerun_with_nothing_new_returns_the_existing_card_without_training(trained, base_ref):
    home, instruct, twin, _ = trained
    steps = []
    again = train_twin(FAST, base_ref, instruct, home / "models", on_step=steps.append)
    assert again.reused and not twin.reused and steps == []
    assert (again.folder, again.card) == (twin.folder, twin.card)


class Interrupted(Exception):
    pass


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, base_ref):
    instruct = write_instruct(tmp_path / "datasets", 1, samples(4), [])
    models = tmp_path / "models"
    version = version_name(FAST, base_ref, instruct)

    def stop_at_step_3(metrics):
        if metrics.step == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_twin(FAST, base_ref, instruct, models, on_step=stop_at_step_3)
    assert not (models / TWINS / version).exists()
    checkpoint = last_complete_checkpoint(models / TWINS / f"{version}.work" / "sft" / "checkpoints")
    assert checkpoint is not None and checkpoint.name == "checkpoint-2"

    steps = []
    twin = train_twin(FAST, base_ref, instruct, models, on_step=steps.append)
    assert [s.step for s in steps] == [3, 4]
    sft = twin.card["stages"]["sft"]
    assert sft["resumed_from_step"] == 2 and [h["step"] for h in sft["loss_history"]] == [1, 2, 3, 4]
    assert sft["eval_loss"] is None and twin.card["eval_loss"] is None  # this dataset has no test split
    assert twin.card["tokens_seen"] == sft["loss_history"][-1]["tokens_seen"] > sft["session_tokens"] > 0


def test_dpo_continues_the_sft_adapter_on_the_preference_pairs(tmp_path, base_ref):
    config = FAST.model_copy(update={"max_steps": 2, "dpo": DpoStage(max_steps=2, learning_rate=1e-3)})
    instruct = write_instruct(tmp_path / "datasets", 1, samples(4), [])
    pairs = write_preference(tmp_path / "datasets", 2, samples(4), samples(2, offset=4))
    steps = []
    twin = train_twin(config, base_ref, instruct, tmp_path / "models", preference=pairs, on_step=steps.append)
    assert twin.version.startswith("tiny-sft-dpo-")
    assert [(s.stage, s.step) for s in steps] == [("sft", 1), ("sft", 2), ("dpo", 1), ("dpo", 2)]
    assert set(twin.card["stages"]) == {"sft", "dpo"} and twin.card["stages"]["dpo"]["eval_loss"] is not None
    assert twin.card["datasets"]["preference_dataset"] == {"version": 2, "size": "tiny", "train_samples": 4, "test_samples": 2}
    assert sorted(p.name for p in twin.adapter_dir.iterdir() if p.is_dir()) == []  # the frozen "ref" copy stays behind


def test_a_dpo_config_without_pairs_is_refused(tmp_path, base_ref):
    instruct = write_instruct(tmp_path / "datasets", 1, samples(2), [])
    with pytest.raises(ValueError, match="dpo: .*no preference dataset"):
        train_twin(FAST.model_copy(update={"dpo": DpoStage()}), base_ref, instruct, tmp_path / "models")


@pytest.mark.parametrize(
    ("train", "base", "message"),
    [
        ([], None, r"instruct_dataset v1 \(tiny\) has no train samples"),
        (samples(2), BaseModelRef("/nonexistent/base-model", "nothing"), "base model '/nonexistent/base-model'.*cannot be loaded"),
    ],
    ids=["empty-dataset", "missing-base-model"],
)
def test_a_run_that_cannot_start_fails_clearly_and_writes_nothing(tmp_path, base_ref, train, base, message):
    instruct = write_instruct(tmp_path / "datasets", 1, train, samples(1))
    with pytest.raises(ValueError, match=message):
        train_twin(FAST, base or base_ref, instruct, tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_a_missing_dataset_size_names_the_file(tmp_path, base_ref):
    instruct = write_instruct(tmp_path / "datasets", 1, samples(2), [])
    with pytest.raises(ValueError, match=str(Path("v1") / "small" / "train.chat.jsonl")):
        train_twin(FAST.model_copy(update={"dataset_size": "small"}), base_ref, instruct, tmp_path / "models")
