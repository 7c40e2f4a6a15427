"""The eval engine: render each row, call the model(s), score, append the row to the run file.

One engine serves `plg eval` (prompt + scorers), `plg batch` (no scorers) and completion pipelines
(rows carry their own `messages`). Rows stream from the dataset through a bounded window of tasks, so
memory stays flat however large the dataset is.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plg.errors import BadInput, PlgError
from plg.evals.datasets import Row, iter_rows
from plg.evals.progress import current_watcher
from plg.evals.rowtrace import pack
from plg.evals.runs import SHARD_DONE, RowRecord, RunHeader, RunWriter, ScoreRecord, latest_rows
from plg.evals.summary import Aggregator, ModelSummary
from plg.llm import loop
from plg.tracing import spans as tracing
from plg.tracing.spans import Span

if TYPE_CHECKING:
    from plg.evals.shards import Shard

ProgressCallback = Callable[[int], None]


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


@dataclass(frozen=True)
class _GivenOutput:
    """An output the user's own code produced: scored like a completion, with nothing measured."""

    text: str
    latency_s: float | None = None
    cost: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: bool = False
    attempts: int = 0


@dataclass(frozen=True)
class RunResult:
    run_id: str
    path: Path
    header: RunHeader
    summaries: tuple[ModelSummary, ...]
    rows_run: int
    rows_reused: int
    seconds: float
    merged_from: tuple[str, ...] = ()


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


async def _run_one(spec: EvalSpec, client: Any, row: Row, model: str, repeat: int) -> RowRecord:
    """One row as a span tree: the workflow root, then rendering, the model call and each evaluator."""
    collected: list[Span] = []
    attributes = {"row": row.index + 1, "row_id": row.id, "model": model, "repeat": repeat}
    if spec.prompt is not None:
        attributes.update(prompt=spec.prompt.name, version=spec.prompt.version)
    with tracing.span(workflow_name(spec), collected.append, attributes, new_trace=True) as root:
        record = await _run_row(spec, client, row, model, repeat, collected.append)
        if record.error is not None:
            root.set_status("error", record.error)
        elif record.score is not None:
            root.set_attributes({"score": round(record.score, 6), "passed": record.passed})
    object.__setattr__(record, "span_tree", pack(collected, record))  # built for this row just now
    return record


async def _scored(scorer: Any, output: str, row: Row, ctx: Any, sink: tracing.SpanSink) -> Any:
    with tracing.span(f"evaluator.{scorer.name}", sink, {"weight": scorer.weight}) as active:
        result = await scorer.score(output, row, ctx)
        active.set_attributes(tracing.evaluator_attributes(result, scorer.weight))
        if result.error:
            active.set_status("error", result.error)
    return result


async def _run_row(
    spec: EvalSpec, client: Any, row: Row, model: str, repeat: int, sink: tracing.SpanSink
) -> RowRecord:
    from plg.evals.scorers import ScoreContext, row_passed, weighted_score

    variables = {k: v for k, v in row.values.items() if k != "messages"}
    expected = row.values.get("expected_output")
    base: dict[str, Any] = {
        "row_index": row.index,
        "row_id": row.id,
        "model": model,
        "repeat": repeat,
        "variables": variables,
        "expected_output": None if expected is None else str(expected),
    }

    def failed(messages: list[dict[str, str]] | None, err: PlgError, attempts: int) -> RowRecord:
        return RowRecord(
            outside=bool(getattr(err, "outside", False)),
            **base,
            messages=messages,
            output=None,
            error=err.message,
            latency_s=None,
            prompt_tokens=None,
            completion_tokens=None,
            cost=None,
            cached=False,
            attempts=attempts,
        )

    if spec.outputs is not None:
        given = spec.outputs.lookup(row)
        if given is None:
            return failed(
                None, PlgError(f"no output for row {row.index + 1} (id {row.id}) in {spec.outputs.source}"), 0
            )
        messages = None
        completion: Any = _GivenOutput(given)
    else:
        try:
            with tracing.span("prompt.render" if spec.prompt else "messages.load", sink) as step:
                messages = messages_for(spec, row)
                step.set_attribute("messages", len(messages))
        except PlgError as err:
            return failed(None, err, 0)
        try:
            completion = await client.acomplete(
                model, messages, dict(spec.params), **({"variant": repeat} if repeat else {})
            )
        except PlgError as err:
            return failed(messages, err, getattr(err, "attempts", 1))
    ctx = ScoreContext(
        model_client=client, latency_s=completion.latency_s, cost=completion.cost, base_dir=spec.base_dir
    )
    if len(spec.scorers) == 1:  # a task per row saved: most pipelines have one scorer
        scores = [await _scored(spec.scorers[0], completion.text, row, ctx, sink)]
    else:
        scores = await asyncio.gather(*(_scored(s, completion.text, row, ctx, sink) for s in spec.scorers))
    records = tuple(
        ScoreRecord(
            name=s.name,
            score=s.score,
            passed=s.passed,
            reason=s.reason,
            error=s.error,
            pending=s.pending,
            weight=scorer.weight,
            outside=s.outside,
            placeholder=scorer.placeholder,
        )
        for s, scorer in zip(scores, spec.scorers, strict=True)
    )
    return RowRecord(
        **base,
        messages=messages,
        output=completion.text,
        error=None,
        latency_s=None if completion.latency_s is None else round(completion.latency_s, 6),
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cost=completion.cost,
        cached=completion.cached,
        attempts=completion.attempts,
        scores=records,
        score=weighted_score(scores, spec.scorers) if spec.scorers else None,
        passed=row_passed(scores) if spec.scorers else None,
    )


async def run_rows(
    spec: EvalSpec,
    client: Any,
    writer: RunWriter,
    done: dict[tuple[int, str, int], RowRecord],
    aggregator: Aggregator,
    on_row: Callable[[RowRecord], None] | None = None,
) -> tuple[int, int]:
    """Runs every (row, model, repeat) not already in `done`; at most `concurrency` in flight."""
    slots = asyncio.Semaphore(spec.concurrency)
    pending: set[asyncio.Task[RowRecord]] = set()
    failures: list[BaseException] = []
    ran = reused = 0

    def finish(task: asyncio.Task[RowRecord]) -> None:
        nonlocal ran
        pending.discard(task)
        slots.release()
        if task.cancelled():
            return
        if task.exception() is not None:
            failures.append(task.exception())  # type: ignore[arg-type]
            return
        record = task.result()
        writer.append(record)
        aggregator.add(record)
        ran += 1
        if on_row:
            on_row(record)

    for row in iter_dataset(spec):
        for model in spec.models:
            for repeat in range(spec.repeats):
                previous = done.get((row.index, model, repeat))
                if previous is not None and previous.error is None:
                    aggregator.add(previous)
                    reused += 1
                    if on_row:
                        on_row(previous)
                    continue
                await slots.acquire()
                if failures:
                    break
                task = asyncio.ensure_future(_run_one(spec, client, row, model, repeat))
                pending.add(task)
                task.add_done_callback(finish)
    while pending:
        await asyncio.wait(set(pending))
    if failures:
        raise failures[0]
    return ran, reused


def execute(
    spec: EvalSpec,
    client: Any,
    runs_dir: Path,
    run_id: str,
    who: str,
    resume: Path | None = None,
    on_row: Callable[[RowRecord], None] | None = None,
) -> RunResult:
    started = time.perf_counter()
    done: dict[tuple[int, str, int], RowRecord] = {}
    if resume is not None:
        header, done = latest_rows(resume)
        if header.identity != spec.run_identity():
            raise BadInput(
                f"run {header.run_id} was made from a different prompt version, dataset, pipeline or model; "
                "start a new run instead of --resume"
            )
        wanted = str(spec.shard) if spec.shard is not None else None
        if header.shard != wanted:
            held = f"shard {header.shard}" if header.shard else "a whole eval"
            raise BadInput(
                f"run {header.run_id} is {held}: resume it with "
                + (f"--shard {header.shard}" if header.shard else "no --shard")
            )
        path, writer = resume, RunWriter(resume, None)
    else:
        header = make_header(spec, run_id, who)
        path = runs_dir / f"{run_id}.jsonl"
        writer = RunWriter(path, header)
    aggregator = Aggregator(spec.models)
    watcher = current_watcher()
    if watcher is not None:
        shard = f" (shard {spec.shard})" if spec.shard is not None else ""
        watcher.started(f"{spec.kind} {spec.name}{shard}", None if shard else spec.planned_calls())
        on_row = _both(on_row, watcher.row)
    try:
        ran, reused = loop.run(run_rows(spec, client, writer, done, aggregator, on_row))
        if spec.shard is not None:
            writer.append_event({"type": SHARD_DONE, "shard": str(spec.shard), "rows": ran + reused})
    finally:
        writer.close()
        if watcher is not None:
            watcher.finished()
    return RunResult(
        run_id=header.run_id,
        path=path,
        header=header,
        summaries=aggregator.summaries(),
        rows_run=ran,
        rows_reused=reused,
        seconds=time.perf_counter() - started,
    )


def _both(
    first: Callable[[RowRecord], None] | None, second: Callable[[RowRecord], None]
) -> Callable[[RowRecord], None]:
    if first is None:
        return second

    def call(record: RowRecord) -> None:
        first(record)
        second(record)

    return call


def summarize_rows(models: Sequence[str], rows: Iterator[RowRecord]) -> tuple[ModelSummary, ...]:
    aggregator = Aggregator(tuple(models))
    for row in rows:
        aggregator.add(row)
    return aggregator.summaries()
