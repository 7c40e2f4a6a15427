"""Response cache: SQLite under `.plg/`, keyed by the request as it reaches the provider.

The key covers the model, the messages, every parameter sent, the endpoint (`api_base` as the call sends
it, and the provider's endpoint variables from the environment: `OPENAI_API_BASE`, `AZURE_API_VERSION`...),
so a request sent to another server or with another option is a miss, never another server's answer.
Credentials never enter the key, not even hashed (a key's hash would still be derived from a secret), and
neither do timeouts and retry counts, which decide whether an answer arrives, not what it says. A failed
call is never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plg.errors import OutsideFailure

_NOT_ANSWER_SHAPING = {"timeout", "num_retries", "max_retries", "metadata"}
_SECRET_NAMES = frozenset({"authorization", "cookie", "token", "key", "proxy-authorization"})
_SECRET_ENDINGS = ("_key", "-key", "_token", "-token", "secret", "password", "credentials", "_auth")
_ENDPOINT_SUFFIXES = ("_API_BASE", "_BASE_URL", "_API_VERSION", "_ENDPOINT", "_REGION_NAME", "_PROJECT", "_LOCATION")


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None


def _secret(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_NAMES or lowered.endswith(_SECRET_ENDINGS)


def _public(value: Any) -> Any:
    """Headers and nested options without anything named like a credential."""
    if isinstance(value, dict):
        return {str(k): _public(v) for k, v in value.items() if not _secret(str(k))}
    return value


def provider_environment(model: str) -> dict[str, str]:
    """The endpoint settings litellm reads from the environment for `model`'s provider (never its keys)."""
    provider = (model.split("/", 1)[0] if "/" in model else "openai").upper().replace("-", "_")
    return {
        name: value
        for name, value in sorted(os.environ.items())
        if name.startswith(f"{provider}_") and name.endswith(_ENDPOINT_SUFFIXES) and not _secret(name)
    }


def cache_key(model: str, request: dict[str, Any], variant: int = 0, environment: dict[str, str] | None = None) -> str:
    """`request`: the keyword arguments the provider call is made with (messages and params included)."""
    sent = {
        k: _public(v) for k, v in sorted(request.items()) if k not in _NOT_ANSWER_SHAPING and not _secret(k)
    }
    sent["model"] = model
    payload = json.dumps([sent, variant, environment or {}], sort_keys=True, default=str, separators=(",", ":"))
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
