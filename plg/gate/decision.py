"""The promotion gate: a label moves only when the candidate proves itself on the eval pipeline, against
the version holding the label, and on real traffic (the backtest). Every figure it uses is reused from git
notes when this exact evaluation was recorded, so a re-run promote makes no model call at all."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from plg import config as plg_config
from plg.errors import BadInput, NotJudged, Refused
from plg.evals.config import BacktestGate, LabelGate, load_pipeline, resolve_inside
from plg.evals.plan import EvalRequest, prompt_pipeline
from plg.evals.runner import execute
from plg.evals.runs import find_run, new_run_id
from plg.evals.session import RunOptions, make_client, run_eval
from plg.gate.backtest import BacktestReport, backtest_spec, report_from_figures, report_from_run
from plg.gate.gates import gate_for
from plg.llm.offline import PLACEHOLDER_LABEL, PLACEHOLDER_WARNING, placeholder_name
from plg.llm.provider import prewarm
from plg.registry.scores import RecordedScore, find_evidence, record_scores
from plg.registry.versions import PromptVersion, Registry


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    bound: str
    passed: bool
    detail: str = ""
    outcome: str | None = None
    """pass | fail | inconclusive for a statistical check (None for a point check)."""
    interval: tuple[float, float] | None = None
    """The figure's one-sided bounds at the gate's confidence, when it has them."""


@dataclass(frozen=True)
class Decision:
    candidate: PromptVersion
    label: str
    checks: tuple[Check, ...]
    gated: bool
    model: str | None = None
    replaced: bool = False
    placeholder: tuple[str, ...] = ()
    """Scorers of the eval figures whose judge was the offline stand-in: shown beside the decision."""

    def placeholder_line(self) -> str | None:
        if not self.placeholder:
            return None
        names = ", ".join(placeholder_name(n) for n in self.placeholder)
        return f"warning: the eval figures include {names}: {PLACEHOLDER_WARNING}"

    def model_line(self) -> str | None:
        """Which model the figures are for: the served one, or the one the pipeline says replaces it."""
        if self.model is None:
            return None
        if self.replaced and self.model == self.candidate.model:
            return (
                f"decided on {self.model} with the pipeline's params, which replace the request "
                f"{self.candidate.name} is served with (replace_served_model: true)"
            )
        if self.replaced:
            return (
                f"decided on {self.model}, which the pipeline serves instead of {self.candidate.model} "
                "(replace_served_model: true)"
            )
        return f"decided on {self.model}, the model {self.candidate.name} is served on"

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def figures(self) -> dict[str, Any]:
        return {
            c.name: {
                "value": c.value,
                "bound": c.bound,
                "passed": c.passed,
                **({"detail": c.detail} if c.detail else {}),
                **({"outcome": c.outcome} if c.outcome else {}),
                **({"interval": list(c.interval)} if c.interval else {}),
            }
            for c in self.checks
        }

    def inconclusive_lines(self) -> list[str]:
        """What the data could not decide, and how many rows would."""
        return [f"{c.name}: {c.detail}" for c in self.checks if c.outcome == "inconclusive"]


def decision_model(registry: Registry, candidate: PromptVersion) -> tuple[str, bool]:
    """The model a gate judges `candidate` on, and whether its pipeline replaces the served model."""
    from plg.evals.plan import choose_models

    try:
        path = prompt_pipeline(registry, candidate.name, candidate.front.eval)
    except BadInput:
        return candidate.model, False
    choice = choose_models(load_pipeline(path).config, candidate.model, ())
    return (choice.decides[0] if choice.decides else candidate.model), choice.replaced


def _eval_score(
    registry: Registry,
    version: PromptVersion,
    pipeline: Path,
    use_cache: bool,
    record: bool = True,
    force: bool = False,
) -> RecordedScore:
    """The recorded eval of this exact version on the model it is judged on, or a fresh one that gets
    recorded (unless `record` is False: a dry run). An eval the provider could not finish is not a
    score: it raises NotJudged."""
    spec = f"{version.name}@{version.version}"
    outcome = run_eval(
        registry,
        EvalRequest(spec=spec, pipeline=pipeline, decided_only=True),
        RunOptions(record=True, write=record, use_cache=use_cache, gate_counts_errors=True, force=force),
    )
    outcome.raise_if_not_judged()
    recorded = outcome.reused or outcome.recorded
    decided = [r for r in recorded if r.model in outcome.planned.decides] or list(recorded)
    return decided[0]


def _eval_rows(
    registry: Registry,
    version: PromptVersion,
    pipeline: Path,
    use_cache: bool,
    keys: Iterable[str] = (),
    score: RecordedScore | None = None,
    record: bool = True,
) -> RecordedScore:
    """The eval with its per-row figures on every row in `keys`: a note without them (written before
    notes kept rows, or on other rows) is no evidence to pair with, so the eval runs again and is
    recorded with them (the response cache makes that cheap when nothing changed)."""
    score = score or _eval_score(registry, version, pipeline, use_cache, record)
    if score.per_row is None or not set(keys) <= set(score.per_row):
        score = _eval_score(registry, version, pipeline, use_cache, record, force=True)
    return score


def run_backtest(
    registry: Registry,
    candidate: PromptVersion,
    history: Path,
    *,
    against: str | None = None,
    embedding_model: str = "plg/offline-embed",
    judge_model: str | None = None,
    concurrency: int | None = None,
    model: str | None = None,
    use_cache: bool = True,
    record: bool = True,
) -> tuple[BacktestReport, bool]:
    """Returns the report and whether it was reused from notes (no model call)."""
    concurrency = concurrency or plg_config.concurrency(registry.root) or 8
    spec = backtest_spec(
        candidate,
        history,
        model=model,
        embedding_model=embedding_model,
        judge_model=judge_model,
        concurrency=concurrency,
        against=against,
        base_dir=registry.root,
    )
    prewarm(spec.models_called())
    identity = spec.identity(spec.models[0])
    runs_dir = plg_config.runs_dir(registry.root)
    if candidate.commit and candidate.version is not None:
        found, why = find_evidence(registry.store, candidate.commit, identity)
        if why:
            print(f"{candidate.name}@{candidate.version}: recorded backtest {why}: evaluating", file=sys.stderr)
        if found is not None and found.run_id:
            try:
                return report_from_run(candidate, history, find_run(runs_dir, found.run_id)), True
            except (BadInput, OSError):
                if found.details and "rows" in found.details:
                    return report_from_figures(candidate, history, found.details, found.run_id), True
    client = make_client(registry.root, concurrency, RunOptions(use_cache=use_cache), None)
    try:
        result = execute(spec, client, runs_dir, new_run_id(), registry.store.identity())
    finally:
        client.close()
    for summary in result.summaries:
        if summary.not_judged:
            raise NotJudged(
                f"{candidate.name}: backtest not judged: {summary.not_judged} of {summary.rows} row(s) on "
                f"{summary.model} could not be scored: {summary.outside_error}"
            )
    report = report_from_run(candidate, history, result)
    if record and candidate.commit and candidate.version is not None:
        record_scores(
            registry.store,
            candidate.commit,
            [
                RecordedScore(
                    identity=identity,
                    prompt=candidate.name,
                    version=candidate.version,
                    blob=candidate.blob,
                    model=spec.models[0],
                    score=report.similarity_mean,
                    pass_rate=None,
                    rows=report.rows,
                    errors=report.errors,
                    datasets=(str(history),),
                    dataset_hashes=spec.dataset_hashes,
                    pipeline=None,
                    pipeline_hash=None,
                    run_id=result.run_id,
                    time=_now(),
                    kind="backtest",
                    details=report.figures(),
                )
            ],
        )
    return report, False


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def decide(
    registry: Registry,
    candidate: PromptVersion,
    label: str,
    holder: PromptVersion | None,
    use_cache: bool = True,
    record: bool = True,
    judge: tuple[LabelGate | None, Path | None] | None = None,
) -> Decision:
    """The label's decision for `candidate`; `record` False (a dry run) evaluates what is not recorded
    and writes nothing. `judge` is another gate and pipeline to decide with (CI judges a pull request's
    head with its base branch's, so a change cannot bring its own, softer judge); by default the
    candidate's own."""
    gate, pipeline = judge if judge is not None else gate_for(registry, candidate, label)
    if gate is None:
        if label == "production":
            where = pipeline or Path(f"evals/{candidate.name}.yaml")
            raise Refused(
                f"{candidate.name}@production has no gate: add `gate: {{production: {{min_score: 0.8, "
                f"max_regression: 0.02, backtest: {{min_similarity: 0.75, max_changed: 0.25}}}}}}` to {where}, "
                "or move it with --force --reason"
            )
        return Decision(candidate, label, (), gated=False)
    assert pipeline is not None
    model, replaced = decision_model(registry, candidate)
    checks: list[Check] = []
    needs_eval = (
        gate.min_score is not None or gate.min_pass_rate is not None or gate.max_regression is not None
    )
    score = _eval_score(registry, candidate, pipeline, use_cache, record) if needs_eval else None
    placeholder = score.placeholders() if score is not None else ()
    marked = f"includes the {PLACEHOLDER_LABEL} judge" if placeholder else ""
    if score is not None:
        checks += _error_checks(score, gate.max_error_rate)
    from plg.gate.stats import bound_check, regression_check

    if score is not None and (gate.confidence is not None or gate.max_regression is not None):
        score = _eval_rows(registry, candidate, pipeline, use_cache, score=score, record=record)
    if gate.min_score is not None and score is not None:
        if gate.confidence is None:
            checks.append(_at_least("eval score", _errors_as_zero(score), gate.min_score, marked))
        else:
            checks.append(bound_check("eval score", score, gate.min_score, gate.confidence, "score", marked))
    if gate.min_pass_rate is not None and score is not None:
        if gate.confidence is None:
            checks.append(
                _at_least("eval pass rate", _errors_as_zero(score, "pass_rate"), gate.min_pass_rate, marked)
            )
        else:
            checks.append(
                bound_check("eval pass rate", score, gate.min_pass_rate, gate.confidence, "pass", marked)
            )
    if gate.max_regression is not None and score is not None:
        if holder is None or holder.commit == candidate.commit:
            checks.append(
                Check(
                    "no regression",
                    _errors_as_zero(score),
                    "no current holder",
                    True,
                    "; ".join(filter(None, ["first version to hold it", marked])),
                )
            )
        else:
            held = _eval_rows(registry, holder, pipeline, use_cache, keys=(score.per_row or {}), record=record)
            placeholder = tuple(dict.fromkeys([*placeholder, *held.placeholders()]))
            checks.append(
                regression_check(
                    score, held, holder, gate, f"includes the {PLACEHOLDER_LABEL} judge" if placeholder else ""
                )
            )
    if gate.backtest is not None:
        bt = gate.backtest
        history, backtest_args = backtest_inputs(registry, candidate, bt)
        report, _ = run_backtest(
            registry, candidate, history, use_cache=use_cache, record=record, **backtest_args
        )
        if bt.min_similarity is not None:
            on_similarity = report.similarity_interval
            checks.append(_at_least("backtest similarity", report.similarity_mean, bt.min_similarity, "", on_similarity))
        if bt.max_changed is not None:
            value = report.changed_fraction
            checks.append(
                Check(
                    "backtest changed",
                    value,
                    f"<= {bt.max_changed:g}",
                    value is not None and value <= bt.max_changed,
                    interval=report.changed_interval,
                )
            )
        if bt.min_exact is not None:
            checks.append(_at_least("backtest exact match", report.exact_rate, bt.min_exact))
        if report.errors:
            checks.append(
                Check("backtest errors", float(report.errors), "0", False, "rows failed to run or score")
            )
    return Decision(
        candidate, label, tuple(checks), gated=True, model=model, replaced=replaced, placeholder=placeholder
    )


def _errors_as_zero(score: RecordedScore, figure: str = "score") -> float | None:
    """The gate reads a figure the way the threshold does: rows that failed count as 0."""
    from plg.evals.summary import errors_as_zero

    value = score.score if figure == "score" else score.pass_rate
    return errors_as_zero(value, score.rows - score.errors, score.rows)


def _error_checks(score: RecordedScore, max_error_rate: float) -> list[Check]:
    from plg.evals.summary import error_checks

    return [
        Check(c.check, c.value, f"<= {max_error_rate:g}", False, "a missing judgement counts as a failure")
        for c in error_checks(score, max_error_rate)
    ]


def backtest_inputs(
    registry: Registry, candidate: PromptVersion, bt: BacktestGate | None
) -> tuple[Path, dict[str, Any]]:
    """The history file and backtest arguments a gate uses; CI asks the same so the gate reuses its run."""
    if bt is not None and bt.history:
        history = resolve_inside(registry.root, registry.root, bt.history, "gate backtest history")
    else:
        history = registry.root / "evals/history" / f"{candidate.name}.jsonl"
    model, replaced = decision_model(registry, candidate)
    extra: dict[str, Any] = {"model": model} if replaced else {}
    if bt is None:
        return history, extra
    judge = bt.judge if isinstance(bt.judge, str) else (candidate.model if bt.judge else None)
    return history, {
        **extra,
        "embedding_model": bt.embedding_model or "plg/offline-embed",
        "judge_model": judge,
    }


def _at_least(
    name: str, value: float | None, bound: float, detail: str = "", interval: tuple[float, float] | None = None
) -> Check:
    return Check(name, value, f">= {bound:g}", value is not None and value >= bound, detail, interval=interval)


def record_decision(registry: Registry, decision: Decision, forced: bool, reason: str) -> None:
    """The decision goes to notes on the candidate commit, pass or fail, so CI and people can see why."""
    candidate = decision.candidate
    if not candidate.commit:
        return
    import hashlib

    identity = hashlib.sha256(f"gate|{candidate.name}|{decision.label}|{candidate.blob}".encode()).hexdigest()
    record_scores(
        registry.store,
        candidate.commit,
        [
            RecordedScore(
                identity=identity,
                prompt=candidate.name,
                version=candidate.version,
                blob=candidate.blob,
                model="",
                score=None,
                pass_rate=None,
                rows=0,
                errors=0,
                datasets=(),
                dataset_hashes=(),
                pipeline=None,
                pipeline_hash=None,
                run_id="",
                time=_now(),
                passed_threshold=decision.passed,
                kind="gate",
                details={
                    "label": decision.label,
                    "checks": [asdict(c) for c in decision.checks],
                    "forced": forced,
                    "reason": reason,
                    **(
                        {"placeholder": list(decision.placeholder), "warning": PLACEHOLDER_WARNING}
                        if decision.placeholder
                        else {}
                    ),
                },
            )
        ],
    )
