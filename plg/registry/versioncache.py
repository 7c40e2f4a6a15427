"""Version lists cached on disk: one prompt's per (file, HEAD commit), every prompt's per HEAD.

Computing versions walks the first-parent history with rename following (~80 ms on 5,000 commits, ~150 ms
for every prompt over 2,000 commits); between commits the answer cannot change, so `plg show`, `plg log`,
`plg list` and SDK cold starts reuse it. A new HEAD is a new key (the every-prompt list is extended by the
commits since its HEAD); a cache that cannot be read or written is simply skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote

from plg.registry.gitstore import FileChange

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMAT = 2  # 2: a copied file no longer inherits the original's history
_FIELDS = ("commit", "blob", "path", "time", "author", "email", "subject")


def _path(cache_dir: Path, file_path: str) -> Path:
    return cache_dir / f"{quote(file_path, safe='')}.json"  # no hashlib: its import is 4 ms of `plg log`


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
    payload = {"format": FORMAT, "head": head, "path": file_path, "changes": [asdict(c) for c in changes]}
    _write(_path(cache_dir, file_path), payload)


def _write(target: Path, payload: dict[str, object]) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(payload))
        temporary.replace(target)
    except OSError:
        pass


def _read_tree(cache_dir: Path, prefix: str) -> dict[str, Any] | None:
    try:
        data = json.loads(_path(cache_dir, f"tree:{prefix}").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("path") != f"tree:{prefix}":
        return None
    return data


def load_tree(cache_dir: Path, prefix: str) -> tuple[str, dict[str, list[FileChange]]] | None:
    """The HEAD the cached histories were computed at, and the histories (whatever HEAD is now)."""
    data = _read_tree(cache_dir, prefix)
    if data is None:
        return None
    try:
        histories = {
            path: [FileChange(**dict(zip(_FIELDS, change, strict=True))) for change in changes]
            for path, changes in data["histories"].items()
        }
        return str(data["head"]), histories
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def load_tree_commits(cache_dir: Path, prefix: str, head: str) -> dict[str, list[str]] | None:
    """Each path's version commits from a cache computed at `head`, without building FileChange objects
    (2,000 of them are a tenth of `plg list` on a large repository)."""
    data = _read_tree(cache_dir, prefix)
    if data is None or data.get("head") != head:
        return None
    try:
        return {path: [str(change[0]) for change in changes] for path, changes in data["histories"].items()}
    except (KeyError, TypeError, IndexError, AttributeError):
        return None


def save_tree(cache_dir: Path, prefix: str, head: str, histories: dict[str, list[FileChange]]) -> None:
    compact = {path: [[getattr(c, f) for f in _FIELDS] for c in changes] for path, changes in histories.items()}
    _write(_path(cache_dir, f"tree:{prefix}"), {"format": FORMAT, "head": head, "path": f"tree:{prefix}",
                                                 "histories": compact})
