"""Charts drawn on the server as SVG geometry: no chart library to vendor, nothing for the CSP to allow.

Functions return coordinates and labels; the templates turn them into `<svg>` elements, so every text in a
chart is escaped like the rest of the page."""

from __future__ import annotations

from dataclasses import dataclass

from plg.tracing.spans import Span

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 16, 34


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    version: int
    value: float
    title: str


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    points: tuple[Point, ...]

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Marker:
    x: float
    version: int
    text: str
    title: str
    current: bool


@dataclass(frozen=True)
class Tick:
    pos: float
    text: str


@dataclass(frozen=True)
class TrendChart:
    width: int
    height: int
    series: tuple[Series, ...]
    markers: tuple[Marker, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    plot: tuple[float, float, float, float]


def trend_chart(
    versions: list[int],
    values: dict[str, dict[int, float]],
    markers: list[tuple[int, str, str, bool]],
) -> TrendChart:
    """`values`: series name -> version -> score in [0, 1]; `markers`: (version, text, title, current)."""
    first, last = (min(versions), max(versions)) if versions else (1, 1)
    span = max(last - first, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(version: int) -> float:
        return LEFT + (plot_w * (version - first) / span if last > first else plot_w / 2)

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - max(0.0, min(1.0, value)))

    series = tuple(
        Series(
            name=name,
            css=f"c{i % 8}",
            points=tuple(
                Point(x_of(v), y_of(score), v, score, f"{name} v{v}: {score:.3f}")
                for v, score in sorted(by_version.items())
            ),
        )
        for i, (name, by_version) in enumerate(sorted(values.items()))
    )
    step = max(1, span // 12)
    x_ticks = tuple(Tick(x_of(v), f"v{v}") for v in range(first, last + 1, step))
    y_ticks = tuple(Tick(y_of(f / 4), f"{f / 4:.2f}") for f in range(5))
    drawn = tuple(Marker(x_of(v), v, text, title, current) for v, text, title, current in markers)
    return TrendChart(WIDTH, HEIGHT, series, drawn, x_ticks, y_ticks, (LEFT, TOP, plot_w, plot_h))


@dataclass(frozen=True)
class SpanBar:
    depth: int
    name: str
    duration_ms: float
    offset_ms: float
    x: float
    width: float
    error: bool
    status_message: str | None
    attributes: tuple[tuple[str, str], ...]
    marked: bool


BAR_WIDTH = 320


def span_bars(spans: list[Span], mark: str | None = None) -> list[SpanBar]:
    """A span tree flattened depth-first, each with its bar on a common time axis."""
    if not spans:
        return []
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[Span]] = {}
    for s in spans:
        children.setdefault(s.parent_id if s.parent_id in ids else None, []).append(s)
    for group in children.values():
        group.sort(key=lambda s: (s.start_ns, s.name))
    origin = min(s.start_ns for s in spans)
    total = max(max(s.end_ns for s in spans) - origin, 1)
    out: list[SpanBar] = []

    def walk(node: Span, depth: int) -> None:
        x = BAR_WIDTH * (node.start_ns - origin) / total
        out.append(
            SpanBar(
                depth=depth,
                name=node.name,
                duration_ms=node.duration_ms,
                offset_ms=(node.start_ns - origin) / 1e6,
                x=x,
                width=max(1.0, BAR_WIDTH * (node.end_ns - node.start_ns) / total),
                error=node.status == "error",
                status_message=node.status_message,
                attributes=tuple((k, _short(v)) for k, v in node.attributes.items() if v != ""),
                marked=node.span_id == mark,
            )
        )
        for child in children.get(node.span_id, []):
            walk(child, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    return out


def _short(value: object, width: int = 80) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"
