"""Planning a gate: from a recorded eval's variance, how many rows (or repeats) would let an equal
version clear a `max_regression` margin at the gate's confidence with 80% power (docs/gate.md,
"Statistics: how sure a decision is"). The gate's own test is `decision.regression_check`; the
arithmetic of both is `evals.stats`."""

from __future__ import annotations

from plg.errors import BadInput, Refused
from plg.evals.plan import EvalRequest
from plg.evals.session import RunOptions, run_eval
from plg.evals.stats import DEFAULT_CONFIDENCE, POWER, Plan, plan
from plg.registry.versions import Registry


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
