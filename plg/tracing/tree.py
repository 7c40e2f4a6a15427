"""Span trees drawn for a terminal: `plg runs show --trace` and `plg logs show --trace`."""

from __future__ import annotations

from collections.abc import Iterable

from plg.tracing.spans import AttrValue, Span


def draw_tree(spans: Iterable[Span], attribute_width: int = 40, mark: str | None = None) -> list[str]:
    """One line per span, children under parents in start order, with offset, duration and attributes;
    the span `mark` names gets an arrow. Spans whose parent is missing (another process's part of the
    trace) are drawn as roots."""
    spans = list(spans)
    if not spans:
        return []
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[Span]] = {}
    for s in spans:
        parent = s.parent_id if s.parent_id in ids else None
        children.setdefault(parent, []).append(s)
    for group in children.values():
        group.sort(key=lambda s: (s.start_ns, s.name))
    origin = min(s.start_ns for s in spans)
    lines: list[str] = []

    def walk(node: Span, lead: str, branch: str) -> None:
        offset = (node.start_ns - origin) / 1e6
        status = "" if node.status != "error" else f"  ERROR {node.status_message or ''}".rstrip()
        attrs = "  ".join(f"{k}={_clip(v, attribute_width)}" for k, v in node.attributes.items() if v != "")
        arrow = "  <-" if node.span_id == mark else ""
        lines.append(
            f"{lead}{branch}{node.name}{arrow}  {node.duration_ms:.1f} ms  (+{offset:.1f} ms){status}"
            + (f"  {attrs}" if attrs else "")
        )
        kids = children.get(node.span_id, [])
        extension = "" if not branch else ("   " if branch == "└─ " else "│  ")
        for i, child in enumerate(kids):
            walk(child, lead + extension, "└─ " if i == len(kids) - 1 else "├─ ")

    for root in children.get(None, []):
        walk(root, "", "")
    return lines


def _clip(value: AttrValue, width: int) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    text = f"{value:.4g}" if isinstance(value, float) else " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"
