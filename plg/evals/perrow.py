"""A run's figures row by row, keyed by row identity: what a note's `per_row` holds and what the gate
pairs a candidate's rows with the holder's by (docs/trust.md, "Evidence notes: the format").

`{row_key: [[score, passed], ...one per repeat]}`, `None` in place of a repeat that was not judged (the
model call or every scorer failed). Readers count `None` as score 0 and a failure: a missing judgement is
never a pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from plg.evals.runs import RowRecord
from plg.evals.spec import EvalSpec, iter_dataset

PerRow = dict[str, list[Any]]


def entry(row: RowRecord) -> list[Any] | None:
    if row.error is not None or row.score is None:
        return None
    return [row.score, row.passed]


def row_keys(spec: EvalSpec) -> dict[int, str]:
    """Row index -> row key, for every row of the spec's data."""
    from plg.evals.shards import row_key

    return {row.index: row_key(row) for row in iter_dataset(spec)}


def per_row(keys: Mapping[int, str], rows: Iterable[RowRecord], model: str, repeats: int) -> PerRow:
    """The per-row figures of one model's rows, each row's repeats in order."""
    out: dict[str, list[Any]] = {}
    for row in rows:
        if row.model != model or row.row_index not in keys:
            continue
        slots = out.setdefault(keys[row.row_index], [None] * repeats)
        if 0 <= row.repeat < repeats:
            slots[row.repeat] = entry(row)
    return out


def scores_of(figures: Sequence[Any]) -> list[float]:
    """A row's repeats as scores: not judged counts 0."""
    return [float(f[0]) if isinstance(f, list) and f and f[0] is not None else 0.0 for f in figures]


def passes_of(figures: Sequence[Any]) -> list[bool]:
    """A row's repeats as passes: not judged counts as a failure."""
    return [bool(isinstance(f, list) and len(f) > 1 and f[1] is True) for f in figures]


def paired(candidate: PerRow, holder: PerRow) -> tuple[list[list[float]], list[list[float]], list[str]]:
    """The rows both hold, in the candidate's order, as scores per repeat; and the candidate's rows the
    holder lacks."""
    cand, hold, missing = [], [], []
    for key, figures in candidate.items():
        if key in holder and holder[key]:
            cand.append(scores_of(figures))
            hold.append(scores_of(holder[key]))
        else:
            missing.append(key)
    return cand, hold, missing


def intervals(
    figures: PerRow | None,
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """Bounds of the recorded mean score and pass rate over the repeats that were judged (the rows the
    recorded means are over), each row one cluster; None without per-row figures."""
    from plg.evals.stats import mean_interval, pass_rate_interval

    if not figures:
        return None, None
    judged = [[f for f in row if isinstance(f, list) and f and f[0] is not None] for row in figures.values()]
    judged = [row for row in judged if row]
    if not judged:
        return None, None
    score = mean_interval([[float(f[0]) for f in row] for row in judged])
    passes = [[f[1] is True for f in row if len(f) > 1 and f[1] is not None] for row in judged]
    rate = pass_rate_interval([row for row in passes if row])
    return (score.lo, score.hi), ((rate.lo, rate.hi) if rate.rows else None)


def paired_delta(head: PerRow | None, base: PerRow | None) -> tuple[float, float, float, int] | None:
    """mean(head - base) over the rows both were scored on with its bounds (Δ, lo, hi, rows)."""
    from plg.evals.stats import noninferiority

    if not head or not base:
        return None
    cand, hold, _ = paired(head, base)
    if not cand:
        return None
    d = noninferiority(cand, hold, 1.0).delta
    return d.mean, d.lo, d.hi, d.rows
