"""History datasets (`evals/history/<name>.jsonl`): real requests exported from the log, replayed by
backtests. One JSON object a line; only `input_variables` and `output` are required, so a hand-written
file works too. Unknown keys are ignored rather than refused: files are written by newer and older plg
versions and by hand, and the backtest needs only the two required fields."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from plg.errors import BadInput
from plg.log.store import RequestRecord
from plg.textfiles import text_lines


class HistoryLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    input_variables: dict[str, Any]
    output: str
    prompt: str | None = None
    version: int | None = None
    commit: str | None = None
    label: str | None = None
    model: str | None = None
    time: str | None = None
    request_id: str | None = None
    tags: list[str] = []
    metadata: dict[str, str] = {}


@dataclass(frozen=True)
class HistoryRow:
    line: int
    input_variables: dict[str, Any]
    output: str
    prompt: str | None
    version: int | None
    label: str | None
    request_id: str | None


@dataclass(frozen=True)
class ExportResult:
    written: int
    skipped: int


def history_line(record: RequestRecord) -> dict[str, Any]:
    return {
        "input_variables": record.input_variables,
        "output": record.output,
        "prompt": record.prompt_name,
        "version": record.version,
        "commit": record.commit,
        "label": record.label,
        "model": record.model,
        "time": datetime.fromtimestamp(record.time, tz=timezone.utc).isoformat(timespec="seconds"),
        "request_id": record.id,
        "tags": list(record.tags),
        "metadata": record.metadata,
    }


def export_history(records: Iterable[RequestRecord], out: IO[str]) -> ExportResult:
    """Failed requests have no answer to compare with, so they are skipped (and counted)."""
    written = skipped = 0
    for record in records:
        if record.error is not None or record.output is None:
            skipped += 1
            continue
        out.write(json.dumps(history_line(record), ensure_ascii=False, default=str) + "\n")
        written += 1
    return ExportResult(written, skipped)


def iter_history(path: Path) -> Iterator[HistoryRow]:
    """Lines are read one at a time and bounded (`textfiles`): a history comes from a pull request too."""
    for number, text in text_lines(path):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
            line = HistoryLine.model_validate(data)
        except (ValueError, RecursionError) as err:
            raise BadInput(f"{path}, line {number}: {_first_error(err)}") from None
        yield HistoryRow(
            number,
            line.input_variables,
            line.output,
            line.prompt,
            line.version,
            line.label,
            line.request_id,
        )


def load_history(path: Path) -> list[HistoryRow]:
    return list(iter_history(path))


def _first_error(err: ValueError | RecursionError) -> str:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        return f"'{key}': {first['msg'].lower()}" if key else first["msg"]
    if isinstance(err, json.JSONDecodeError):
        return f"not valid JSON ({err.msg})"
    if isinstance(err, RecursionError):
        return "not valid JSON (nested too deeply)"
    return (str(err).splitlines() or [type(err).__name__])[0]
