from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GenerateRequest(_message.Message):
    __slots__ = ("prompt", "author", "category", "links", "k", "max_new_tokens", "temperature", "seed")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    author: str
    category: str
    links: _containers.RepeatedScalarFieldContainer[str]
    k: int
    max_new_tokens: int
    temperature: float
    seed: int
    def __init__(self, prompt: _Optional[str] = ..., author: _Optional[str] = ..., category: _Optional[str] = ..., links: _Optional[_Iterable[str]] = ..., k: _Optional[int] = ..., max_new_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class Source(_message.Message):
    __slots__ = ("document_id", "title", "url", "score", "kind")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    title: str
    url: str
    score: float
    kind: str
    def __init__(self, document_id: _Optional[str] = ..., title: _Optional[str] = ..., url: _Optional[str] = ..., score: _Optional[float] = ..., kind: _Optional[str] = ...) -> None: ...

class GenerateStart(_message.Message):
    __slots__ = ("trace_id", "model_version", "sources")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    model_version: str
    sources: _containers.RepeatedCompositeFieldContainer[Source]
    def __init__(self, trace_id: _Optional[str] = ..., model_version: _Optional[str] = ..., sources: _Optional[_Iterable[_Union[Source, _Mapping]]] = ...) -> None: ...

class GenerateDone(_message.Message):
    __slots__ = ("input_tokens", "output_tokens")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ...) -> None: ...

class GenerateReply(_message.Message):
    __slots__ = ("start", "piece", "done")
    START_FIELD_NUMBER: _ClassVar[int]
    PIECE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    start: GenerateStart
    piece: str
    done: GenerateDone
    def __init__(self, start: _Optional[_Union[GenerateStart, _Mapping]] = ..., piece: _Optional[str] = ..., done: _Optional[_Union[GenerateDone, _Mapping]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("query", "k", "author", "category")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    query: str
    k: int
    author: str
    category: str
    def __init__(self, query: _Optional[str] = ..., k: _Optional[int] = ..., author: _Optional[str] = ..., category: _Optional[str] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("chunk_id", "document_id", "url", "title", "category", "text", "score")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    document_id: str
    url: str
    title: str
    category: str
    text: str
    score: float
    def __init__(self, chunk_id: _Optional[str] = ..., document_id: _Optional[str] = ..., url: _Optional[str] = ..., title: _Optional[str] = ..., category: _Optional[str] = ..., text: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class SearchReply(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SearchHit]
    def __init__(self, results: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ...) -> None: ...

class FeedbackRequest(_message.Message):
    __slots__ = ("trace_id", "rating", "edited_text", "reason")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    EDITED_TEXT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    rating: int
    edited_text: str
    reason: str
    def __init__(self, trace_id: _Optional[str] = ..., rating: _Optional[int] = ..., edited_text: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class FeedbackReply(_message.Message):
    __slots__ = ("trace_id", "recorded")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    recorded: bool
    def __init__(self, trace_id: _Optional[str] = ..., recorded: bool = ...) -> None: ...
