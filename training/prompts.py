"""Prompt formats, defined once for the dataset exports, training and serving."""

from __future__ import annotations

from typing import Any

SYSTEM_PROMPT = "You write in the voice of the author whose work you learned from."
ALPACA_PROMPT = "### Instruction:\n{instruction}\n\n### Response:\n"
# ChatML, which Axolotl and TRL know by name; the local base model's tokenizer carries it.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def chat_messages(instruction: str, answer: str | None = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": instruction}]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return messages


def alpaca_prompt(instruction: str) -> str:
    return ALPACA_PROMPT.format(instruction=instruction)


def prompt_text(tokenizer: Any, instruction: str) -> str:
    """What a causal LM is given to answer `instruction`: its chat template when it has one
    (instruct models, the local base model), else the alpaca prompt (plain pretrained models)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(chat_messages(instruction), add_generation_prompt=True, tokenize=False)
    return alpaca_prompt(instruction)


CONTEXT_HEADER = "Some of your earlier writing on this:"
LINK_HEADER = "Notes from pages the request links to (not your writing; use them as facts):"
CONTEXT_BREAK = "\n\n---\n\n"


def grounded_instruction(instruction: str, passages: list[str], link_notes: list[str] = ()) -> str:
    """The instruction after the retrieved context: the author's own passages (unnumbered: a small
    model copies numbering into its answer) and notes from linked pages. The instruction comes
    last, so the model answers it rather than continuing the context. With no context it is the
    instruction itself, exactly as in training."""
    parts = []
    if passages:
        parts.append(CONTEXT_HEADER + "\n\n" + CONTEXT_BREAK.join(p.strip() for p in passages))
    if link_notes:
        parts.append(LINK_HEADER + "\n\n" + CONTEXT_BREAK.join(note.strip() for note in link_notes))
    parts.append(instruction.strip())
    return CONTEXT_BREAK.join(parts)
