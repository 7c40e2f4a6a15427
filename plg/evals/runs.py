"""Runs on disk: `.plg/runs/<run-id>.jsonl`, a header line then one line per finished row.

A row is appended and flushed the moment it finishes, so a run killed with SIGKILL keeps every finished
row, and `--resume RUN` repeats no model call for them.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from plg.errors import BadInput, NotFound
from plg.tracing.spans import Span

RUN_FORMAT = 2  # 2: rows leave out fields at their default and keep spans compactly as `trace`
SHARD_DONE = "shard-done"


@dataclass(frozen=True)
class RunHeader:
    run_id: str
    kind: str
    name: str
    prompt: str | None
    version: int | None
    commit: str | None
    blob: str | None
    datasets: tuple[str, ...]
    dataset_hashes: tuple[str, ...]
    pipeline: str | None
    pipeline_hash: str | None
    models: tuple[str, ...]
    scorers: tuple[str, ...]
    repeats: int
    started: str
    who: str
    identity: str
    format: int = RUN_FORMAT
    shard: str | None = None
    merged_from: tuple[str, ...] = ()
    pass_at: tuple[float, ...] = ()  # each scorer's bar, in `scorers` order (absent in older run files)

    def scorer_pass_at(self, name: str, default: float = 0.5) -> float:
        """The score at which scorer `name` passes; `default` for run files written before runs kept it."""
        if name in self.scorers and len(self.pass_at) == len(self.scorers):
            return self.pass_at[self.scorers.index(name)]
        return default

    def to_json(self) -> dict[str, Any]:
        return {"type": "header", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunHeader:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("datasets", "dataset_hashes", "models", "scorers", "merged_from", "pass_at"):
            fields[key] = tuple(fields.get(key) or ())
        return cls(**fields)


@dataclass(frozen=True)
class ScoreRecord:
    name: str
    score: float | None
    passed: bool | None
    reason: str = ""
    error: str | None = None
    pending: bool = False
    weight: float = 1.0
    outside: bool = False
    placeholder: bool = False


@dataclass(frozen=True)
class RowRecord:
    row_index: int
    row_id: str
    model: str
    repeat: int
    variables: dict[str, Any]
    messages: list[dict[str, str]] | None
    output: str | None
    error: str | None
    latency_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None
    cached: bool
    attempts: int
    scores: tuple[ScoreRecord, ...] = ()
    score: float | None = None
    passed: bool | None = None
    expected_output: str | None = None
    spans: tuple[dict[str, Any], ...] = field(default=())
    outside: bool = False
    span_tree: list[Any] | None = None

    def outside_error(self) -> str | None:
        """The provider's error when this row could not be judged (its model call or a judge call failed
        after retries), else None."""
        if self.outside:
            return self.error
        return next((s.error for s in self.scores if s.outside), None)

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.row_index, self.model, self.repeat)

    @property
    def given_id(self) -> str:
        """The dataset's own `id` column, or "" (the row's position is not an id: `number` is)."""
        value = self.variables.get("id")
        return "" if value is None else str(value)

    @property
    def number(self) -> int:
        """The 1-based row number every view prints and `plg runs show --row N` takes."""
        return self.row_index + 1

    @property
    def label(self) -> str:
        return f"row {self.number}" + (f" (id {self.given_id})" if self.given_id else "")

    def trace(self) -> list[Span]:
        """The row's span tree (empty for rows written before runs kept spans)."""
        if self.span_tree is not None:
            from plg.evals.rowtrace import unpack

            return unpack(self.span_tree, self)
        return [Span.from_json(s) for s in self.spans]

    def to_json(self) -> dict[str, Any]:
        """Every field, and the span tree in full: what reports and exports give users."""
        data: dict[str, Any] = {name: getattr(self, name) for name in _ROW_FIELDS if name != "span_tree"}
        data["scores"] = [dict(vars(score)) for score in self.scores]
        data["spans"] = [span.to_json() for span in self.trace()]
        data["type"] = "row"
        return data

    def to_line(self) -> dict[str, Any]:
        """The run file's form. Shallow on purpose: every row of a run is serialised once, and `asdict`'s
        deep copy cost more than the rest of an offline row. Fields at their default are left out (a plain
        row is mostly defaults) and the span tree is kept compactly as `trace`."""
        data: dict[str, Any] = {"type": "row"}
        for name in _ROW_FIELDS:
            value = getattr(self, name)
            if name in _OMITTED_WHEN and value == _OMITTED_WHEN[name]:
                continue
            data[_JSON_NAME.get(name, name)] = value
        if self.scores:
            data["scores"] = [_score_json(score) for score in self.scores]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RowRecord:
        fields = {_FIELD_NAME.get(k, k): v for k, v in data.items()}
        fields = {k: v for k, v in fields.items() if k in cls.__dataclass_fields__}
        for name, default in _OMITTED_WHEN.items():
            fields.setdefault(name, default)
        fields["scores"] = tuple(ScoreRecord(**s) for s in fields.get("scores") or ())
        fields["spans"] = tuple(fields.get("spans") or ())
        return cls(**fields)


_SCORE_DEFAULTS = {
    "reason": "", "error": None, "pending": False, "weight": 1.0, "outside": False, "placeholder": False
}
_OMITTED_WHEN: dict[str, Any] = {
    "messages": None,
    "output": None,
    "error": None,
    "latency_s": None,
    "prompt_tokens": None,
    "completion_tokens": None,
    "cost": None,
    "cached": False,
    "attempts": 1,
    "scores": (),
    "score": None,
    "passed": None,
    "expected_output": None,
    "spans": (),
    "outside": False,
    "span_tree": None,
}
_JSON_NAME = {"span_tree": "trace"}
_ROW_FIELDS = tuple(name for name in RowRecord.__dataclass_fields__ if name != "scores")
_FIELD_NAME = {v: k for k, v in _JSON_NAME.items()}


def _score_json(score: ScoreRecord) -> dict[str, Any]:
    data = dict(vars(score))
    for key, default in _SCORE_DEFAULTS.items():
        if data[key] == default and type(data[key]) is type(default):
            del data[key]
    return data


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class RunWriter:
    """Appends rows as they finish; one write and flush per row so nothing finished is lost."""

    def __init__(self, path: Path, header: RunHeader | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        if header is not None:
            # the header lands whole or not at all: a run file without one could not be listed or resumed
            staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            staging.write_text(_line(header.to_json()), encoding="utf-8")
            os.replace(staging, path)
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def _write(self, data: dict[str, Any]) -> None:
        self._file.write(_line(data))
        self._file.flush()

    def append(self, row: RowRecord) -> None:
        self._write(row.to_line())

    def append_event(self, data: dict[str, Any]) -> None:
        self._write(data)

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def _line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":")) + "\n"


def run_path(runs_dir: Path, run_id: str) -> Path:
    if "/" in run_id or run_id.startswith("."):
        raise BadInput(f"'{run_id}' is not a run id")
    return runs_dir / f"{run_id}.jsonl"


def find_run(runs_dir: Path, run_id: str) -> Path:
    exact = run_path(runs_dir, run_id)
    if exact.is_file():
        return exact
    matches = sorted(runs_dir.glob(f"{run_id}*.jsonl")) if runs_dir.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise BadInput(f"run id '{run_id}' is ambiguous: {', '.join(m.stem for m in matches[:5])}")
    raise NotFound(f"no run '{run_id}' in {runs_dir}")


def read_run(path: Path) -> tuple[RunHeader, Iterator[RowRecord]]:
    """The header, and the rows streamed. A torn last line (killed mid-write) is ignored; for a row
    written twice (grades merged later) the last one wins when callers index by key."""
    handle = path.open(encoding="utf-8")
    first = handle.readline()
    try:
        header_data = json.loads(first)
    except ValueError:
        handle.close()
        raise BadInput(f"{path}: not a plg run file") from None
    header = RunHeader.from_json(header_data)

    def rows() -> Iterator[RowRecord]:
        with handle:
            for line in handle:
                try:
                    data = json.loads(line)
                except ValueError:
                    continue
                if data.get("type") == "row":
                    yield RowRecord.from_json(data)

    return header, rows()


def latest_rows(path: Path) -> tuple[RunHeader, dict[tuple[int, str, int], RowRecord]]:
    header, rows = read_run(path)
    return header, {row.key: row for row in rows}


def list_runs(runs_dir: Path) -> list[Path]:
    if not runs_dir.is_dir():
        return []
    return sorted(runs_dir.glob("*.jsonl"), key=lambda p: p.stem, reverse=True)
