"""`plg ci`: evaluate what a push or pull request changed, beside the base, and say whether it may merge.

Only changed prompts are evaluated, and every eval goes through `run_eval` with recording on, so a version
whose exact eval is already in `refs/notes/plg` costs no model call: CI is incremental by construction.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from plg.ci.basegate import BaseRooted, Judge, base_judge, base_tree, head_judge, input_changes
from plg.ci.changes import ChangedPrompt, all_prompts, changed_prompts, resolve_base
from plg.ci.github import Event
from plg.ci.report import Backtest, Check, CiReport, Figures, JudgeChange, PromptResult
from plg.errors import BadInput, NoPipeline, NotFound, NotJudged, PlgError
from plg.evals.plan import EvalRequest
from plg.evals.session import EvalOutcome, RunOptions, run_eval
from plg.llm.provider import prewarm
from plg.registry.evidence import signers_at
from plg.registry.scores import RecordedScore, read_scores
from plg.registry.versions import PromptVersion, Registry

if TYPE_CHECKING:
    from plg.evals.shards import Shard


@dataclass(frozen=True)
class CiOptions:
    base: str | None = None
    every_prompt: bool = False
    gate_label: str | None = "production"
    models: tuple[str, ...] = ()
    use_cache: bool = True
    backtest: bool = True
    require_eval: bool = False
    shard: Shard | None = None
    shard_runs_to: Path | None = None
    shard_dirs: tuple[Path, ...] = ()
    enforce_gate: bool = True


@dataclass(frozen=True)
class Base:
    sha: str | None
    how: str


def choose_base(registry: Registry, event: Event | None, explicit: str | None) -> Base:
    """The commit to compare with: what the user named, else what the event says, else the parent."""
    if explicit:
        return Base(resolve_base(registry, explicit), f"--base {explicit}")
    store = registry.store
    if event is not None and event.base_sha:
        how = "pull request base" if event.pr_number else "the commit before this push"
        try:
            sha = store.resolve_commit(event.base_sha)
        except NotFound:
            raise BadInput(
                f"the {how} {event.base_sha[:12]} is not in this clone, so what changed cannot be known: "
                "check out with fetch-depth: 0 (or `git fetch --unshallow`)"
            ) from None
        if event.pr_number:
            return Base(store.merge_base(sha, "HEAD") or sha, how)
        return Base(sha, how)
    if (
        event is not None
        and event.name == "push"
        and event.default_branch
        and not event.is_default_branch_push
    ):
        for ref in (f"origin/{event.default_branch}", event.default_branch):
            try:
                tip = store.resolve_commit(ref)
            except NotFound:
                continue
            found = store.merge_base(tip, "HEAD")
            if found:
                return Base(found, f"where this branch left {event.default_branch}")
    try:
        return Base(store.resolve_commit("HEAD^"), "the previous commit (HEAD^)")
    except NotFound:
        return Base(None, "none: the first commit")


def run_ci(
    registry: Registry,
    event: Event | None,
    options: CiOptions,
    on_prompt: Callable[[ChangedPrompt], None] | None = None,
) -> tuple[CiReport, Base]:
    started = time.monotonic()
    registry.store.require_full_history()  # else every prompt "fails" on it, and CI reads exit 1 as judged
    if not registry.store.has_commits:
        raise BadInput("the repository has no commits yet: plg ci compares commits (commit your prompts first)")
    prewarm(options.models or None)  # an eval follows: litellm imports while git is read
    base = choose_base(registry, event, options.base)
    head_sha = registry.store.resolve_commit("HEAD")
    if options.every_prompt or base.sha is None:
        changed = all_prompts(registry)
    else:
        changed = changed_prompts(registry, base.sha)
    results = []
    judging = bool(changed) and base.sha is not None and options.shard is None  # a merge of shards too
    with ExitStack() as stack:
        if base.sha is not None:  # a change never brings the key that signs its own figures
            stack.enter_context(signers_at(base.sha))
        root = stack.enter_context(base_tree(registry, base.sha)) if judging and base.sha else None
        judges = {
            p.name: (base_judge(registry, p.name, base.sha, root), head_judge(registry, p.name))
            for p in changed
            if root is not None and base.sha and p.status != "removed" and not p.problem
        }
        inputs = input_changes(registry, base.sha, root, judges) if root is not None and base.sha else []
        for prompt in changed:
            if on_prompt:
                on_prompt(prompt)
            result = evaluate_changed(registry, prompt, base.sha, options)
            rejudge = any(prompt.name in c.prompts for c in inputs if c.what != "settings")
            if root is not None and rejudge and prompt.name in judges and result.error is None:
                result = result.model_copy(
                    update=_judged_by_base(registry, prompt.name, judges[prompt.name][0], root, options)
                )
            results.append(result)
    total = len(registry.list())
    report = CiReport(
        event=event.name if event else "local",
        repository=event.repository if event else None,
        pr_number=event.pr_number if event else None,
        head_sha=head_sha,
        pr_head_sha=event.head_sha if event and event.pr_number else None,
        base_sha=base.sha,
        prompts=results,
        unchanged=max(total - len([r for r in results if r.status != "removed"]), 0),
        seconds=round(time.monotonic() - started, 2),
        shard=str(options.shard) if options.shard is not None else None,
        judge_changes=[
            JudgeChange(
                path=c.path, change=c.change, what=clip(c.what, 300), prompts=list(c.prompts)[:50],
                bounds=[clip(b, 300) for b in c.bounds][:50],
            )
            for c in inputs
        ][:500],
    )
    return report, base


def _judged_by_base(
    registry: Registry, name: str, judge: Judge, root: Path, options: CiOptions
) -> dict[str, Any]:
    """The head judged with the base branch's pipeline and gate: a change cannot pass by softening them."""
    from plg.evals.config import load_pipeline
    from plg.gate.decision import decide
    from plg.gate.gates import gate_checks

    if judge.problem is not None:
        return {"base_judge_error": clip(f"the base's pipeline does not load: {judge.problem}")}
    if judge.pipeline is None:
        return {}  # the base has no pipeline for it: nothing to judge by but its own
    out: dict[str, Any] = {"base_judge": judge.relative}
    based = cast(Registry, BaseRooted(registry, root))
    try:
        head = registry.resolve(name, "HEAD")
        committed = head.version is not None
        outcome = run_eval(
            based,
            EvalRequest(
                spec=f"{name}@{head.version}" if committed else f"{name}@{head.commit}",
                pipeline=judge.pipeline,
                models=options.models,
            ),
            RunOptions(record=committed, use_cache=options.use_cache),
        )
        outcome.raise_if_not_judged()
        out["base_thresholds"] = [
            Check(name=f"base {c.check}", model=c.model, value=c.value, bound=f"{c.op} {c.bound:g}", passed=c.passed)
            for c in outcome.checks
        ]
        label = options.gate_label
        if label is None or not committed:
            return out
        gate = load_pipeline(judge.pipeline, root).config.gate.get(label)
        if gate is None or not gate_checks(gate):
            return out
        holder = registry.get(name, label=label) if label in registry.labels(name) else None
        decision = decide(based, head, label, holder, use_cache=options.use_cache, judge=(gate, judge.pipeline))
    except PlgError as err:
        out["base_judge_error"] = clip(err.message)
        return out
    out["base_gate"] = [
        Check(name=f"base {label} {c.name}", value=c.value, bound=c.bound, passed=c.passed, detail=c.detail)
        for c in decision.checks
    ]
    return out


def clip(text: str, limit: int = 2000) -> str:
    """Report texts are bounded (the report also travels as an untrusted artifact)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def evaluate_changed(
    registry: Registry, changed: ChangedPrompt, base_sha: str | None, options: CiOptions
) -> PromptResult:
    fields: dict[str, Any] = {
        "name": changed.name,
        "status": changed.status,
        "file": changed.prompt_path,
        "changed": list(changed.paths)[:50],
    }
    if changed.status == "removed":
        return PromptResult(**fields)
    if changed.problem:
        return PromptResult(**fields, error=clip(changed.problem))
    try:
        head = registry.resolve(changed.name, "HEAD")
        outcome = _evaluate(registry, head, options)
    except NoPipeline:
        note = f"not evaluated: no eval pipeline (add evals/{changed.name}.yaml)"
        if options.require_eval:
            return PromptResult(**fields, error=note)
        return PromptResult(**fields, not_evaluated=note)
    except NotJudged as err:
        return PromptResult(**fields, not_judged=clip(err.message))
    except PlgError as err:
        return PromptResult(**fields, error=clip(err.message))
    fields["head"] = _figures(head, outcome)
    if outcome.not_judged is not None:
        fields["not_judged"] = clip(outcome.not_judged)
    fields["thresholds"] = [
        Check(name=c.check, model=c.model, value=c.value, bound=f"{c.op} {c.bound:g}", passed=c.passed)
        for c in outcome.checks
    ]
    fields["base"], fields["base_note"] = _base_figures(registry, head, base_sha, options)
    fields["head"] = _paired_deltas(registry, changed.name, fields["head"], outcome, fields["base"], base_sha)
    if options.backtest:
        fields.update(_gate(registry, head, options))
        fields["gate_enforced"] = options.enforce_gate
    return PromptResult(**fields)


def _evaluate(registry: Registry, version: PromptVersion, options: CiOptions) -> EvalOutcome:
    committed = version.version is not None
    spec = f"{version.name}@{version.version}" if committed else f"{version.name}@{version.commit}"
    outcome = run_eval(
        registry,
        EvalRequest(spec=spec, models=options.models),
        RunOptions(
            record=committed, use_cache=options.use_cache, shard=options.shard, shard_dirs=options.shard_dirs
        ),
    )
    if options.shard is not None and options.shard_runs_to is not None and outcome.result is not None:
        options.shard_runs_to.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(outcome.result.path, options.shard_runs_to / outcome.result.path.name)
    return outcome


def _figures(version: PromptVersion, outcome: EvalOutcome) -> list[Figures]:
    common = {"version": version.version, "commit": version.commit}
    if outcome.result is None:
        return [_from_recorded(s, common) for s in outcome.reused]
    return [
        Figures(
            **common,
            model=s.model,
            score=s.score,
            pass_rate=s.pass_rate,
            rows=s.rows,
            errors=s.errors,
            scorers={sc.name: sc.mean for sc in s.scorers},
            scorer_pass={sc.name: sc.pass_rate for sc in s.scorers},
            placeholder=list(s.placeholders),
            score_interval=list(s.score_interval) if s.score_interval else None,
            pass_interval=list(s.pass_interval) if s.pass_interval else None,
        )
        for s in outcome.result.summaries
    ]


def _paired_deltas(
    registry: Registry,
    name: str,
    head: list[Figures],
    outcome: EvalOutcome,
    base: list[Figures],
    base_sha: str | None,
) -> list[Figures]:
    """Δ against the base with its paired interval, over the rows both notes were scored on."""
    from plg.evals.perrow import paired_delta

    if not base or base_sha is None:
        return head
    mine = {s.model: s.per_row for s in [*outcome.reused, *outcome.recorded]}
    out = []
    for fig in head:
        before = next((b for b in base if b.model == fig.model), None)
        theirs = (
            {s.model: s.per_row for s in _latest_recorded(registry, name, before.commit)}
            if before is not None and before.commit
            else {}
        )
        delta = paired_delta(mine.get(fig.model), theirs.get(fig.model))
        out.append(fig.model_copy(update={"delta_interval": list(delta)}) if delta else fig)
    return out


def _from_recorded(score: RecordedScore, common: dict[str, Any]) -> Figures:
    scorers = (score.details or {}).get("scorers") or {}
    return Figures(
        **common,
        model=score.model,
        score=score.score,
        pass_rate=score.pass_rate,
        rows=score.rows,
        errors=score.errors,
        reused=True,
        scorers={name: (fig or {}).get("mean") for name, fig in scorers.items()},
        scorer_pass={name: (fig or {}).get("pass_rate") for name, fig in scorers.items()},
        placeholder=list(score.placeholders()),
        **_recorded_intervals(score),
    )


def _recorded_intervals(score: RecordedScore) -> dict[str, Any]:
    from plg.evals.perrow import intervals

    on_score, on_pass = score.intervals()
    if on_score is None and on_pass is None:  # a note older than recorded bounds: from its rows
        on_score, on_pass = intervals(score.per_row)
    return {"score_interval": list(on_score) if on_score else None, "pass_interval": list(on_pass) if on_pass else None}


def _base_figures(
    registry: Registry, head: PromptVersion, base_sha: str | None, options: CiOptions
) -> tuple[list[Figures], str]:
    if base_sha is None:
        return [], "no base commit to compare with"
    try:
        base = registry.resolve(head.name, base_sha)
    except NotFound:
        return [], "new prompt: it does not exist in the base"
    if base.blob == head.blob:
        recorded = _latest_recorded(registry, head.name, base_sha)
        common = {"version": base.version, "commit": base_sha}
        figures = [_from_recorded(s, common) for s in recorded]
        note = "prompt text unchanged; its pipeline or data changed"
        return figures, note + ("; base figures are the base's recorded results" if figures else "")
    try:
        outcome = _evaluate(registry, base, options)
    except PlgError as err:
        return [], clip(f"the base version could not be evaluated with this pipeline: {err.message}")
    return _figures(base, outcome), ""


def _latest_recorded(registry: Registry, name: str, commit: str) -> list[RecordedScore]:
    latest: dict[str, RecordedScore] = {}
    for score in sorted(read_scores(registry.store, commit), key=lambda s: s.time):
        if score.kind == "eval" and score.prompt == name:
            latest[score.model] = score
    return list(latest.values())


def _gate(registry: Registry, head: PromptVersion, options: CiOptions) -> dict[str, Any]:
    """The backtest and the label's gate, as `plg promote` would see them; informative unless strict."""
    from plg.gate.decision import backtest_inputs, decide, gate_for, run_backtest

    label = options.gate_label
    out: dict[str, Any] = {}
    if label is None:
        return out
    out["gate_label"] = label
    if head.version is None:
        out["gate_note"] = "not checked: the head is not a committed version of this prompt"
        return out
    try:
        gate, _ = gate_for(registry, head, label)
        history, backtest_args = backtest_inputs(registry, head, gate.backtest if gate else None)
        if history.is_file():
            report, _ = run_backtest(registry, head, history, use_cache=options.use_cache, **backtest_args)
            out["backtest"] = Backtest(
                rows=report.rows,
                errors=report.errors,
                similarity_mean=report.similarity_mean,
                changed_fraction=report.changed_fraction,
                exact_rate=report.exact_rate,
                similarity_interval=list(report.similarity_interval) if report.similarity_interval else None,
                changed_interval=list(report.changed_interval) if report.changed_interval else None,
            )
        if gate is None:
            out["gate_note"] = (
                f"no `{label}` gate in the pipeline (`plg promote` will refuse {label} without one)"
            )
            return out
        holder = registry.get(head.name, label=label) if label in registry.labels(head.name) else None
        decision = decide(registry, head, label, holder, use_cache=options.use_cache)
    except NotJudged as err:
        out["not_judged"] = clip(err.message)
        return out
    except PlgError as err:
        out["gate_error"] = clip(err.message)
        return out
    out["gate"] = [
        Check(
            name=c.name, value=c.value, bound=c.bound, passed=c.passed, detail=c.detail, outcome=c.outcome,
            interval=list(c.interval) if c.interval else None,
        )
        for c in decision.checks
    ]
    holder_note = f"holder now: v{holder.version}" if holder is not None else f"no version holds {label} yet"
    out["gate_note"] = holder_note
    return out
