"""What `plg show` and `plg list` print about a prompt file, kept on disk by blob id.

A blob's content never changes, so neither does its summary: after the first read these commands parse
no YAML and import neither pydantic nor Jinja2, which together cost more than the rest of `plg show`.
The first read validates the file in full (the summary of an invalid file is never stored); a cache that
cannot be read or written is simply skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1


@dataclass(frozen=True)
class PromptSummary:
    """What `plg show` and `plg list` print about one prompt file, cached by blob id."""

    model: str
    description: str | None
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval: str | None = None
    template: str = ""


def summary(cache_dir: Path, blob: str, text: Callable[[], str], where: str) -> PromptSummary:
    """The summary of blob `blob`, whose text `text()` gives on a cache miss. Raises PromptFileError."""
    path = cache_dir / f"{blob}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.pop("format", None) == FORMAT:
            return PromptSummary(**data)
    except (OSError, ValueError, TypeError):
        pass
    from plg.registry.prompt import parse_prompt

    parsed = parse_prompt(text(), where)
    front = parsed.front
    found = PromptSummary(
        model=front.model,
        description=front.description,
        params=dict(front.params),
        inputs={k: v.model_dump(exclude_none=True) for k, v in front.inputs.items()},
        eval=front.eval,
        template=parsed.template,
    )
    _save(path, {"format": FORMAT, **asdict(found)})
    return found


def _save(path: Path, payload: dict[str, Any]) -> None:
    """Only a summary JSON gives back unchanged is kept (YAML dates or integer keys are not)."""
    try:
        text = json.dumps(payload)
        if json.loads(text) != payload:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    except (OSError, TypeError, ValueError):
        pass
