"""What writes the draft: a transformers model in this process (the default, CPU or one GPU) or an
OpenAI-compatible server (vLLM, llama.cpp, Ollama) for GPUs and scale. Both take the grounded
instruction and stream text pieces; retrieval and prompt formats stay in the engine.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from training.prompts import chat_messages, prompt_text

TOP_P = 0.95
# Small models fall into loops ("You have to make a point ..." over and over) on long drafts.
REPETITION_PENALTY = 1.05
NO_REPEAT_NGRAM = 6  # no six-word run twice in one draft


class GenerationError(RuntimeError):
    """The generator failed; `kind` is a short stable code for the prompt logs."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Sampling:
    max_new_tokens: int
    temperature: float
    seed: int | None
    deadline: float  # time.monotonic() after which generation stops


@dataclass
class TokenStream:
    """Text pieces as they come; token counts are known once the stream is used up."""

    pieces: Iterator[str]
    input_tokens: int = 0
    output_tokens: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)

    def __iter__(self) -> Iterator[str]:
        return self.pieces


class Generator(Protocol):
    identity: str  # what the prompt logs call the weights

    def stream(self, instruction: str, sampling: Sampling) -> TokenStream: ...

    def close(self) -> None: ...


class TransformersGenerator:
    """A causal LM loaded once from a folder; each request generates in its own thread and
    streams through a TextIteratorStreamer, with the KV cache transformers keeps per request."""

    def __init__(self, folder: str | Path, identity: str) -> None:
        from training.base_model import load_model, load_tokenizer

        self.identity = identity
        self.tokenizer = load_tokenizer(folder)
        self.model = load_model(folder)
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        # Sampling draws from torch's global generator: a seeded request holds it for its whole
        # generation, so the same seed gives the same draft even with other requests in flight.
        self._seeded = threading.Lock()

    def prompt_ids(self, instruction: str, max_new_tokens: int):
        """The prompt's token ids, its oldest tokens cut when prompt and answer would not fit."""
        text = prompt_text(self.tokenizer, instruction)
        ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        room = max(1, self.max_positions - max_new_tokens)
        return ids[:, -room:]

    def stream(self, instruction: str, sampling: Sampling) -> TokenStream:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        max_new_tokens = min(sampling.max_new_tokens, self.max_positions - 1)
        ids = self.prompt_ids(instruction, max_new_tokens)
        result = TokenStream(iter(()), input_tokens=int(ids.shape[1]))

        class Counting(TextIteratorStreamer):
            def put(self, value):
                if not (self.skip_prompt and self.next_tokens_are_prompt):
                    result.output_tokens += int(value.numel())
                super().put(value)

        class Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                stop = result.cancel.is_set() or time.monotonic() > sampling.deadline
                return torch.full((input_ids.shape[0],), stop, dtype=torch.bool)

        streamer = Counting(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        sample = sampling.temperature > 0
        kwargs = dict(
            input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer, max_new_tokens=max_new_tokens,
            do_sample=sample, pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            stopping_criteria=StoppingCriteriaList([Stop()]),
        )
        if sample:
            kwargs.update(temperature=sampling.temperature, top_p=TOP_P)
        kwargs.update(repetition_penalty=REPETITION_PENALTY, no_repeat_ngram_size=NO_REPEAT_NGRAM)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    if sampling.seed is None:
                        self.model.generate(**kwargs)
                    else:
                        with self._seeded:
                            torch.manual_seed(sampling.seed)
                            self.model.generate(**kwargs)
            except BaseException as exc:  # handed to the reader, which raises it in the request
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, name="twin-generate", daemon=True)
        thread.start()

        def pieces() -> Iterator[str]:
            try:
                for piece in streamer:
                    if piece:
                        yield piece
            finally:
                result.cancel.set()  # a reader that stops early (a closed connection) ends generation
                thread.join()
            if failure:
                raise GenerationError("generation_failed", f"the model failed: {failure[0]}")
            if time.monotonic() > sampling.deadline:
                raise GenerationError("timeout", "generation ran past the request timeout")

        result.pieces = pieces()
        return result

    def close(self) -> None:
        self.model = None


class OpenAIGenerator:
    """Generation on an OpenAI-compatible server: the grounded instruction goes as the same chat
    messages the model was trained on; the server streams back server-sent events."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 300.0) -> None:
        import httpx

        self.identity = f"openai:{model}"
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    def stream(self, instruction: str, sampling: Sampling) -> TokenStream:
        import httpx

        body = {
            "model": self.model, "messages": chat_messages(instruction), "stream": True,
            "max_tokens": sampling.max_new_tokens, "temperature": sampling.temperature, "top_p": TOP_P,
            "stream_options": {"include_usage": True},
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        result = TokenStream(iter(()))

        def pieces() -> Iterator[str]:
            try:
                with self._client.stream("POST", "/chat/completions", json=body) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise GenerationError(f"engine_http_{response.status_code}", f"the engine answered "
                                              f"{response.status_code}: {response.text[:200]}")
                    for event in server_sent_data(response.iter_lines()):
                        if result.cancel.is_set():
                            return
                        if time.monotonic() > sampling.deadline:
                            raise GenerationError("timeout", "generation ran past the request timeout")
                        usage = event.get("usage") or {}
                        result.input_tokens = usage.get("prompt_tokens", result.input_tokens)
                        result.output_tokens = usage.get("completion_tokens", result.output_tokens)
                        for choice in event.get("choices") or []:
                            piece = (choice.get("delta") or {}).get("content")
                            if piece:
                                if not usage:
                                    result.output_tokens += 1  # one piece per token, until usage says exactly
                                yield piece
            except httpx.HTTPError as exc:
                raise GenerationError("engine_unreachable", f"the engine could not be reached: {exc}") from None

        result.pieces = pieces()
        return result

    def close(self) -> None:
        self._client.close()


def server_sent_data(lines: Iterator[str]) -> Iterator[dict]:
    """The JSON payloads of `data:` lines in a server-sent event stream, up to `[DONE]`."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[len("data:"):].strip()
        if payload == "[DONE]":
            return
        if payload:
            yield json.loads(payload)
