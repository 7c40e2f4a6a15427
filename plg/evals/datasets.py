"""Datasets: CSV and JSONL rows streamed one at a time, so memory stays flat however large the file."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plg.errors import BadInput
from plg.textfiles import text_lines

if TYPE_CHECKING:
    from plg.registry.prompt import InputSpec

SHOWN_ROWS = 5


@dataclass(frozen=True)
class Row:
    index: int
    id: str
    values: dict[str, Any]

    @property
    def expected_output(self) -> str | None:
        value = self.values.get("expected_output")
        return None if value is None else str(value)


def iter_rows(path: Path) -> Iterator[Row]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _csv_rows(path)
    elif suffix in (".jsonl", ".ndjson"):
        yield from _jsonl_rows(path)
    else:
        raise BadInput(f"{path}: unknown dataset format (use .csv or .jsonl)")


def _csv_rows(path: Path) -> Iterator[Row]:
    """Rows of a CSV whose every record has the header's fields: a short or long record (a missing comma,
    an unclosed quote) is refused with its line rather than read with blanks or with cells dropped."""
    numbered = text_lines(path)
    line = 0

    def lines() -> Iterator[str]:
        nonlocal line
        for number, text in numbered:
            line = number
            yield text

    reader = csv.reader(lines(), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        seen: set[str] = set()
        for column in header:
            if column in seen:
                raise BadInput(f"{path}, line 1: column '{column}' appears twice in the header")
            seen.add(column)
        index = 0
        for record in reader:
            if not record:
                continue
            if len(record) != len(header):
                raise BadInput(
                    f"{path}, line {line}: {len(record)} field(s) where the header has {len(header)} "
                    "(a missing or extra comma, or an unclosed quote?)"
                )
            values = dict(zip(header, record, strict=True))
            yield Row(index=index, id=str(values.get("id") or index), values=values)
            index += 1
    except csv.Error as err:
        raise BadInput(f"{path}, line {line}: malformed CSV: {_csv_problem(err)}") from None


def _csv_problem(err: csv.Error) -> str:
    text = str(err)
    if "field larger than field limit" in text:
        return f"a cell is longer than {csv.field_size_limit():,} characters"
    if "unexpected end of data" in text:
        return "a quoted cell is never closed"
    return text


def _jsonl_rows(path: Path) -> Iterator[Row]:
    index = 0
    for line_number, line in text_lines(path):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except (ValueError, RecursionError) as err:
            detail = getattr(err, "msg", None) or _first_line(err)
            raise BadInput(f"{path}, line {line_number}: not valid JSON ({detail})") from None
        if not isinstance(values, dict):
            raise BadInput(f"{path}, line {line_number}: each line must be a JSON object")
        yield Row(index=index, id=str(values.get("id", index)), values=values)
        index += 1


def _first_line(err: BaseException) -> str:
    if isinstance(err, RecursionError):
        return "nested too deeply"
    return (str(err).splitlines() or [type(err).__name__])[0]


def load_rows(path: Path) -> list[Row]:
    return list(iter_rows(path))


def dataset_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_columns(
    path: Path, required: set[str], needed_by: str, inputs: Mapping[str, InputSpec] | None = None
) -> int:
    """One streaming pass before any model call: every row must carry every variable the prompt needs,
    and every value of a typed input must be of its type (a bad cell is refused here, like a missing
    column, rather than failing its row after the others have called the model)."""
    from plg.errors import TemplateError
    from plg.registry.prompt import coerce_value, takes_default

    missing: dict[str, list[int]] = {}
    wrong: dict[str, list[str]] = {}
    count = 0
    for row in iter_rows(path):
        count += 1
        for column in required:
            if column not in row.values:
                missing.setdefault(column, []).append(row.index + 1)
        for name, spec in (inputs or {}).items():
            value = row.values.get(name)
            if value is None or takes_default(spec, value):
                continue
            try:
                coerce_value(name, spec, value, needed_by)
            except TemplateError:
                wrong.setdefault(name, []).append(f"{row.index + 1} ({_short(value)})")
    if missing:
        column, rows = sorted(missing.items())[0]
        shown = ", ".join(str(r) for r in rows[:SHOWN_ROWS])
        more = f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else ""
        others = f" (also missing: {', '.join(sorted(missing)[1:])})" if len(missing) > 1 else ""
        raise BadInput(
            f"{path}: column '{column}' missing in rows {shown}{more} (needed by {needed_by}){others}"
        )
    if wrong and inputs is not None:
        column, cells = sorted(wrong.items())[0]
        shown = ", ".join(cells[:SHOWN_ROWS])
        more = f" and {len(cells) - SHOWN_ROWS} more" if len(cells) > SHOWN_ROWS else ""
        others = f" (also mistyped: {', '.join(sorted(wrong)[1:])})" if len(wrong) > 1 else ""
        raise BadInput(
            f"{path}: column '{column}' should be {inputs[column].type} (as {needed_by} declares) "
            f"in rows {shown}{more}{others}"
        )
    return count


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
