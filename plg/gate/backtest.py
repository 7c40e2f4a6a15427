"""Backtests: replay real production inputs (a history dataset) through a candidate version and compare
each new output with what production answered: exact-match rate, embedding similarity, an optional judge,
and the rows that changed most, shown side by side."""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plg.errors import BadInput
from plg.evals.compare import word_diff
from plg.evals.datasets import Row, dataset_hash
from plg.evals.runner import RunResult
from plg.evals.runs import RowRecord, latest_rows
from plg.evals.spec import EvalSpec
from plg.llm.offline import PLACEHOLDER_WARNING, placeholder_name
from plg.log.history import iter_history
from plg.registry.versions import PromptVersion

CHANGED_BELOW = 0.9
TOP_CHANGED = 5
JUDGE_RUBRIC = "The response gives the same substance and meets the same needs as this reference answer: {{ expected_output }}"


@dataclass(frozen=True)
class ChangedRow:
    line: int
    input_variables: dict[str, Any]
    old_output: str
    new_output: str
    similarity: float | None
    diff: str


@dataclass(frozen=True)
class BacktestReport:
    prompt: str
    version: int | None
    history: str
    rows: int
    errors: int
    exact_rate: float | None
    similarity_mean: float | None
    similarity_p10: float | None
    similarity_p50: float | None
    changed_fraction: float | None
    judge_mean: float | None
    top_changed: tuple[ChangedRow, ...]
    run_id: str | None = None
    judge_placeholder: bool = False
    similarity_interval: tuple[float, float] | None = None
    """One-sided 95% t bounds of `similarity_mean` over the rows (a 90% interval)."""
    changed_interval: tuple[float, float] | None = None
    """One-sided 95% Wilson bounds of `changed_fraction`."""

    def figures(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "errors": self.errors,
            "exact_rate": self.exact_rate,
            "similarity_mean": self.similarity_mean,
            "similarity_p10": self.similarity_p10,
            "similarity_p50": self.similarity_p50,
            "changed_fraction": self.changed_fraction,
            "judge_mean": self.judge_mean,
            **({"judge_placeholder": True} if self.judge_placeholder else {}),
            **({"similarity_interval": list(self.similarity_interval)} if self.similarity_interval else {}),
            **({"changed_interval": list(self.changed_interval)} if self.changed_interval else {}),
        }


def history_rows(path: Path, label: str | None) -> Iterator[Row]:
    index = 0
    for entry in iter_history(path):
        if label is not None and entry.label not in (None, label):
            continue
        yield Row(
            index=index,
            id=entry.request_id or str(entry.line),
            values={**entry.input_variables, "expected_output": entry.output, "_line": entry.line},
        )
        index += 1


def backtest_spec(
    candidate: PromptVersion,
    history: Path,
    *,
    model: str | None,
    embedding_model: str,
    judge_model: str | None,
    concurrency: int,
    against: str | None,
    base_dir: Path,
) -> EvalSpec:
    from plg.evals.config import JudgeConfig, SimilarityConfig
    from plg.evals.scorers import Judge, Similarity

    if not history.is_file():
        raise BadInput(
            f"no history dataset at {history} (export one: plg logs export --prompt {candidate.name} "
            f"-o {history})"
        )
    count = sum(1 for _ in history_rows(history, against))
    if count == 0:
        raise BadInput(f"{history}: no rows" + (f" for label {against}" if against else ""))
    scorers: list[Any] = [
        Similarity(SimilarityConfig(type="similarity", model=embedding_model), "similarity")
    ]
    if judge_model:
        scorers.append(
            Judge(JudgeConfig(type="llm_judge", rubric=JUDGE_RUBRIC, model=judge_model), "judge", judge_model)
        )
    extra = hashlib.sha256(f"backtest|{embedding_model}|{judge_model}|{against}".encode()).hexdigest()
    return EvalSpec(
        name=candidate.name,
        kind="backtest",
        prompt=candidate,
        datasets=(history,),
        dataset_hashes=(dataset_hash(history),),
        models=(model or candidate.model,),
        params=candidate.params,
        scorers=tuple(scorers),
        concurrency=concurrency,
        base_dir=base_dir,
        rows=lambda: history_rows(history, against),
        identity_extra=extra,
        row_count=count,
    )


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _intervals(sims: list[float]) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """Each history row is one sample: the mean similarity's t interval, the changed share's Wilson."""
    if not sims:
        return None, None
    from plg.evals.stats import mean_interval, wilson

    mean = mean_interval([[s] for s in sims])
    changed = wilson(sum(1 for s in sims if s < CHANGED_BELOW), len(sims))
    return (mean.lo, mean.hi), changed


def _bounds(value: Any) -> tuple[float, float] | None:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return float(value[0]), float(value[1])
    return None


def report_from_run(candidate: PromptVersion, history: Path, result: RunResult | Path) -> BacktestReport:
    path = result.path if isinstance(result, RunResult) else result
    header, rows = latest_rows(path)
    records: list[RowRecord] = sorted(rows.values(), key=lambda r: r.key)
    ok = [r for r in records if r.error is None and r.output is not None and not any(s.error for s in r.scores)]
    sims = [s.score for r in ok for s in r.scores if s.name == "similarity" and s.score is not None]
    judges = [s.score for r in ok for s in r.scores if s.name == "judge" and s.score is not None]
    exact = [_norm(r.output or "") == _norm(r.expected_output or "") for r in ok]

    def similarity(r: RowRecord) -> float | None:
        return next((s.score for s in r.scores if s.name == "similarity"), None)

    on_similarity, on_changed = _intervals(sims)
    changed = sorted(ok, key=lambda r: similarity(r) if similarity(r) is not None else 1.0)[:TOP_CHANGED]
    top = tuple(
        ChangedRow(
            line=int(r.variables.get("_line", r.row_index + 1)),
            input_variables={k: v for k, v in r.variables.items() if k not in ("expected_output", "_line")},
            old_output=r.expected_output or "",
            new_output=r.output or "",
            similarity=similarity(r),
            diff=word_diff(r.expected_output or "", r.output or ""),
        )
        for r in changed
        if _norm(r.output or "") != _norm(r.expected_output or "")
    )
    return BacktestReport(
        prompt=candidate.name,
        version=candidate.version,
        history=str(history),
        rows=len(records),
        errors=len(records) - len(ok),
        exact_rate=sum(exact) / len(exact) if exact else None,
        similarity_mean=statistics.fmean(sims) if sims else None,
        similarity_p10=_percentile(sims, 0.10),
        similarity_p50=_percentile(sims, 0.5),
        changed_fraction=(sum(1 for s in sims if s < CHANGED_BELOW) / len(sims)) if sims else None,
        judge_mean=statistics.fmean(judges) if judges else None,
        top_changed=top,
        run_id=header.run_id,
        judge_placeholder=any(s.placeholder for r in records for s in r.scores if s.name == "judge"),
        similarity_interval=on_similarity,
        changed_interval=on_changed,
    )


def report_from_figures(
    candidate: PromptVersion, history: Path, figures: dict[str, Any], run_id: str | None
) -> BacktestReport:
    """A recorded backtest whose run file is not on this machine (a fresh CI clone): the figures from
    the note, without the changed rows that only the run file holds."""

    def number(key: str) -> float | None:
        value = figures.get(key)
        return float(value) if isinstance(value, (int, float)) else None

    return BacktestReport(
        prompt=candidate.name,
        version=candidate.version,
        history=str(history),
        rows=int(figures.get("rows") or 0),
        errors=int(figures.get("errors") or 0),
        exact_rate=number("exact_rate"),
        similarity_mean=number("similarity_mean"),
        similarity_p10=number("similarity_p10"),
        similarity_p50=number("similarity_p50"),
        changed_fraction=number("changed_fraction"),
        judge_mean=number("judge_mean"),
        top_changed=(),
        run_id=run_id,
        judge_placeholder=figures.get("judge_placeholder") is True,
        similarity_interval=_bounds(figures.get("similarity_interval")),
        changed_interval=_bounds(figures.get("changed_interval")),
    )


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _with(value: float | None, bounds: tuple[float, float] | None) -> str:
    """`0.912 [0.874, 0.950]`: a figure and its one-sided 95% bounds, when it has them."""
    return _f(value) + (f" [{bounds[0]:.3f}, {bounds[1]:.3f}]" if value is not None and bounds else "")


def render_text(report: BacktestReport) -> str:
    from tabulate import tabulate

    rows = [
        ["rows", report.rows],
        ["errors", report.errors],
        ["exact match", _f(report.exact_rate)],
        ["similarity mean", _with(report.similarity_mean, report.similarity_interval)],
        ["similarity p10", _f(report.similarity_p10)],
        ["similarity p50", _f(report.similarity_p50)],
        [f"changed (similarity < {CHANGED_BELOW})", _with(report.changed_fraction, report.changed_interval)],
    ]
    if report.judge_mean is not None:
        judge = placeholder_name("judge mean") if report.judge_placeholder else "judge mean"
        rows.append([judge, _f(report.judge_mean)])
    version = f"@{report.version}" if report.version is not None else " (working tree)"
    lines = [
        f"backtest {report.prompt}{version} over {report.history}",
        tabulate(rows, tablefmt="simple", disable_numparse=True),
    ]
    if report.judge_placeholder:
        lines.append(f"warning: {PLACEHOLDER_WARNING}")
    for row in report.top_changed:
        lines += [
            "",
            f"line {row.line} (similarity {_f(row.similarity)}) inputs {row.input_variables}",
            f"  {row.diff}",
        ]
    return "\n".join(lines)


def render_markdown(report: BacktestReport) -> str:
    version = f"@{report.version}" if report.version is not None else " (working tree)"
    out = [
        f"### Backtest `{report.prompt}{version}` over `{report.history}`",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    bounds = {"similarity_mean": report.similarity_interval, "changed_fraction": report.changed_interval}
    out += [
        f"| {placeholder_name('judge mean') if k == 'judge_mean' and report.judge_placeholder else k.replace('_', ' ')}"
        f" | {v if isinstance(v, int) else _with(v, bounds.get(k))} |"
        for k, v in report.figures().items()
        if k not in ("judge_placeholder", "similarity_interval", "changed_interval")
    ]
    if report.judge_placeholder:
        out += ["", f"⚠️ {PLACEHOLDER_WARNING}"]
    if report.top_changed:
        out += ["", "| line | similarity | production | candidate |", "|---|---|---|---|"]
        for row in report.top_changed:
            old = row.old_output.replace("|", "\\|").replace("\n", " ")[:200]
            new = row.new_output.replace("|", "\\|").replace("\n", " ")[:200]
            out.append(f"| {row.line} | {_f(row.similarity)} | {old} | {new} |")
    return "\n".join(out) + "\n"
