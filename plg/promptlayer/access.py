"""Who may call `plg serve`: API keys and their scopes (`read`, `log`, `publish`).

Keys come from `PLG_SERVE_API_KEYS` (comma-separated, every scope) or a keys file (`--api-keys FILE`: one
key a line, then its scopes separated by spaces or commas; `#` starts a comment). Keys are compared in
constant time and never appear in a message or a log line: an error names a key by its line number only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from plg.errors import BadInput

SCOPES = frozenset({"read", "log", "publish"})
ENV = "PLG_SERVE_API_KEYS"


@dataclass(frozen=True)
class Keys:
    """Digests of the accepted keys, each with its scopes (the keys themselves are not kept)."""

    scopes_by_digest: dict[bytes, frozenset[str]]

    def scopes(self, key: str | None) -> frozenset[str] | None:
        """The key's scopes, or None when it is missing or not accepted."""
        if not key:
            return None
        digest = _digest(key)
        found = None
        for known, scopes in self.scopes_by_digest.items():
            if hmac.compare_digest(known, digest):
                found = scopes
        return found

    def __len__(self) -> int:
        return len(self.scopes_by_digest)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_keys_file(text: str, where: str) -> dict[bytes, frozenset[str]]:
    keys: dict[bytes, frozenset[str]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].replace(",", " ").split()
        if not line:
            continue
        key, scopes = line[0], frozenset(line[1:])
        unknown = scopes - SCOPES
        if not scopes or unknown:
            raise BadInput(
                f"{where} line {number}: give the key's scopes after it (read, log, publish)"
                + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else "")
            )
        keys[_digest(key)] = scopes
    return keys


def load_keys(path: Path | None, environ: dict[str, str] | None = None) -> Keys:
    """The keys file's keys plus PLG_SERVE_API_KEYS's (all scopes); refuses to start with none."""
    env = os.environ if environ is None else environ
    keys: dict[bytes, frozenset[str]] = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise BadInput(f"--api-keys {path}: {err.strerror or err}") from None
        keys.update(parse_keys_file(text, str(path)))
    for key in (k.strip() for k in env.get(ENV, "").split(",")):
        if key:
            keys[_digest(key)] = SCOPES
    if not keys:
        raise BadInput(f"plg serve needs API keys: set {ENV}=KEY[,KEY...] or give --api-keys FILE")
    return Keys(keys)
