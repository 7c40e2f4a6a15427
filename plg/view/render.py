"""plg's own page templates: a plain (not sandboxed) Jinja2 environment with autoescaping always on.

It renders only the files in `templates/`, which ship with plg; user prompt templates are data here, shown
as escaped text and never compiled. The sandbox in `plg.registry.template` is for those."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from plg.view.links import Links

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _when(value: float | str | datetime | None) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _bounds(value: tuple[float, float] | None, digits: int = 2, percent: bool = False) -> str:
    """`[0.64, 0.78]` (or `[58-80%]`): a figure's recorded bounds, empty when it has none."""
    if not value:
        return ""
    lo, hi = value
    if percent:
        return f"[{lo * 100:.0f}-{hi * 100:.0f}%]"
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def _score_class(value: float | None, passed: bool | None = None, error: str | None = None) -> str:
    """Colour buckets for a score in [0, 1]; errors and failures are marked whatever the number."""
    if error:
        return "err"
    if value is None:
        return "none"
    if passed is False:
        return "s0 fail"  # a failed row is never drawn green, whatever its weighted score
    return "s" + str(max(0, min(4, int(value * 5))))


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, num=_num, bounds=_bounds, score_class=_score_class, pretty=_pretty)
    return env


def render(template: str, links: Links, **context: Any) -> str:
    return environment().get_template(template).render(links=links, **context)
