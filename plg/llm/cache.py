"""Response cache: SQLite under `.plg/`, keyed by what determines an answer (model, messages, params).

Credentials, endpoints and timeouts never enter the key or the stored value; a failed call is never cached.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plg.errors import OutsideFailure

_NOT_ANSWER_SHAPING = {
    "api_key",
    "api_base",
    "base_url",
    "timeout",
    "headers",
    "extra_headers",
    "api_version",
    "organization",
    "num_retries",
    "max_retries",
    "metadata",
}


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None


def cache_key(model: str, messages: list[dict[str, Any]], params: dict[str, Any], variant: int = 0) -> str:
    shaping = {k: v for k, v in sorted(params.items()) if k not in _NOT_ANSWER_SHAPING}
    payload = json.dumps(
        [model, messages, shaping, variant], sort_keys=True, default=str, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, text TEXT NOT NULL,"
                " prompt_tokens INTEGER, completion_tokens INTEGER, cost REAL, created REAL NOT NULL)"
            )
        except sqlite3.DatabaseError as err:  # a full, size-limited or read-only disk, a corrupted file
            raise OutsideFailure(f"{path}: cannot open the response cache ({err})") from None

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT text, prompt_tokens, completion_tokens, cost FROM responses WHERE key = ?", (key,)
            ).fetchone()
        return CachedAnswer(*row) if row else None

    def put(self, key: str, model: str, answer: CachedAnswer) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    model,
                    answer.text,
                    answer.prompt_tokens,
                    answer.completion_tokens,
                    answer.cost,
                    time.time(),
                ),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
