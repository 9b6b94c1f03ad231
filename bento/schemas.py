"""Request and response shapes, shared by the HTTP API, the gRPC server and the CLI.

Validation lives here once: both protocols answer bad input with the same message."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from twin_assets.features.retrieval import SearchResult

Category = Literal["article", "post", "repository"]
MAX_PROMPT_CHARS = 8_000
MAX_LINKS = 5


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateRequest(_Strict):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS, description="what to write")
    author: str | None = Field(None, description="whose writing to draw on (default: the served twin's author)")
    category: Category | None = Field(None, description="draw only on this kind of the author's writing")
    links: list[str] = Field(default_factory=list, max_length=MAX_LINKS,
                             description="pages to use as extra knowledge for this draft (never stored as the author's)")
    k: int = Field(3, ge=0, le=20, description="how many of the author's passages to draw on (0: none)")
    max_new_tokens: int = Field(256, ge=1, le=2048)
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="0 writes greedily")
    seed: int | None = Field(None, ge=0, description="the same seed and request give the same draft")
    stream: bool = Field(False, description="send text pieces as server-sent events as they come")

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, prompt: str) -> str:
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        return prompt


class SearchRequest(_Strict):
    query: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    k: int = Field(5, ge=1, le=50)
    author: str | None = None
    category: Category | None = None


class Source(BaseModel):
    document_id: str | None = Field(description="the author's document; empty for a linked page")
    title: str | None
    url: str
    score: float
    kind: Literal["author", "link"] = "author"


class Draft(BaseModel):
    text: str
    sources: list[Source]
    model_version: str
    trace_id: str
    input_tokens: int = 0
    output_tokens: int = 0


class SearchResponse(BaseModel):
    results: list[SearchResult]  # the retrieval code's own result type: one definition of a hit


class FeedbackRequest(_Strict):
    trace_id: str = Field(min_length=1, max_length=64)
    rating: int | None = Field(None, ge=-1, le=1, description="-1 thumbs down, 0 neutral, 1 thumbs up")
    edited_text: str | None = Field(None, max_length=100_000, description="the author's edit of the draft")
    reason: str | None = Field(None, max_length=2_000)


class FeedbackResponse(BaseModel):
    trace_id: str
    recorded: bool = True
