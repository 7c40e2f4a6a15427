"""The eval engine: render each row, call the model(s), score, append the row to the run file.

One engine serves `plg eval` (prompt + scorers), `plg batch` (no scorers) and completion pipelines
(rows carry their own `messages`). Rows stream from the dataset through a bounded window of tasks, so
memory stays flat however large the dataset is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plg.errors import BadInput, PlgError
from plg.evals.datasets import Row
from plg.evals.progress import current_watcher
from plg.evals.rowtrace import pack
from plg.evals.runs import SHARD_DONE, RowRecord, RunHeader, RunWriter, ScoreRecord, latest_rows
from plg.evals.spec import EvalSpec, iter_dataset, make_header, messages_for, workflow_name
from plg.evals.summary import Aggregator, ModelSummary
from plg.llm import loop
from plg.tracing import spans as tracing
from plg.tracing.spans import Span

if TYPE_CHECKING:
    pass

ProgressCallback = Callable[[int], None]


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


async def _run_one(spec: EvalSpec, client: Any, row: Row, model: str, repeat: int) -> RowRecord:
    """One row as a span tree: the workflow root, then rendering, the model call and each evaluator."""
    collected: list[Span] = []
    attributes: dict[str, Any] = {"row": row.index + 1, "model": model, "repeat": repeat}
    if row.values.get("id") is not None:  # the dataset's own id; a position is `row` (1-based), not an id
        attributes["row_id"] = str(row.values["id"])
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
    aggregator = Aggregator(spec.models, spec.repeats)
    watcher = current_watcher()
    if watcher is not None:
        shard = f" (shard {spec.shard})" if spec.shard is not None else ""
        watcher.started(f"{spec.kind} {spec.name}{shard}", None if shard else spec.planned_calls())
        on_row = _both(on_row, watcher.row)
    complete = False
    try:
        ran, reused = loop.run(run_rows(spec, client, writer, done, aggregator, on_row))
        if spec.shard is not None:
            writer.append_event({"type": SHARD_DONE, "shard": str(spec.shard), "rows": ran + reused})
        complete = True
    finally:
        writer.close()
        if watcher is not None:
            watcher.finished(None if complete else header.run_id)
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
