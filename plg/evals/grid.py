"""`plg runs show RUN --grid`: a run as a table of dataset rows (numbered from 1, as every view numbers
them) against models (and repeats), each cell an output and its verdict. The terminal drawing is the
CLI's; what goes in each cell, what its verdict is, and which rows count as failing is decided here, once,
for the CLI and the viewer (plg/view/runpages.py) alike."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from plg.evals.runs import RowRecord, RunHeader, latest_rows

PASS, FAIL, ERROR, PENDING, UNSCORED, MISSING = "pass", "fail", "error", "pending", "", "missing"
ATTENTION = frozenset({FAIL, ERROR, MISSING, PENDING})


@dataclass(frozen=True)
class GridCell:
    status: str
    score: float | None
    text: str
    failed_by: tuple[str, ...] = ()  # the scorers that failed the row: a high score can still fail

    @property
    def verdict(self) -> str:
        """What the cell says first: the verdict and the row's score (the word stays when colour is off)."""
        if self.status in (ERROR, MISSING, PENDING):
            return self.status
        score = "-" if self.score is None else f"{self.score:.2f}"
        return f"{self.status} {score}" if self.status else score


@dataclass(frozen=True)
class GridRow:
    number: int
    row_id: str
    cells: tuple[GridCell, ...]


@dataclass(frozen=True)
class Grid:
    header: RunHeader
    columns: tuple[str, ...]
    rows: tuple[GridRow, ...]


def cell(record: RowRecord | None, scorer: str = "") -> GridCell:
    """An error (the model call or a scorer) is never shown as a pass; a row still awaiting a human
    grade is pending unless a judged scorer already failed it. With `scorer`, the verdict is that scorer's
    alone, and a row it never judged is missing (a missing judgement is not a pass)."""
    if record is None:
        return GridCell(MISSING, None, "")
    text = " ".join((record.output or "" if record.error is None else record.error).split())
    scores, score, passed = record.scores, record.score, record.passed
    if scorer:
        scores = tuple(s for s in record.scores if s.name == scorer)
        score, passed = (scores[0].score, scores[0].passed) if scores else (None, None)
        if not scores and record.error is None:
            return GridCell(MISSING, None, text)
    if record.error is not None or any(s.error for s in scores):
        return GridCell(ERROR, score, text)
    if passed is False:
        return GridCell(FAIL, score, text, tuple(s.name for s in scores if s.passed is False))
    if any(s.pending for s in scores):
        return GridCell(PENDING, score, text)
    return GridCell(PASS if passed else UNSCORED, score, text)


def needs_attention(cells: Iterable[GridCell]) -> bool:
    """The one "failing" rule, for `plg runs show --grid --failing` and the viewer's filter alike: some
    column did not pass (failed, errored, missing, or a human grade still pending)."""
    return any(c.status in ATTENTION for c in cells)


def grid_columns(header: RunHeader, keys: Iterable[tuple[int, str, int]]) -> tuple[tuple[str, int], ...]:
    """Every (model, repeat) the run was asked for, so a cell never written shows as missing; then any the
    file holds beyond them (a model the header does not list), so no recorded cell is hidden."""
    seen = {(key[1], key[2]) for key in keys}
    repeats = max([header.repeats, *(repeat + 1 for _, repeat in seen)], default=1)
    planned = [(model, repeat) for model in header.models for repeat in range(repeats)]
    extra = sorted(seen - set(planned))
    return (*planned, *extra)


def column_name(column: tuple[str, int], columns: Iterable[tuple[str, int]]) -> str:
    """The model, with `#N` when the run has several repeats."""
    repeated = any(repeat > 0 for _, repeat in columns)
    return f"{column[0]} #{column[1] + 1}" if repeated else column[0]


def run_grid(path: Path) -> Grid:
    header, rows = latest_rows(path)
    columns = grid_columns(header, rows)
    names = tuple(column_name(column, columns) for column in columns)
    by_number: dict[int, str] = {}
    for record in rows.values():
        if record.row_index not in by_number or record.given_id:
            by_number[record.row_index] = record.given_id
    grid_rows = tuple(
        GridRow(
            index + 1,
            by_number[index],
            tuple(cell(rows.get((index, model, repeat))) for model, repeat in columns),
        )
        for index in sorted(by_number)
    )
    return Grid(header, names, grid_rows)


def failing(grid: Grid) -> Grid:
    """Only the rows that need attention (see `needs_attention`)."""
    return replace(grid, rows=tuple(r for r in grid.rows if needs_attention(r.cells)))
