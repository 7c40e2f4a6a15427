"""A row's span tree as the run file keeps it: a few hundred bytes instead of a few kilobytes.

Most of what a row's spans say is already in the row: the root's row, model, score and pass; the render
step's message count; the model call's tokens, cost, latency and attempts; each evaluator's score and
reason. So a span is stored as its name, its parent's position, its start (from the root's) and its
duration, plus only the attributes the row does not give back. Span ids are numbered within the trace
on the way in and given back on the way out, so one trace id holds the tree together. Reading derives
the same attributes the writer dropped, so a trace comes back exactly as it was recorded, ids aside.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plg.errors import BadInput
from plg.tracing.spans import Span, completion_attributes, evaluator_attributes

_MISSING = object()


def _derived(name: str, row: Any, top_level: bool) -> dict[str, Any]:
    """The attributes `name` gets from the row it belongs to (None values are never recorded)."""
    if name.startswith("workflow."):
        found: dict[str, Any] = {
            "row": row.row_index + 1,
            "row_id": row.given_id or None,  # the dataset's id only: `row` numbers it for people
            "model": row.model,
            "repeat": row.repeat,
        }
        if row.error is None and row.score is not None:
            found.update(score=round(row.score, 6), passed=row.passed)
        return found
    if name in ("prompt.render", "messages.load") and row.messages is not None:
        return {"messages": len(row.messages)}
    if name == "llm.call" and top_level:
        return {"model": row.model, **completion_attributes(row)}
    if name.startswith("evaluator."):
        score = next((s for s in row.scores if s.name == name[len("evaluator.") :]), None)
        return {} if score is None else evaluator_attributes(score, score.weight)
    return {}


def _default_kind(name: str) -> str:
    return "client" if name == "llm.call" else "internal"


def pack(spans: Sequence[Span], row: Any) -> list[Any] | None:
    """[trace id, root start ns, [[name, parent position, start offset ns, duration ns, extras?,
    status?, status message?, kind?], ...]] with trailing defaults left off."""
    if not spans:
        return None
    position = {s.span_id: i for i, s in enumerate(spans)}
    root = next((s for s in spans if s.parent_id is None), spans[0])
    top = root.span_id
    origin = root.start_ns
    packed: list[list[Any]] = []
    for s in spans:
        derived = _derived(s.name, row, s.parent_id == top)
        attributes = s.attributes
        extras: dict[str, Any] = {}
        for key, value in attributes.items():
            given = derived.get(key, _MISSING)
            if given is _MISSING or given != value or type(given) is not type(value):
                extras[key] = value
        for key, given in derived.items():
            if given is not None and key not in attributes:
                extras[key] = None  # derivable but never recorded on this span: reading must not add it
        entry: list[Any] = [
            s.name,
            -1 if s.parent_id is None else position.get(s.parent_id, -1),
            s.start_ns - origin,
            s.end_ns - s.start_ns,
        ]
        tail = [
            extras or None,
            None if s.status == "unset" else s.status,
            s.status_message,
            None if s.kind == _default_kind(s.name) else s.kind,
        ]
        while tail and tail[-1] is None:
            tail.pop()
        entry.extend(tail)
        packed.append(entry)
    return [root.trace_id, root.start_ns, packed]


def _span_id(trace_id: str, index: int) -> str:
    return f"{trace_id[16:28]}{index + 1:04x}"


def unpack(data: Any, row: Any) -> list[Span]:
    try:
        trace_id, origin, entries = data
        raw: list[dict[str, Any]] = []
        parents = [int(entry[1]) for entry in entries]
        top = next((i for i, p in enumerate(parents) if p < 0), -1)
        for index, entry in enumerate(entries):
            name, parent, offset, duration = str(entry[0]), parents[index], int(entry[2]), int(entry[3])
            extras, status, message, kind = (list(entry[4:]) + [None] * 4)[:4]
            attributes = {
                k: v for k, v in _derived(name, row, parent == top and top >= 0).items() if v is not None
            }
            for key, value in dict(extras or {}).items():
                if value is None:
                    attributes.pop(key, None)
                else:
                    attributes[key] = value
            raw.append(
                {
                    "trace_id": trace_id,
                    "span_id": _span_id(str(trace_id), index),
                    "parent_id": _span_id(str(trace_id), parent) if parent >= 0 else None,
                    "name": name,
                    "start_ns": int(origin) + offset,
                    "end_ns": int(origin) + offset + duration,
                    "attributes": attributes,
                    "status": status or "unset",
                    "status_message": message,
                    "kind": kind or _default_kind(name),
                }
            )
    except (TypeError, ValueError, IndexError, AttributeError) as err:
        raise BadInput(f"malformed row trace: {type(err).__name__}: {err}") from None
    return [Span.from_json(item) for item in raw]
