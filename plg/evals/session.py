"""One eval from request to recorded result: plan, reuse a recorded score, run, record in git notes.

The CLI, the promotion gate and CI all go through here, so "this version's score" means one thing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plg import config as plg_config
from plg.errors import BadInput, NotJudged, Refused
from plg.evals.plan import EvalRequest, PlannedEval, plan_eval
from plg.evals.runner import RunResult, execute
from plg.evals.runs import RowRecord, find_run, new_run_id
from plg.evals.summary import ModelSummary, Scored, ThresholdCheck, check_threshold
from plg.llm.offline import PLACEHOLDER_LABEL, PLACEHOLDER_WARNING
from plg.llm.provider import prewarm
from plg.registry.scores import RecordedScore, find_evidence, record_scores
from plg.registry.versions import Registry

if TYPE_CHECKING:
    from plg.evals.shards import Shard


@dataclass(frozen=True)
class RunOptions:
    use_cache: bool = True
    resume: str | None = None
    record: bool = False
    force: bool = False
    timeout: float | None = None
    max_attempts: int | None = None
    shard: Shard | None = None
    merge_runs: tuple[Path, ...] = ()
    shard_dirs: tuple[Path, ...] = ()
    gate_counts_errors: bool = False  # a label's gate judges scorer errors itself (see not_judged_message)
    write: bool = True  # record=True, write=False: reuse and judge as a recorded run would, write nothing (dry run)

    @property
    def merging(self) -> bool:
        return bool(self.merge_runs or self.shard_dirs)


@dataclass(frozen=True)
class EvalOutcome:
    planned: PlannedEval
    result: RunResult | None
    reused: tuple[RecordedScore, ...]
    checks: tuple[ThresholdCheck, ...]
    recorded: tuple[RecordedScore, ...]
    not_judged: str | None = None

    @property
    def passed(self) -> bool:
        return self.not_judged is None and all(c.passed for c in self.checks)

    def raise_if_not_judged(self) -> None:
        if self.not_judged is not None:
            raise NotJudged(self.not_judged)


def make_client(root: Path, concurrency: int, options: RunOptions, timeout: float | None):  # type: ignore[no-untyped-def]
    from plg.llm.provider import open_client

    return open_client(
        root, concurrency, use_cache=options.use_cache, timeout=options.timeout or timeout,
        max_attempts=options.max_attempts, refresh=not options.use_cache,
    )


def recorded_for(registry: Registry, planned: PlannedEval, barred: bool = True) -> list[RecordedScore] | None:
    spec = planned.spec
    if spec.prompt is None or spec.prompt.commit is None or spec.prompt.version is None:
        return None
    found = []
    for model in spec.models:
        score, why = find_evidence(registry.store, spec.prompt.commit, spec.identity(model))
        if score is None:
            if why:  # a line is there but is not evidence: say so, then evaluate
                print(f"{spec.name}@{spec.prompt.version}: recorded score on {model} {why}: evaluating", file=sys.stderr)
            return None
        found.append(score)
    if any(not barred and _unscored(f) for f in found):
        return None
    return found


def run_eval(
    registry: Registry,
    request: EvalRequest,
    options: RunOptions,
    on_row: Callable[[RowRecord], None] | None = None,
    on_start: Callable[[PlannedEval], None] | None = None,
) -> EvalOutcome:
    planned = plan_eval(registry, request)
    if options.shard is not None:
        if options.merging:
            raise BadInput("--shard runs one slice; --merge combines finished slices: give one of them")
        planned = replace(planned, spec=replace(planned.spec, shard=options.shard))
    spec = planned.spec
    barred = _has_bar(planned, options)
    prewarm(spec.models_called())
    if options.record:
        if spec.prompt is None or spec.prompt.version is None:
            raise Refused(
                f"{spec.name}: --record needs a committed version (commit prompts/{spec.name}.prompt or name NAME@N)"
            )
        if not options.force and options.resume is None:
            reused = recorded_for(registry, planned, barred)
            if reused is not None:
                return EvalOutcome(planned, None, tuple(reused), _checks(planned, reused), ())
    if on_start:
        on_start(planned)
    runs_dir = plg_config.runs_dir(registry.root)
    if options.merging:
        result = _merge_shards(registry, planned, options, runs_dir)
    else:
        resume = find_run(runs_dir, options.resume) if options.resume else None
        client = make_client(registry.root, spec.concurrency, options, planned.timeout)
        try:
            result = execute(
                spec, client, runs_dir, new_run_id(), _who(registry), resume=resume, on_row=on_row
            )
        finally:
            close = getattr(client, "close", None)
            if close:
                close()
    if options.shard is not None:
        return EvalOutcome(planned, result, (), (), ())
    checks = _checks(planned, result.summaries)
    recorded: tuple[RecordedScore, ...] = ()
    if options.record:
        recorded = tuple(_to_recorded(planned, result, checks, barred))
        assert spec.prompt is not None and spec.prompt.commit is not None
        if recorded and options.write:
            record_scores(registry.store, spec.prompt.commit, list(recorded))
    return EvalOutcome(planned, result, (), checks, recorded, not_judged_message(planned, result, barred))


def _checks(planned: PlannedEval, summaries: Sequence[Scored]) -> tuple[ThresholdCheck, ...]:
    """The threshold judges the models the eval decides on (the served one), not the comparisons."""
    decided = [s for s in summaries if not planned.decides or s.model in planned.decides]
    return check_threshold(decided, planned.min_score, planned.min_pass_rate, planned.max_error_rate)


def not_judged_message(planned: PlannedEval, result: RunResult, barred: bool = True) -> str | None:
    """Rows whose model or judge calls failed after retries leave the version unjudged: say which
    model, how many rows and the provider's own one-line error. So do rows a scorer raised on (or that
    failed to render) when no threshold says how to count them: with a bar they score 0 and the bar
    judges, without one an exit 0 would read as a pass that nobody judged."""
    decided = [s for s in result.summaries if not planned.decides or s.model in planned.decides]
    for summary in decided:
        if summary.not_judged:
            return (
                f"{planned.spec.name}: not judged: {summary.not_judged} of {summary.rows} row(s) on "
                f"{summary.model} could not be scored: {summary.outside_error}"
            )
    for summary in decided:
        awaiting = awaiting_grades(summary)
        if awaiting:
            run = result.run_id
            return (
                f"{planned.spec.name}: not judged: {awaiting} of {summary.rows} row(s) on {summary.model} await "
                f"a human grade; next: `plg runs grades export {run} -o sheet.csv`, fill its 'grade' column, "
                f"then `plg runs grades import {run} sheet.csv --record` (it finishes and records the run once "
                "every row is graded)"
            )
    if barred:
        return None
    for summary in decided:
        unscored = _unscored(summary)
        if unscored:
            return (
                f"{planned.spec.name}: not judged: {unscored} on {summary.model} and the pipeline sets no "
                "threshold to count them by; see `plg runs show RUN`, fix them, or set threshold.max_error_rate"
            )
    return None


def awaiting_grades(summary: ModelSummary) -> int:
    """Rows still waiting for a human grade (the most any one human scorer waits for): their figures
    are not the version's yet, so the eval is not judged and nothing is recorded."""
    return max((s.pending for s in summary.scorers), default=0)


def _has_bar(planned: PlannedEval, options: RunOptions) -> bool:
    return options.gate_counts_errors or not (
        planned.min_score is None and planned.min_pass_rate is None and planned.max_error_rate is None
    )


def _unscored(summary: Scored) -> str:
    """'3 of 40 row(s) failed, scorer exact raised on 2' or '' when every row was scored."""
    parts = [f"{summary.errors} of {summary.rows} row(s) failed"] if summary.errors else []
    parts += [
        f"scorer {name} raised on {count} of {summary.rows} row(s)"
        for name, count in summary.scorer_errors().items()
        if count
    ]
    return ", ".join(parts)


def _merge_shards(
    registry: Registry, planned: PlannedEval, options: RunOptions, runs_dir: Path
) -> RunResult:
    """The shards become one run, judged and recorded below exactly like an unsharded one."""
    from plg.evals.shards import find_shards, merge, read_shard

    identity = planned.spec.run_identity()
    paths = list(options.merge_runs)
    if options.shard_dirs:
        found = find_shards(options.shard_dirs, identity)
        if not found:
            where = ", ".join(str(d) for d in options.shard_dirs)
            raise BadInput(f"{planned.spec.name}: no shard of this eval under {where}")
        paths += found
    shards = [read_shard(path) for path in paths]
    return merge(shards, runs_dir, new_run_id(), _who(registry), identity)


def _who(registry: Registry) -> str:
    try:
        return registry.store.identity()
    except BadInput:
        return "unknown"


def _intervals(summary: ModelSummary) -> dict[str, Any]:
    """The bounds `plg eval` printed, kept with the figures so `plg log`, `plg scores` and the viewer
    print them without computing (or importing) any statistics."""
    from plg.evals.stats import DEFAULT_CONFIDENCE

    def bounds(pair: tuple[float, float] | None) -> list[float] | None:
        return [pair[0], pair[1]] if pair else None

    return {
        "score": bounds(summary.score_interval),
        "pass_rate": bounds(summary.pass_interval),
        "confidence": DEFAULT_CONFIDENCE,
    }


def _to_recorded(
    planned: PlannedEval, result: RunResult, checks: tuple[ThresholdCheck, ...], barred: bool
) -> list[RecordedScore]:
    spec = planned.spec
    assert spec.prompt is not None
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    from plg.evals.perrow import per_row, row_keys
    from plg.evals.runs import latest_rows

    keys = row_keys(spec)
    run_rows = list(latest_rows(result.path)[1].values())  # the last copy of a row wins
    out = []
    for summary in result.summaries:
        if summary.not_judged or awaiting_grades(summary) or (not barred and _unscored(summary)):
            continue  # not the version's score: never recorded, so the next run calls again
        model_checks = [c for c in checks if c.model == summary.model]
        out.append(
            RecordedScore(
                identity=spec.identity(summary.model),
                prompt=spec.prompt.name,
                version=spec.prompt.version,
                blob=spec.prompt.blob,
                model=summary.model,
                score=summary.score,
                pass_rate=summary.pass_rate,
                rows=summary.rows,
                errors=summary.errors,
                datasets=tuple(str(d) for d in spec.datasets),
                dataset_hashes=spec.dataset_hashes,
                pipeline=spec.pipeline_path,
                pipeline_hash=spec.pipeline_hash,
                run_id=result.run_id,
                time=now,
                passed_threshold=all(c.passed for c in model_checks) if model_checks else None,
                details={
                    "scorers": {
                        s.name: {
                            "mean": s.mean,
                            "pass_rate": s.pass_rate,
                            "errors": s.errors,
                            **({"placeholder": PLACEHOLDER_LABEL} if s.placeholder else {}),
                        }
                        for s in summary.scorers
                    },
                    **({"warning": PLACEHOLDER_WARNING} if summary.placeholders else {}),
                    "cost": summary.cost,
                    "p50_latency": summary.p50_latency,
                    "intervals": _intervals(summary),
                },
                per_row=per_row(keys, run_rows, summary.model, spec.repeats),
            )
        )
    return out
