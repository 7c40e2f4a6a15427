"""`plg runs diff A B`: two runs row by row — score deltas, changed outputs, rows that flipped pass/fail."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from plg.evals.runs import RowRecord, RunHeader, latest_rows


@dataclass(frozen=True)
class RowDelta:
    row: int
    row_id: str
    model_a: str
    model_b: str
    score_a: float | None
    score_b: float | None
    output_changed: bool
    flipped: str | None

    @property
    def delta(self) -> float | None:
        if self.score_a is None or self.score_b is None:
            return None
        return self.score_b - self.score_a


@dataclass(frozen=True)
class RunDiff:
    a: RunHeader
    b: RunHeader
    rows: tuple[RowDelta, ...]
    only_in_a: int
    only_in_b: int

    @property
    def mean_delta(self) -> float | None:
        deltas = [r.delta for r in self.rows if r.delta is not None]
        return sum(deltas) / len(deltas) if deltas else None


def _key(row: RowRecord, by_model: bool) -> tuple[int, str, int]:
    return (row.row_index, row.model if by_model else "", row.repeat)


def diff_runs(path_a: Path, path_b: Path) -> RunDiff:
    """Rows pair by (row, model, repeat); when each run has a single model (a model comparison across
    runs), they pair by (row, repeat)."""
    header_a, rows_a = latest_rows(path_a)
    header_b, rows_b = latest_rows(path_b)
    by_model = not (len(header_a.models) == 1 and len(header_b.models) == 1)
    index_a = {_key(r, by_model): r for r in rows_a.values()}
    index_b = {_key(r, by_model): r for r in rows_b.values()}
    deltas = []
    for key in sorted(set(index_a) & set(index_b)):
        a, b = index_a[key], index_b[key]
        flipped = None
        if a.passed is not None and b.passed is not None and a.passed != b.passed:
            flipped = "fail -> pass" if b.passed else "pass -> fail"
        deltas.append(
            RowDelta(
                row=a.number,
                row_id=a.given_id,
                model_a=a.model,
                model_b=b.model,
                score_a=a.score,
                score_b=b.score,
                output_changed=(a.output or "") != (b.output or ""),
                flipped=flipped,
            )
        )
    return RunDiff(
        header_a, header_b, tuple(deltas), len(set(index_a) - set(index_b)), len(set(index_b) - set(index_a))
    )
