"""An on-disk cache of generated answers (LLM instructions, rejected answers, keyphrases), keyed
by a hash of everything that determines the answer, so a re-run over unchanged input is free."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class AnswerCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path))
        self._db.execute("create table if not exists answers (key text primary key, answer text not null)")

    def get(self, key: str) -> Any | None:
        row = self._db.execute("select answer from answers where key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, answer: Any) -> None:
        self.put_many({key: answer})

    def put_many(self, answers: dict[str, Any]) -> None:
        self._db.executemany("insert or replace into answers values (?, ?)", [(k, json.dumps(a)) for k, a in answers.items()])
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def map(
        self, namespace: Any, items: Sequence[str], compute: Callable[[list[str]], list[Any]], batch: int = 256,
    ) -> list[Any]:
        """compute(items), asking it only for the items not cached under `namespace`, `batch` at a
        time and saving each batch's answers at once, so a run that stops keeps what it computed."""
        keys = [cache_key(namespace, item) for item in items]
        answers = {key: self.get(key) for key in keys}
        missing = list(dict.fromkeys(item for item, key in zip(items, keys, strict=True) if answers[key] is None))
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            computed = {cache_key(namespace, item): answer for item, answer in zip(chunk, compute(chunk), strict=True)}
            self.put_many(computed)
            answers.update(computed)
        return [answers[key] for key in keys]
