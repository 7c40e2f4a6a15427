"""The prompts pages: every prompt at a glance, and one prompt's versions, score trend, label history and
diffs. Everything comes from git (histories, label tags, score notes) in a handful of calls."""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plg.errors import NotFound, PlgError
from plg.llm.offline import placeholder_name
from plg.registry.catalog import CatalogEntry, catalog
from plg.registry.labels import LabelMove, list_labels
from plg.registry.scores import RecordedScore, headline, own_pipeline, scores_by_commit
from plg.registry.versions import Registry, Version
from plg.view.chart import TrendChart, trend_chart

GATE_LABEL = "production"


@dataclass(frozen=True)
class GateStatus:
    """The last `production` gate decision recorded for a version: passed, failed or forced."""

    verdict: str
    version: int | None
    time: str
    checks: tuple[dict[str, Any], ...]


Bounds = tuple[tuple[float, float] | None, tuple[float, float] | None]


def bounds_of(score: RecordedScore) -> Bounds:
    """The mean score's and pass rate's bounds: as recorded, else (a line written before they were) from
    the line's per-row figures, as `plg scores` and `plg ci` compute them."""
    recorded = score.intervals()
    if recorded != (None, None) or not score.per_row:
        return recorded
    from plg.evals.perrow import intervals

    return intervals(score.per_row)


@dataclass(frozen=True)
class PromptRow:
    entry: CatalogEntry
    score: str | None
    gate: GateStatus | None


def _gate_of(scores: list[RecordedScore], label: str = GATE_LABEL) -> GateStatus | None:
    found = [s for s in scores if s.kind == "gate" and (s.details or {}).get("label") == label]
    if not found:
        return None
    last = max(found, key=lambda s: s.time)
    details = last.details or {}
    verdict = "passed" if last.passed_threshold else ("forced" if details.get("forced") else "failed")
    return GateStatus(verdict, last.version, last.time, tuple(details.get("checks") or ()))


def _prompt_name(path: str) -> str:
    """prompts/desserts/cake.prompt -> desserts/cake (the name a version had at its path)."""
    return path.removeprefix("prompts/").removesuffix(".prompt")


def prompt_rows(registry: Registry) -> list[PromptRow]:
    entries = catalog(registry)
    histories = registry.all_versions()
    latest_commit = {name: h[-1].commit for name, h in histories.items() if h}
    recorded = scores_by_commit(registry.store, list(latest_commit.values()))
    rows = []
    for entry in entries:
        commit = latest_commit.get(entry.name)
        names = {entry.name, *(_prompt_name(v.path) for v in histories.get(entry.name, []))}  # through `git mv`
        found = [s for s in recorded.get(commit or "", []) if s.prompt in names]
        own = _own_pipeline(registry, entry.name, histories.get(entry.name) or [])
        rows.append(PromptRow(entry, headline(found, own, lambda s: bounds_of(s)[0]), _gate_of(found)))
    return rows


@dataclass(frozen=True)
class VersionRow:
    version: Version
    labels: tuple[str, ...]
    scores: tuple[RecordedScore, ...]
    gate: GateStatus | None
    held_production: bool
    other_pipeline: str | None = None
    """The pipeline `scores` come from when it is not the prompt's own (gating) one."""
    bounds: tuple[Bounds, ...] = ()
    """Each of `scores`' bounds (`bounds_of`), in the same order."""


@dataclass(frozen=True)
class HistoryEntry:
    move: LabelMove
    checks: tuple[tuple[str, str, str, bool | None], ...]


@dataclass(frozen=True)
class DiffLine:
    kind: str
    text: str


@dataclass(frozen=True)
class PromptPage:
    name: str
    versions: tuple[VersionRow, ...]
    chart: TrendChart
    history: tuple[HistoryEntry, ...]
    diff_a: int | None
    diff_b: int | None
    diff: tuple[DiffLine, ...]


def _own_pipeline(registry: Registry, name: str, history: list[Version]) -> str | None:
    """The pipeline whose scores a version is shown with: the one its gate reads (the latest version's
    `eval:` front matter, else `evals/NAME.yaml`)."""
    eval_key = None
    if history:
        with contextlib.suppress(PlgError):  # a file that does not parse: its page says so elsewhere
            eval_key = registry.summary(registry.locate(name, f"v{history[-1].number}")).eval
    return own_pipeline(registry.root, name, eval_key, registry.known_as(name))


def _latest_per_model(scores: list[RecordedScore], pipeline: str | None) -> list[RecordedScore]:
    """The latest eval per model on `pipeline`; when it has none, the newest pipeline's (each score
    carries its pipeline, and the page names it when it is not the prompt's own)."""
    evals = [s for s in scores if s.kind == "eval" and s.score is not None]
    own = [s for s in evals if pipeline is not None and s.pipeline == pipeline]
    if not own and evals:
        newest = max(evals, key=lambda s: s.time).pipeline
        own = [s for s in evals if s.pipeline == newest]
    latest: dict[str, RecordedScore] = {}
    for score in sorted(own, key=lambda s: s.time):
        latest[score.model] = score
    return [latest[m] for m in sorted(latest)]


def _figure_rows(figures: dict[str, Any]) -> tuple[tuple[str, str, str, bool | None], ...]:
    rows = []
    for check, value in figures.items():
        if isinstance(value, dict):
            number = value.get("value")
            shown = f"{number:.3f}" if isinstance(number, (int, float)) else "-"
            detail = f" ({value['detail']})" if value.get("detail") else ""
            rows.append((str(check), shown, f"{value.get('bound', '')}{detail}", value.get("passed")))
        else:
            rows.append((str(check), str(value), "", None))
    return tuple(rows)


def prompt_page(registry: Registry, name: str, a: int | None = None, b: int | None = None) -> PromptPage:
    history = registry.versions(name)
    if not history:
        registry.require_exists(name)
    states = list_labels(registry, name)
    labels_at: dict[str, list[str]] = {}
    for state in states:
        labels_at.setdefault(state.commit, []).append(state.label)
    recorded = scores_by_commit(registry.store, [v.commit for v in history])
    production = next((s for s in states if s.label == GATE_LABEL), None)
    held = {m.to_version for m in production.history} if production else set()
    if production and production.version is not None:
        held.add(production.version)
    rows = []
    values: dict[str, dict[int, float]] = {}
    names = set(registry.known_as(name))  # scores recorded before a `git mv` are this file's too
    own = _own_pipeline(registry, name, history)
    for version in history:
        found = [s for s in recorded.get(version.commit, []) if s.prompt in names]
        latest = _latest_per_model(found, own)
        many = len(latest) > 1
        for score in latest:
            prefix = f"{score.model} " if many else ""
            values.setdefault(f"{prefix}score", {})[version.number] = float(score.score or 0.0)
            marked = score.placeholders()
            for scorer, figures in ((score.details or {}).get("scorers") or {}).items():
                mean = (figures or {}).get("mean")
                if isinstance(mean, (int, float)):
                    shown = placeholder_name(scorer) if scorer in marked else scorer
                    values.setdefault(f"{prefix}{shown}", {})[version.number] = float(mean)
        rows.append(
            VersionRow(
                version=version,
                labels=tuple(sorted(labels_at.get(version.commit, []))),
                scores=tuple(latest),
                bounds=tuple(bounds_of(s) for s in latest),
                other_pipeline=latest[0].pipeline or "no pipeline" if latest and latest[0].pipeline != own else None,
                gate=_gate_of(found),
                held_production=version.number in held,
            )
        )
    chart = trend_chart([v.number for v in history], values, _production_markers(production))
    moves = sorted(
        (HistoryEntry(m, _figure_rows(m.figures)) for s in states for m in s.history),
        key=lambda e: (e.move.time, e.move.seq),  # moves in one second keep their order
        reverse=True,
    )
    diff_a, diff_b, diff = _diff(registry, name, history, a, b)
    return PromptPage(name, tuple(reversed(rows)), chart, tuple(moves), diff_a, diff_b, diff)


def _production_markers(state: Any) -> list[tuple[int, str, str, bool]]:
    """One marker per version that held `production`, titled with when it held it."""
    if state is None:
        return []
    spans: dict[int, list[str]] = {}
    moves = list(state.history)
    for i, move in enumerate(moves):
        if move.to_version is None:
            continue
        until = moves[i + 1].time if i + 1 < len(moves) else "now"
        spans.setdefault(move.to_version, []).append(f"{_day(move.time)} to {_day(until)}")
    if not spans and state.version is not None:
        spans[state.version] = ["now"]
    return [
        (v, GATE_LABEL, f"{GATE_LABEL} held v{v}: " + "; ".join(when), v == state.version)
        for v, when in sorted(spans.items())
    ]


def _day(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def _diff(
    registry: Registry, name: str, history: list[Version], a: int | None, b: int | None
) -> tuple[int | None, int | None, tuple[DiffLine, ...]]:
    if not history:
        return None, None, ()
    b = b or history[-1].number
    a = a or max(1, b - 1)
    for number in (a, b):
        if not 1 <= number <= len(history):
            raise NotFound(f"{name}@{number}: no such version ({name} has versions 1..{len(history)})")
    left = registry.resolve(name, f"v{a}").file.source.splitlines()
    right = registry.resolve(name, f"v{b}").file.source.splitlines()
    lines = []
    for text in difflib.unified_diff(left, right, f"{name}@{a}", f"{name}@{b}", lineterm="", n=3):
        kind = "hunk" if text.startswith("@@") else "file" if text.startswith(("---", "+++")) else {
            "+": "add", "-": "del"}.get(text[:1], "same")
        lines.append(DiffLine(kind, text))
    return a, b, tuple(lines)
