"""The training config rendered as Axolotl YAML, stage by stage.

The same TrainingConfig that drives the local trainer becomes one Axolotl config per stage: SFT
on the instruct_dataset chat export (loss on the assistant turn only, as the local trainer's
prompt/completion split does), then DPO (`rl: dpo`) on the preference_dataset chat export,
continuing the SFT adapter. The chat template is passed in as the exact Jinja text the local
trainer resolves (`training.runtime.chat_template_for`), so both backends format prompts
byte for byte alike. Pure functions: no Axolotl import, so rendering is tested anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from training.config import TrainingConfig
from training.data import DatasetRef

Stage = Literal["sft", "dpo"]
ResolvedPrecision = Literal["fp32", "bf16", "fp16"]
Device = Literal["cuda", "cpu"]
# Axolotl switches its Triton LoRA kernels on by itself; they allocate on CUDA, so a CPU run turns them off.
LORA_KERNEL_KEYS = ("lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel")

# Liger's fused kernels for Llama-style models; Axolotl applies them through its plugin.
LIGER_PLUGIN = "axolotl.integrations.liger.LigerPlugin"
LIGER_KEYS = ("liger_rope", "liger_rms_norm", "liger_glu_activation", "liger_fused_linear_cross_entropy")


def _chat_dataset(path: Path) -> dict[str, Any]:
    return {
        "path": str(path), "ds_type": "json", "split": "train", "type": "chat_template",
        "field_messages": "messages", "message_property_mappings": {"role": "role", "content": "content"},
        # The author's turn is the target; the system prompt and the instruction are context.
        "roles_to_train": ["assistant"], "train_on_eos": "turn",
    }


def _preference_dataset(path: Path) -> dict[str, Any]:
    # The preference chat export: prompt = system + user messages, chosen/rejected = one assistant message.
    return {
        "path": str(path), "ds_type": "json", "split": "train", "type": "chat_template.default",
        "field_messages": "prompt", "field_chosen": "chosen", "field_rejected": "rejected",
    }


def _hardware(device: Device, precision: ResolvedPrecision) -> dict[str, Any]:
    # Explicit false on CPU: Axolotl's `bf16: auto` falls back to fp16 there, which fails.
    settings: dict[str, Any] = {"bf16": precision == "bf16", "fp16": precision == "fp16", "tf32": False}
    if device == "cpu":
        settings.update(dict.fromkeys(LORA_KERNEL_KEYS, False))
    return settings


def render_stage(
    config: TrainingConfig,
    stage: Stage,
    *,
    base_model: str,
    chat_template_jinja: str,
    dataset: DatasetRef,
    output_dir: Path,
    device: Device,
    precision: ResolvedPrecision,
    evaluates: bool = True,
    sft_adapter: Path | None = None,
    tracking: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One stage's Axolotl config. `base_model` is where the weights load from (a folder or a Hub
    id), `dataset` the export this stage reads (its test split evaluates when `evaluates`),
    `sft_adapter` the adapter DPO continues, and `tracking` the MLflow keys (tracking_uri,
    experiment_name, run_name) when the run is tracked."""
    if stage == "dpo" and (config.dpo is None or sft_adapter is None):
        raise ValueError("dpo: the DPO stage needs the config's dpo settings and the SFT adapter it continues")
    size = config.dataset_size
    rendered: dict[str, Any] = {
        "base_model": base_model,
        "chat_template": "jinja",
        "chat_template_jinja": chat_template_jinja,
        "adapter": config.adapter,
        "load_in_4bit": config.adapter == "qlora",
        "load_in_8bit": False,
        "lora_r": config.lora_r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        **({"lora_target_linear": True} if config.lora_target_modules == "all-linear"
           else {"lora_target_modules": list(config.lora_target_modules)}),
        "sequence_len": config.sequence_len,
        "sample_packing": config.sample_packing,
        "pad_to_sequence_len": config.sample_packing,
        "micro_batch_size": config.micro_batch_size,
        "eval_batch_size": config.eval_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "learning_rate": config.learning_rate,
        "num_epochs": config.num_epochs,
        "warmup_ratio": config.warmup_ratio,
        "weight_decay": config.weight_decay,
        "max_grad_norm": config.max_grad_norm,
        "lr_scheduler": config.lr_scheduler,
        "optimizer": config.optimizer,
        "seed": config.seed,
        "gradient_checkpointing": config.gradient_checkpointing,
        **_hardware(device, precision),
        "output_dir": str(output_dir),
        "dataset_prepared_path": str(output_dir / "prepared"),
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": 2,
        "auto_resume_from_checkpoints": True,  # a run killed mid-training resumes from its last checkpoint
        "eval_strategy": ("steps" if config.eval_steps else "epoch") if evaluates else "no",
        **({"eval_steps": config.eval_steps} if config.eval_steps and evaluates else {}),
        "logging_steps": 1,
        "include_tokens_per_second": True,  # counts the input tokens seen, which the card records
        "dataloader_num_workers": 0,
        "save_safetensors": True,
        "strict": False,
    }
    if config.max_steps:
        rendered["max_steps"] = config.max_steps
    if config.liger:
        rendered["plugins"] = [LIGER_PLUGIN]
        rendered.update(dict.fromkeys(LIGER_KEYS, True))
    if stage == "sft":
        rendered["datasets"] = [_chat_dataset(dataset.export_file(size, "train"))]
        if evaluates:
            rendered["test_datasets"] = [_chat_dataset(dataset.export_file(size, "test"))]
    else:
        dpo = config.dpo
        rendered.update({
            "rl": "dpo", "rl_beta": dpo.beta, "learning_rate": dpo.learning_rate, "num_epochs": dpo.num_epochs,
            "lora_model_dir": str(sft_adapter),
            "datasets": [_preference_dataset(dataset.export_file(size, "train"))],
        })
        if evaluates:
            rendered["test_datasets"] = [_preference_dataset(dataset.export_file(size, "test"))]
        rendered.pop("max_steps", None)
        if dpo.max_steps:
            rendered["max_steps"] = dpo.max_steps
    if tracking:
        rendered.update({f"mlflow_{key}": value for key, value in tracking.items()})
    return rendered


def to_yaml(rendered: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(rendered, sort_keys=False, allow_unicode=True, width=120)
