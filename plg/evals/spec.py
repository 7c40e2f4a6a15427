"""What one eval run is, before anything runs: the resolved spec (prompt version, data, models,
scorers), the identity its results are recorded and reused under, its run-file header and its rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plg.errors import BadInput
from plg.evals.datasets import Row, iter_rows
from plg.evals.runs import RunHeader

if TYPE_CHECKING:
    from plg.evals.shards import Shard


@dataclass(frozen=True)
class EvalSpec:
    """Everything a run needs, resolved: which prompt version, which data, which models and scorers."""

    name: str
    kind: str
    prompt: Any | None
    datasets: tuple[Path, ...]
    dataset_hashes: tuple[str, ...]
    models: tuple[str, ...]
    params: dict[str, Any]
    scorers: tuple[Any, ...]
    concurrency: int = 8
    repeats: int = 1
    pipeline_path: str | None = None
    pipeline_hash: str | None = None
    base_dir: Path = field(default_factory=Path.cwd)
    rows: Callable[[], Iterator[Row]] | None = field(default=None, compare=False)
    identity_extra: str = ""
    outputs: Any | None = field(default=None, compare=False)
    shard: Shard | None = field(default=None, compare=False)
    row_count: int | None = field(default=None, compare=False)

    def planned_calls(self) -> int | None:
        """Rows x models x repeats, known before the first call when the planner counted the rows."""
        return None if self.row_count is None else self.row_count * len(self.models) * self.repeats

    def identity(self, model: str) -> str:
        """What makes a result this version's result: prompt blob, data, pipeline, model, and every judge
        and option that decides a score (a backtest's judge, embedding model and label filter included)."""
        blob = self.prompt.blob if self.prompt is not None else None
        parts = [
            self.kind,
            blob,
            *self.dataset_hashes,
            self.pipeline_hash,
            model,
            json.dumps(self.params, sort_keys=True),
            self.identity_extra,
            *(f"{s.name}={s.identity()}" for s in self.scorers),
        ]
        return hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()

    def models_called(self) -> tuple[str, ...]:
        """Every model a row may call: the run's own and the scorers' (judges, embeddings)."""
        scorer_models = (getattr(s, "model", None) for s in self.scorers)
        return (*self.models, *(m for m in scorer_models if isinstance(m, str)))

    def run_identity(self) -> str:
        return hashlib.sha256("".join(self.identity(m) for m in self.models).encode()).hexdigest()


def make_header(spec: EvalSpec, run_id: str, who: str) -> RunHeader:
    pv = spec.prompt
    return RunHeader(
        run_id=run_id,
        kind=spec.kind,
        name=spec.name,
        prompt=pv.name if pv is not None else None,
        version=pv.version if pv is not None else None,
        commit=pv.commit if pv is not None else None,
        blob=pv.blob if pv is not None else None,
        datasets=tuple(str(p) for p in spec.datasets),
        dataset_hashes=spec.dataset_hashes,
        pipeline=spec.pipeline_path,
        pipeline_hash=spec.pipeline_hash,
        models=spec.models,
        scorers=tuple(s.name for s in spec.scorers),
        pass_at=tuple(s.pass_at for s in spec.scorers),
        repeats=spec.repeats,
        started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        who=who,
        identity=spec.run_identity(),
        shard=str(spec.shard) if spec.shard is not None else None,
    )


def iter_dataset(spec: EvalSpec) -> Iterator[Row]:
    """All datasets as one stream, with row indexes unique across files (only the shard's rows, if any)."""
    if spec.shard is not None:
        shard = spec.shard
        yield from (row for row in _all_rows(spec) if shard.holds(row))
        return
    yield from _all_rows(spec)


def _all_rows(spec: EvalSpec) -> Iterator[Row]:
    if spec.rows is not None:
        yield from spec.rows()
        return
    offset = 0
    for path in spec.datasets:
        last = -1
        for row in iter_rows(path):
            last = row.index
            yield Row(index=offset + row.index, id=row.id, values=row.values)
        offset += last + 1


def messages_for(spec: EvalSpec, row: Row) -> list[dict[str, str]]:
    if spec.prompt is not None:
        return [m.to_dict() for m in spec.prompt.render(row.values)]
    messages = row.values.get("messages")
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except ValueError:
            messages = None
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise BadInput(
            f"row {row.index + 1}: a pipeline without a prompt needs a 'messages' chat list per row"
        )
    return [{"role": str(m["role"]), "content": str(m.get("content", ""))} for m in messages]


def workflow_name(spec: EvalSpec) -> str:
    if spec.outputs is not None:
        return "workflow.custom"
    return "workflow.prompt" if spec.prompt is not None else "workflow.completion"
