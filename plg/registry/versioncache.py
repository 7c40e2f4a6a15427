"""A prompt's version list, cached on disk per (file, HEAD commit).

Computing versions walks the first-parent history with rename following (~80 ms on 5,000 commits); between
commits the answer cannot change, so `plg show`, `plg log` and SDK cold starts reuse it. A new HEAD is a new
key; a cache that cannot be read or written is simply skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from plg.registry.gitstore import FileChange

FORMAT = 2  # 2: a copied file no longer inherits the original's history


def _path(cache_dir: Path, file_path: str) -> Path:
    return cache_dir / f"{hashlib.sha1(file_path.encode()).hexdigest()}.json"


def load(cache_dir: Path, file_path: str, head: str) -> list[FileChange] | None:
    try:
        data = json.loads(_path(cache_dir, file_path).read_text())
    except (OSError, ValueError):
        return None
    if data.get("format") != FORMAT or data.get("head") != head or data.get("path") != file_path:
        return None
    try:
        return [FileChange(**change) for change in data["changes"]]
    except (KeyError, TypeError):
        return None


def save(cache_dir: Path, file_path: str, head: str, changes: list[FileChange]) -> None:
    target = _path(cache_dir, file_path)
    payload = {"format": FORMAT, "head": head, "path": file_path, "changes": [asdict(c) for c in changes]}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(payload))
        temporary.replace(target)
    except OSError:
        pass
