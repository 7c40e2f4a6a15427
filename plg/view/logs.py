"""The request-log pages (the filters of `plg logs`, a page at a time with LIMIT/OFFSET) and the viewer's one
write: picked requests appended to a history dataset, `evals/history/<name>.jsonl`."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from plg.errors import BadInput
from plg.log.history import history_line
from plg.log.query import LogQuery, parse_time
from plg.log.store import RequestRecord, SQLiteLogStore
from plg.registry.versions import validate_name
from plg.view.chart import SpanBar, span_bars

PAGE_SIZE = 50
COUNT_CAP = 10_000
FILTERS = ("prompt", "label", "version", "since", "until", "tags", "meta", "search", "min_score")
HISTORY_DIR = "evals/history"


def _number(params: Mapping[str, str], key: str, kind: type) -> int | float | None:
    text = (params.get(key) or "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise BadInput(f"{key}: {text!r} is not a number") from None


def filter_values(params: Mapping[str, str]) -> dict[str, str]:
    return {k: params[k].strip() for k in FILTERS if (params.get(k) or "").strip()}


def query_from(params: Mapping[str, str]) -> LogQuery:
    """The same filters as `plg logs`; tags and metadata as comma-separated lists (`web,beta`, `user=ada`)."""
    values = filter_values(params)
    meta: dict[str, str] = {}
    for pair in (p.strip() for p in values.get("meta", "").split(",")):
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"meta {pair!r}: expected key=value")
        meta[key.strip()] = value.strip()
    return LogQuery(
        prompt=values.get("prompt"),
        label=values.get("label"),
        version=_number(values, "version", int),  # type: ignore[arg-type]
        since=parse_time(values["since"], "since") if "since" in values else None,
        until=parse_time(values["until"], "until") if "until" in values else None,
        tags=tuple(t for t in values.get("tags", "").replace(",", " ").split() if t),
        meta=meta,
        search=values.get("search"),
        min_score=_number(values, "min_score", float),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class LogPage:
    """`total` is exact unless `capped`, when it is a lower bound ("more than 10,000") and `pages` counts
    the pages known to exist ("201 or more"); `has_more` says whether an older page exists at all."""

    records: tuple[RequestRecord, ...]
    total: int
    capped: bool
    page: int
    pages: int
    has_more: bool
    filters: dict[str, str]


def log_page(store: SQLiteLogStore, params: Mapping[str, str], page: int = 1) -> LogPage:
    """Counting stops at COUNT_CAP: an exact count of a million rows costs more than the page itself, and
    "more than 10,000" is all a person paging by hand needs. Pages past the cap are still reachable, and
    the last one, reached, knows the exact total."""
    query = query_from(params)
    counted = store.count(query, at_most=COUNT_CAP)
    capped = counted > COUNT_CAP
    total = min(counted, COUNT_CAP)
    pages = max(1, -(-total // PAGE_SIZE))
    page = max(1, page if capped else min(page, pages))
    fetched = store.query(replace(query, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE))
    records, has_more = tuple(fetched[:PAGE_SIZE]), len(fetched) > PAGE_SIZE
    if capped and records and not has_more:
        capped, total, pages = False, (page - 1) * PAGE_SIZE + len(records), page
    elif capped:
        pages = max(-(-(COUNT_CAP + 1) // PAGE_SIZE), page + has_more)
    return LogPage(records, total, capped, page, pages, has_more, filter_values(params))


def request_detail(store: SQLiteLogStore, request_id: str) -> tuple[RequestRecord, list[SpanBar]]:
    record = store.get(request_id)
    spans = store.trace(record.trace_id) if record.trace_id else []
    return record, span_bars(spans, mark=record.span_id)


@dataclass(frozen=True)
class Written:
    path: str
    written: int
    skipped_failed: int
    already_there: int


def history_path(root: Path, name: str) -> tuple[Path, str]:
    name = name.strip().removesuffix(".jsonl")
    try:
        validate_name(name)
    except BadInput:
        raise BadInput(
            f"'{name}' is not a dataset name (letters, digits, '_', '-', '.' in '/'-separated parts)"
        ) from None
    relative = f"{HISTORY_DIR}/{name}.jsonl"
    return root / relative, relative


def write_history(root: Path, name: str, records: Iterable[RequestRecord]) -> Written:
    """Append to the dataset, skipping requests already in it and requests without an answer. The file is
    replaced in one rename: readers see the old dataset or the new one, never half of it."""
    path, relative = history_path(root, name)
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    seen = set()
    for line in existing.splitlines():
        try:
            seen.add(json.loads(line).get("request_id"))
        except (ValueError, AttributeError):
            continue
    lines, failed, duplicate = [], 0, 0
    for record in records:
        if record.error is not None or record.output is None:
            failed += 1
        elif record.id in seen:
            duplicate += 1
        else:
            seen.add(record.id)
            lines.append(json.dumps(history_line(record), ensure_ascii=False, default=str))
    if lines:
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = existing if not existing or existing.endswith("\n") else existing + "\n"
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(prefix + "\n".join(lines) + "\n")
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    return Written(relative, len(lines), failed, duplicate)


def picked_records(
    store: SQLiteLogStore, ids: list[str], everything: bool, params: Mapping[str, str]
) -> Iterable[RequestRecord]:
    if everything:
        return store.iter_query(query_from(params))
    if not ids:
        raise BadInput("no requests selected: tick some, or 'all matching'")
    return [store.get(i) for i in ids]
