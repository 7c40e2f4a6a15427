"""The eval-run pages: the run list, the grid (dataset rows down, models across), a row's detail with its
span trees, and two runs compared row by row with a word-level diff of their outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from plg.errors import BadInput, NotFound
from plg.evals.compare import Segment, sides, word_segments
from plg.evals.runs import RowRecord, RunHeader, find_run, list_runs
from plg.view.chart import SpanBar, span_bars
from plg.view.runindex import IndexCache, Key, RunIndex

PAGE_ROWS = 50
SCAN_BUDGET = 5000


@dataclass(frozen=True)
class RunListing:
    header: RunHeader
    size: int


def run_listing(runs_dir: Path, limit: int = 200) -> list[RunListing]:
    """Headers only (the first line of each file): the list stays instant however large the runs are."""
    out = []
    for path in list_runs(runs_dir)[:limit]:
        with path.open(encoding="utf-8") as handle:
            try:
                header = RunHeader.from_json(json.loads(handle.readline()))
            except (ValueError, TypeError):
                continue
        out.append(RunListing(header, path.stat().st_size))
    return out


@dataclass(frozen=True)
class GridFilters:
    failing: bool = False
    scorer: str = ""
    text: str = ""

    @property
    def active(self) -> bool:
        return self.failing or bool(self.scorer) or bool(self.text)

    def params(self) -> dict[str, object]:
        return {"failing": int(self.failing), "scorer": self.scorer, "text": self.text}


@dataclass(frozen=True)
class Cell:
    record: RowRecord | None
    score: float | None
    passed: bool | None
    error: str | None


@dataclass(frozen=True)
class GridRow:
    index: int
    row_id: str
    variables: dict[str, object]
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class GridPage:
    header: RunHeader
    columns: tuple[str, ...]
    rows: tuple[GridRow, ...]
    start: int
    next_start: int | None
    prev_start: int | None
    total_rows: int
    scanned_to: int
    filters: GridFilters


def _column_name(column: tuple[str, int], repeats: int) -> str:
    return column[0] if repeats <= 1 else f"{column[0]} #{column[1] + 1}"


def _cell(record: RowRecord | None, scorer: str) -> Cell:
    if record is None:
        return Cell(None, None, None, None)
    if scorer:
        found = next((s for s in record.scores if s.name == scorer), None)
        if found is None:
            return Cell(record, None, None, record.error)
        return Cell(record, found.score, found.passed, record.error or found.error)
    return Cell(record, record.score, record.passed, record.error)


def _matches(row: GridRow, filters: GridFilters) -> bool:
    if filters.failing and not any(c.error or c.passed is False for c in row.cells if c.record):
        return False
    if filters.text:
        needle = filters.text.lower()
        haystack = [json.dumps(row.variables, ensure_ascii=False)] + [
            (c.record.output or "") + (c.record.error or "") for c in row.cells if c.record
        ]
        if not any(needle in h.lower() for h in haystack):
            return False
    return True


def open_run(cache: IndexCache, runs_dir: Path, run_id: str) -> RunIndex:
    return cache.get(find_run(runs_dir, run_id))


def grid_page(index: RunIndex, start: int = 0, filters: GridFilters | None = None) -> GridPage:
    """Unfiltered: rows [start, start + 50). Filtered: scan from `start` until 50 rows match or the scan
    budget runs out, so a filter over a huge run answers quickly and pages on with `next_start`."""
    filters = filters or GridFilters()
    if filters.scorer and filters.scorer not in index.header.scorers:
        raise BadInput(f"run {index.header.run_id} has no scorer '{filters.scorer}'")
    total = len(index.rows)
    start = max(0, min(start, total))
    found: list[GridRow] = []
    position = start
    limit = start + (SCAN_BUDGET if filters.active else PAGE_ROWS)
    while position < total and position < limit and len(found) < PAGE_ROWS:
        chunk = index.rows[position : min(position + PAGE_ROWS, limit, total)]
        keys: list[Key] = [(r, m, rep) for r in chunk for m, rep in index.columns]
        records = index.read_many(keys)
        for number in chunk:
            position += 1
            cells = [records.get((number, m, rep)) for m, rep in index.columns]
            first = next((c for c in cells if c is not None), None)
            row = GridRow(
                number,
                first.row_id if first else str(number),
                dict(first.variables) if first else {},
                tuple(_cell(c, filters.scorer) for c in cells),
            )
            if _matches(row, filters):
                found.append(row)
                if len(found) == PAGE_ROWS:
                    break
    repeats = max((rep for _, rep in index.columns), default=0) + 1
    return GridPage(
        header=index.header,
        columns=tuple(_column_name(c, repeats) for c in index.columns),
        rows=tuple(found),
        start=start,
        next_start=position if position < total else None,
        prev_start=None if filters.active or start == 0 else max(0, start - PAGE_ROWS),
        total_rows=total,
        scanned_to=position,
        filters=filters,
    )


@dataclass(frozen=True)
class CellDetail:
    column: str
    record: RowRecord
    bars: tuple[SpanBar, ...]


def row_detail(index: RunIndex, number: int) -> tuple[RunHeader, list[CellDetail]]:
    """`number` is 1-based, as in `plg runs show RUN --row N`."""
    keys = [(number - 1, m, rep) for m, rep in index.columns]
    records = index.read_many(keys)
    if not records:
        raise NotFound(f"run {index.header.run_id} has no row {number}")
    repeats = max((rep for _, rep in index.columns), default=0) + 1
    details = []
    for key in keys:
        record = records.get(key)
        if record is not None:
            column = _column_name((key[1], key[2]), repeats)
            details.append(CellDetail(column, record, tuple(span_bars(record.trace()))))
    return index.header, details


@dataclass(frozen=True)
class ComparedRow:
    number: int
    row_id: str
    model_a: str
    model_b: str
    score_a: float | None
    score_b: float | None
    error_a: str | None
    error_b: str | None
    left: tuple[Segment, ...]
    right: tuple[Segment, ...]
    changed: bool

    @property
    def delta(self) -> float | None:
        return None if self.score_a is None or self.score_b is None else self.score_b - self.score_a


@dataclass(frozen=True)
class ComparePage:
    a: RunHeader
    b: RunHeader
    rows: tuple[ComparedRow, ...]
    paired: int
    start: int
    next_start: int | None
    changed_only: bool


def compare_page(a: RunIndex, b: RunIndex, start: int = 0, changed_only: bool = False) -> ComparePage:
    """Rows pair as `plg runs diff` pairs them: by (row, model, repeat), or by (row, repeat) when each run
    has one model (one model against another)."""
    by_model = not (len(a.header.models) == 1 and len(b.header.models) == 1)

    def pair_key(k: Key) -> tuple[int, str, int]:
        return (k[0], k[1] if by_model else "", k[2])

    keys_a = {pair_key(k): k for k in a.offsets}
    keys_b = {pair_key(k): k for k in b.offsets}
    paired = sorted(set(keys_a) & set(keys_b))
    rows: list[ComparedRow] = []
    position = max(0, start)
    limit = position + (SCAN_BUDGET if changed_only else PAGE_ROWS)
    while position < len(paired) and position < limit and len(rows) < PAGE_ROWS:
        chunk = paired[position : min(position + PAGE_ROWS, limit)]
        left = a.read_many([keys_a[k] for k in chunk])
        right = b.read_many([keys_b[k] for k in chunk])
        for k in chunk:
            position += 1
            ra, rb = left[keys_a[k]], right[keys_b[k]]
            changed = (ra.output or "") != (rb.output or "") or ra.error != rb.error
            if changed_only and not changed:
                continue
            la, lb = sides(word_segments(ra.output or "", rb.output or ""))
            rows.append(
                ComparedRow(
                    ra.row_index + 1, ra.row_id, ra.model, rb.model, ra.score, rb.score,
                    ra.error, rb.error, la, lb, changed,
                )
            )
            if len(rows) == PAGE_ROWS:
                break
    return ComparePage(
        a.header,
        b.header,
        tuple(rows),
        len(paired),
        max(0, start),
        position if position < len(paired) else None,
        changed_only,
    )
