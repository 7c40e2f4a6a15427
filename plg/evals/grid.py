"""`plg runs show RUN --grid`: a run as a table of dataset rows (numbered from 1, as every view numbers
them) against models (and repeats), each cell an output and its verdict. The terminal drawing is the
CLI's; what goes in each cell, and what its verdict is, is decided here."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from plg.evals.runs import RowRecord, RunHeader, latest_rows

PASS, FAIL, ERROR, PENDING, UNSCORED, MISSING = "pass", "fail", "error", "pending", "", "missing"


@dataclass(frozen=True)
class GridCell:
    status: str
    score: float | None
    text: str

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


def cell(record: RowRecord | None) -> GridCell:
    """An error (the model call or a scorer) is never shown as a pass; a row still awaiting a human
    grade is pending unless a judged scorer already failed it."""
    if record is None:
        return GridCell(MISSING, None, "")
    text = " ".join((record.output or "" if record.error is None else record.error).split())
    if record.error is not None or any(s.error for s in record.scores):
        return GridCell(ERROR, record.score, text)
    if record.passed is False:
        return GridCell(FAIL, record.score, text)
    if any(s.pending for s in record.scores):
        return GridCell(PENDING, record.score, text)
    return GridCell(PASS if record.passed else UNSCORED, record.score, text)


def run_grid(path: Path) -> Grid:
    header, rows = latest_rows(path)
    repeats = max([header.repeats, *(key[2] + 1 for key in rows)], default=1)
    columns = [(model, repeat) for model in header.models for repeat in range(repeats)]
    names = tuple(model if repeats == 1 else f"{model} #{repeat + 1}" for model, repeat in columns)
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
    """Only the rows some column did not pass: failed, errored, missing, or a human grade still pending."""
    return replace(grid, rows=tuple(r for r in grid.rows if any(c.status in (FAIL, ERROR, MISSING, PENDING) for c in r.cells)))
