"""Perplexity of the author's text given its instruction: the number training lowers.

Samples are chat exports (system, user, assistant). Each is rendered with the tokenizer's chat
template exactly as TRL renders a prompt/completion pair in training (the prompt with the
generation prompt, then the whole conversation), and only the assistant's tokens count. Two
models are comparable only when they share a tokenizer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def completion_tokens(tokenizer: Any, messages: Sequence[dict[str, str]], max_length: int) -> tuple[list[int], list[int]]:
    """Token ids of the whole conversation and its labels: -100 over the prompt, the ids over
    the author's turn; cut at `max_length` tokens as training cuts."""
    prompt = tokenizer.apply_chat_template(list(messages[:-1]), add_generation_prompt=True, tokenize=True)
    full = tokenizer.apply_chat_template(list(messages), tokenize=True)
    prompt, full = _ids(prompt), _ids(full)
    if full[: len(prompt)] != prompt:
        raise ValueError("the chat template renders the prompt differently inside the conversation")
    labels = [-100] * len(prompt) + full[len(prompt):]
    return full[:max_length], labels[:max_length]


def _ids(encoded: Any) -> list[int]:
    return list(encoded["input_ids"] if isinstance(encoded, dict) or hasattr(encoded, "keys") else encoded)


def completion_perplexity(
    model: Any, tokenizer: Any, samples: Sequence[dict[str, Any]], max_length: int = 2048, batch_size: int = 8,
) -> dict[str, float]:
    """exp(mean negative log-likelihood per author token) over `samples` (chat export rows)."""
    import torch

    encoded = [completion_tokens(tokenizer, sample["messages"], max_length) for sample in samples]
    encoded = [(ids, labels) for ids, labels in encoded if any(label != -100 for label in labels[1:])]
    if not encoded:
        raise ValueError("no sample has any of the author's tokens to score")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            batch = encoded[start : start + batch_size]
            width = max(len(ids) for ids, _ in batch)
            input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in batch], device=device)
            attention = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch], device=device)
            labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch], device=device)
            logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
            shifted, targets = logits[:, :-1], labels[:, 1:]
            nll = torch.nn.functional.cross_entropy(
                shifted.reshape(-1, shifted.size(-1)), targets.reshape(-1), ignore_index=-100, reduction="sum",
            )
            total_nll += float(nll)
            total_tokens += int((targets != -100).sum())
    mean_nll = total_nll / total_tokens
    return {"perplexity": math.exp(mean_nll), "mean_nll": mean_nll, "tokens": total_tokens, "samples": len(encoded)}
