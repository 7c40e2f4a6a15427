"""The eval-run pages: the run list, the grid (dataset rows down, models across), a row's detail with its
span trees, and two runs compared row by row with a word-level diff of their outputs."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from plg.errors import BadInput, NotFound
from plg.evals.compare import Segment, sides, word_segments
from plg.evals.grid import GridCell, cell, column_name, needs_attention
from plg.evals.runs import RowRecord, RunHeader, find_run, list_runs
from plg.view.chart import SpanBar, span_bars
from plg.view.runindex import IndexCache, Key, RunIndex

PAGE_ROWS = 50
SCAN_BUDGET = 5000
SCAN_SECONDS = 0.5
SCAN_CHUNK = 2000


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
    """A recorded cell (or None) and its verdict, decided by the same rule as `plg runs show --grid`."""

    record: RowRecord | None
    verdict: GridCell

    @property
    def status(self) -> str:
        return self.verdict.status

    @property
    def score(self) -> float | None:
        return self.verdict.score


@dataclass(frozen=True)
class GridRow:
    index: int
    row_id: str
    variables: dict[str, object]
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class GridPage:
    """`complete` is False when a filtered scan stopped at its time budget before the end of the run: rows
    after `scanned_to` were not searched, and the page must say so and offer to search on."""

    header: RunHeader
    columns: tuple[str, ...]
    rows: tuple[GridRow, ...]
    start: int
    next_start: int | None
    prev_start: int | None
    total_rows: int
    scanned_to: int
    filters: GridFilters
    complete: bool = True


def _matches(row: GridRow, filters: GridFilters) -> bool:
    if filters.failing and not needs_attention(c.verdict for c in row.cells):
        return False
    if filters.text:
        needle = filters.text.lower()
        haystack = [json.dumps(row.variables, ensure_ascii=False, separators=(",", ":"))] + [
            text for c in row.cells if c.record for text in (c.record.output or "", c.record.error or "")
        ]
        if not any(needle in h.lower() for h in haystack):
            return False
    return True


# What a line holds when its cell may need attention (compact or older files' spaced JSON): a failed verdict,
# an error (the row's or a scorer's), a grade still pending. A line without any of them is a pass or unscored.
_ATTENTION_BYTES = re.compile(rb'"passed":\s*false|"pending":\s*true|"error":\s*"')
# Characters outside ASCII whose lower case is ASCII (the Kelvin sign, dotted capital I), in UTF-8: a
# byte-level match could miss them.
_FOLDS_TO_ASCII = ("\u212a".encode(), "\u0130".encode())
_COMPACT_ROW = b'{"type":"row",'


class _Prefilter:
    """A cheap test on the raw lines, so most rows of a large run are never parsed. It may let through a row
    that does not match (that row is then judged in full), never reject one that does: when it cannot be
    sure (a scorer chosen, a non-ASCII search, a line in another writer's form) it lets the row through."""

    def __init__(self, filters: GridFilters) -> None:
        self.failing = filters.failing and not filters.scorer
        text = filters.text.lower()
        self.needles: tuple[bytes, ...] = ()
        self.text = bool(text) and text.isascii()
        if self.text:
            self.needles = (text.encode(), json.dumps(text)[1:-1].encode())

    def maybe(self, lines: list[bytes | None]) -> bool:
        """Whether the row of these cells (None: never written) may match."""
        present = [line for line in lines if line is not None]
        if self.failing and len(present) == len(lines) and not any(map(_ATTENTION_BYTES.search, present)):
            return False
        return self.text_may_match(present)

    def text_may_match(self, lines: list[bytes]) -> bool:
        """Whether the search text may be in any of these lines (a row's, or a whole chunk's at once)."""
        if not self.text or not all(line.startswith(_COMPACT_ROW) for line in lines):
            return True
        joined = b"\n".join(lines)  # joining can only add matches (across a line break), never lose one
        if _FOLDS_TO_ASCII[0] in joined or _FOLDS_TO_ASCII[1] in joined:
            return True
        lowered = joined.lower()
        return any(needle in lowered for needle in self.needles)


def open_run(cache: IndexCache, runs_dir: Path, run_id: str) -> RunIndex:
    return cache.get(find_run(runs_dir, run_id))


def _parse(line: bytes | None) -> RowRecord | None:
    """A line that is not JSON (torn by a killed writer) is no row, as `plg runs show` reads it."""
    if line is None:
        return None
    try:
        return RowRecord.from_json(json.loads(line))
    except ValueError:
        return None


def grid_page(index: RunIndex, start: int = 0, filters: GridFilters | None = None) -> GridPage:
    """Unfiltered: rows [start, start + 50). Filtered: scan on from `start` until 50 rows match, the end of
    the run, or the time budget (a second's worth on a huge run); a page stopped by the budget is marked
    incomplete and `next_start` searches on from where it stopped."""
    filters = filters or GridFilters()
    if filters.scorer and filters.scorer not in index.header.scorers:
        raise BadInput(f"run {index.header.run_id} has no scorer '{filters.scorer}'")
    total = len(index.rows)
    start = max(0, min(start, total))
    found: list[GridRow] = []
    position = start
    prefilter = _Prefilter(filters)
    deadline = time.monotonic() + SCAN_SECONDS
    chunk_size = SCAN_CHUNK if filters.active else PAGE_ROWS
    timed_out = False
    while position < total and len(found) < PAGE_ROWS:
        if filters.active and position > start and time.monotonic() > deadline:
            timed_out = True
            break
        chunk = index.rows[position : position + chunk_size]
        raw = index.raw_many([(r, m, rep) for r in chunk for m, rep in index.columns])
        if filters.active and not prefilter.text_may_match(list(raw.values())):
            position += len(chunk)  # the text is in none of these rows: one search over them all
            continue
        for number in chunk:
            position += 1
            lines = [raw.get((number, m, rep)) for m, rep in index.columns]
            if filters.active and not prefilter.maybe(lines):
                continue
            records = [_parse(line) for line in lines]
            first = next((r for r in records if r is not None), None)
            row = GridRow(
                number,
                first.given_id if first else "",  # the dataset's id; `number` is the row
                dict(first.variables) if first else {},
                tuple(Cell(r, cell(r, filters.scorer)) for r in records),
            )
            if _matches(row, filters):
                found.append(row)
                if len(found) == PAGE_ROWS:
                    break
        if not filters.active:
            break
    return GridPage(
        header=index.header,
        columns=tuple(column_name(c, index.columns) for c in index.columns),
        rows=tuple(found),
        start=start,
        next_start=position if position < total else None,
        prev_start=None if filters.active or start == 0 else max(0, start - PAGE_ROWS),
        total_rows=total,
        scanned_to=position,
        filters=filters,
        complete=not timed_out,
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
    details = []
    for key in keys:
        record = records.get(key)
        if record is not None:
            column = column_name((key[1], key[2]), index.columns)
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
    scanned_to: int = 0

    @property
    def partial(self) -> bool:
        """Changed rows only, and the scan stopped (row or time budget) before filling a page: the pairs
        after `scanned_to` are not compared yet, which the page says."""
        return self.changed_only and self.next_start is not None and len(self.rows) < PAGE_ROWS


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
    deadline = time.monotonic() + SCAN_SECONDS
    while position < len(paired) and position < limit and len(rows) < PAGE_ROWS:
        if position > start and time.monotonic() > deadline:
            break
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
                    ra.row_index + 1, ra.given_id, ra.model, rb.model, ra.score, rb.score,
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
        position,
    )
