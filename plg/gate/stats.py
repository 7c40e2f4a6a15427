"""The gate's statistics (docs/gate.md, "Statistics: how sure a decision is"): `max_regression` as a
paired non-inferiority check with three outcomes, `min_score`/`min_pass_rate` on lower bounds when the
gate sets `confidence`, and planning: from a recorded eval's variance, how many rows (or repeats) would
let an equal version clear a margin with 80% power. The arithmetic is `evals.stats`."""

from __future__ import annotations

from plg.errors import BadInput, Refused
from plg.evals.plan import EvalRequest
from plg.evals.session import RunOptions, run_eval
from plg.evals.stats import DEFAULT_CONFIDENCE, POWER, Plan, plan
from plg.gate.decision import Check
from plg.registry.scores import RecordedScore
from plg.registry.versions import PromptVersion, Registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from plg.evals.config import LabelGate


def plan_margin(
    registry: Registry, request: EvalRequest, margin: float, confidence: float | None = None
) -> tuple[str, Plan]:
    """The eval's recorded per-row figures (run, and recorded, only when none are): what it is and the plan."""
    from plg.evals.perrow import per_row, row_keys, scores_of
    from plg.evals.runs import latest_rows

    if not 0 < margin <= 1:
        raise BadInput(f"--margin {margin:g}: give a margin above 0 and at most 1, e.g. 0.05")
    confidence = confidence or DEFAULT_CONFIDENCE
    try:
        outcome = run_eval(registry, request, RunOptions(record=True, gate_counts_errors=True))
    except Refused:  # a working-tree prompt: nothing to record, the run file is the evidence
        outcome = run_eval(registry, request, RunOptions(gate_counts_errors=True))
    outcome.raise_if_not_judged()
    decides = outcome.planned.decides or outcome.planned.spec.models
    model = decides[0]
    figures = next(
        (s.per_row for s in [*outcome.reused, *outcome.recorded] if s.model == model and s.per_row), None
    )
    if figures is None and outcome.result is not None:
        rows = latest_rows(outcome.result.path)[1].values()
        figures = per_row(row_keys(outcome.planned.spec), rows, model, outcome.planned.spec.repeats)
    if not figures:
        raise BadInput(f"{outcome.planned.spec.name}: no scored rows to plan from")
    return model, plan([scores_of(r) for r in figures.values()], margin, confidence)


def plan_lines(name: str, model: str, p: Plan) -> list[str]:
    """What `plg eval NAME --plan --margin M` prints."""
    lines = [
        f"{name} on {model}: {p.rows} rows x {p.repeats} repeat(s); sd of a row's score {p.sd:.3f}",
    ]
    power = f"at {p.confidence:g} confidence and {POWER:.0%} power"
    if p.rows_needed is None:
        return [*lines, "a variance needs 2 scored rows or more"]
    verdict = "enough" if p.rows_needed <= p.rows else f"{p.rows_needed - p.rows} more than now"
    lines.append(
        f"to decide a {p.margin:g} margin {power}: about {p.rows_needed} rows ({verdict})"
    )
    if p.repeats >= 2:
        if p.repeats_needed is None:
            lines.append("more repeats cannot get there: the rows differ among themselves; add rows")
        else:
            lines.append(f"or about {p.repeats_needed} repeats of these {p.rows} rows")
    return lines


def regression_check(
    score: RecordedScore, held: RecordedScore, holder: PromptVersion, gate: LabelGate, marked: str = ""
) -> Check:
    """`max_regression: M` as paired non-inferiority over the rows both versions were scored on: pass
    when the one-sided lower bound of mean(candidate - holder) is >= -M, fail when the upper bound is
    below -M, inconclusive otherwise (refused unless `on_inconclusive: pass`)."""
    from plg.evals.perrow import paired
    from plg.evals.stats import DEFAULT_CONFIDENCE, INCONCLUSIVE, PASS, noninferiority

    margin = gate.max_regression or 0.0
    confidence = gate.confidence or DEFAULT_CONFIDENCE
    cand, hold, _missing = paired(score.per_row or {}, held.per_row or {})
    if not cand:
        return Check(
            "no regression", None, f"Δ >= -{margin:g}", False, "no rows both versions were scored on", INCONCLUSIVE
        )
    result = noninferiority(cand, hold, margin, confidence)
    detail = f"{result.text()} at {confidence:g}"
    if result.outcome == INCONCLUSIVE:
        detail = f"inconclusive: {result.text()}; {result.needed_text()}"
        if gate.on_inconclusive == "pass":
            detail += " (let through: on_inconclusive: pass)"
    passed = result.outcome == PASS or (result.outcome == INCONCLUSIVE and gate.on_inconclusive == "pass")
    return Check(
        "no regression",
        result.delta.mean,
        f"lower bound >= -{margin:g} (vs v{holder.version})",
        passed,
        "; ".join(filter(None, [detail, marked])),
        result.outcome,
        (result.delta.lo, result.delta.hi),
    )


def bound_check(
    name: str, score: RecordedScore, bar: float, confidence: float, figure: str, marked: str = ""
) -> Check:
    """min_score / min_pass_rate with `confidence:` set: the one-sided lower bound must clear the bar
    (rows not judged count as 0 / failures; a row's repeats are one cluster)."""
    from plg.evals.perrow import passes_of, scores_of
    from plg.evals.stats import mean_interval, pass_rate_interval

    rows = list((score.per_row or {}).values())
    if figure == "score":
        iv = mean_interval([scores_of(r) for r in rows], confidence)
    else:
        iv = pass_rate_interval([passes_of(r) for r in rows], confidence)
    passed = iv.rows > 0 and iv.lo >= bar
    detail = f"{iv.text()} on {iv.rows} rows at {confidence:g}"
    return Check(
        name,
        iv.mean if iv.rows else None,
        f"lower bound >= {bar:g}",
        passed,
        "; ".join(filter(None, [detail, marked])),
        "pass" if passed else "fail",
        (iv.lo, iv.hi),
    )
