"""What a run looks like to people and tools: the summary table, and files in JSON, JSONL, CSV,
Markdown (PR comments) and JUnit XML (CI test reports). Rows stream from the run file."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from plg.errors import BadInput
from plg.evals.runs import RowRecord, RunHeader
from plg.evals.summary import ModelSummary, ThresholdCheck
from plg.llm.offline import PLACEHOLDER_WARNING

FORMATS = (".json", ".jsonl", ".csv", ".md", ".xml")


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


HEADLINE = "(every scorer)"
LEGEND = (
    f"{HEADLINE}: the weighted mean score, and the rows passing every scorer; "
    "each scorer's line: its mean and the rows it passed"
)


def with_interval(value: float | None, interval: tuple[float, float] | None, percent: bool = False) -> str:
    """`0.71 [0.64, 0.78]` or `70% [58-80%]`: the figure and its one-sided 95% bounds (a 90% interval)."""
    shown = pct(value) if percent else fmt(value)
    if value is None or not interval:
        return shown
    lo, hi = interval
    if percent:
        return f"{shown} [{lo * 100:.0f}-{hi * 100:.0f}%]"
    return f"{shown} [{lo:.2f}, {hi:.2f}]"


def summary_rows(summaries: tuple[ModelSummary, ...]) -> tuple[list[str], list[list[str]]]:
    """One line per model and scorer: the model-comparison view when several models ran. A model's
    first line is named for what it counts: a row passes only when every scorer passes it, so one
    strict scorer can make it 0% while the others pass, and the scorers' own lines say which."""
    headers = ["model", "scorer", "mean", "pass", "errors", "tokens in/out", "cost $", "p50 s", "p95 s"]
    rows: list[list[str]] = []
    for s in summaries:
        rows.append(
            [
                s.model,
                HEADLINE,
                with_interval(s.score, s.score_interval),
                with_interval(s.pass_rate, s.pass_interval, percent=True),
                str(s.errors),
                f"{s.prompt_tokens}/{s.completion_tokens}",
                fmt(s.cost, 4),
                fmt(s.p50_latency),
                fmt(s.p95_latency),
            ]
        )
        for scorer in s.scorers:
            errors = f"{scorer.errors}" + (f" (+{scorer.pending} pending)" if scorer.pending else "")
            rows.append(["", scorer.shown_name, fmt(scorer.mean), pct(scorer.pass_rate), errors, "", "", "", ""])
    return headers, rows


def placeholder_warning(summaries: tuple[ModelSummary, ...]) -> str | None:
    """The line under every table whose figures include the offline judge's word counts."""
    return PLACEHOLDER_WARNING if any(s.placeholders for s in summaries) else None


def text_summary(
    header: RunHeader, summaries: tuple[ModelSummary, ...], checks: tuple[ThresholdCheck, ...]
) -> str:
    from tabulate import tabulate

    headers, rows = summary_rows(summaries)
    title = _title(header)
    lines = [title, tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)]
    if any(s.scorers for s in summaries):
        lines.append(LEGEND)
    warning = placeholder_warning(summaries)
    if warning:
        lines.append(f"warning: {warning}")
    for check in checks:
        verdict = "pass" if check.passed else "FAIL"
        lines.append(
            f"threshold {check.check} {check.op} {check.bound:g} for {check.model}: {fmt(check.value)} {verdict}"
        )
    return "\n".join(lines)


def _title(header: RunHeader) -> str:
    if header.prompt:
        version = f"@{header.version}" if header.version is not None else " (working tree)"
        return f"run {header.run_id}: {header.prompt}{version}"
    return f"run {header.run_id}: {header.name}"


def markdown_summary(
    header: RunHeader, summaries: tuple[ModelSummary, ...], checks: tuple[ThresholdCheck, ...]
) -> str:
    headers, rows = summary_rows(summaries)
    out = [f"### {_title(header)}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    if any(s.scorers for s in summaries):
        out.append(f"\n{_md_cell(LEGEND)}")
    warning = placeholder_warning(summaries)
    if warning:
        out.append(f"\n⚠️ {_md_cell(warning)}")
    for check in checks:
        icon = "✅" if check.passed else "❌"
        out.append(f"\n{icon} `{check.check}` {'≥' if check.op == '>=' else '≤'} {check.bound:g} for `{check.model}`: **{fmt(check.value)}**")
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def check_output(path: Path, formats: tuple[str, ...] = FORMATS) -> None:
    """Refuse an output path before the work that fills it. Found only when writing, a format plg cannot
    write or a file standing where a folder must go came after the eval had run and recorded its score:
    exit 2 for a command that had done (and kept) its work."""
    if path.suffix.lower() not in formats:
        raise BadInput(f"-o {path}: unknown format (use {', '.join(formats)})")
    if path.is_dir():
        raise BadInput(f"-o {path}: is a directory")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise BadInput(f"-o {path}: {parent} is a file, not a directory")
            return


def write_output(
    path: Path,
    header: RunHeader,
    rows: Iterator[RowRecord],
    summaries: tuple[ModelSummary, ...],
    checks: tuple[ThresholdCheck, ...],
) -> None:
    check_output(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".md":
        path.write_text(markdown_summary(header, summaries, checks))
    elif suffix == ".json":
        with path.open("w") as handle:
            json.dump(
                {
                    "run": header.to_json(),
                    "summary": [s.to_json() for s in summaries],
                    "thresholds": [c.__dict__ for c in checks],
                    "rows": [r.to_json() for r in rows],
                },
                handle,
                indent=2,
                default=str,
            )
    elif suffix == ".jsonl":
        with path.open("w") as handle:
            for row in rows:
                handle.write(json.dumps(row.to_json(), default=str) + "\n")
    elif suffix == ".csv":
        _write_csv(path, rows)
    else:
        _write_junit(path, header, rows)


def _write_csv(path: Path, rows: Iterator[RowRecord]) -> None:
    with path.open("w", newline="") as handle:
        writer: Any = None
        for row in rows:
            flat = {
                "row": row.number,
                "id": row.given_id,
                "model": row.model,
                "repeat": row.repeat,
                **{f"var:{k}": v for k, v in row.variables.items()},
                "output": row.output,
                "error": row.error,
                "score": row.score,
                "passed": row.passed,
                "latency_s": row.latency_s,
                "cost": row.cost,
                **{f"score:{s.name}": s.score for s in row.scores},
            }
            if writer is None:
                writer = csv.DictWriter(handle, fieldnames=list(flat), extrasaction="ignore")
                writer.writeheader()
            writer.writerow(flat)


def _write_junit(path: Path, header: RunHeader, rows: Iterator[RowRecord]) -> None:
    cases: list[str] = []
    failures = errors = 0
    for row in rows:
        checks = row.scores or ()
        if row.error:
            errors += 1
            cases.append(_case(row, "model", f"<error message={quoteattr(row.error)}/>"))
            continue
        for score in checks:
            if score.error:
                errors += 1
                body = f"<error message={quoteattr(score.error)}/>"
            elif score.passed is False:
                failures += 1
                body = f"<failure message={quoteattr(f'score {fmt(score.score)}: {score.reason}')}/>"
            elif score.pending:
                body = '<skipped message="awaiting human grade"/>'
            else:
                body = ""
            cases.append(_case(row, score.name, body))
    suite = quoteattr(f"plg.{header.name}")
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites><testsuite name={suite} tests="{len(cases)}" failures="{failures}" errors="{errors}">\n'
        + "\n".join(cases)
        + "\n</testsuite></testsuites>\n"
    )
    path.write_text(xml)


def _case(row: RowRecord, scorer: str, body: str) -> str:
    name = quoteattr(f"{row.label} {scorer}")
    classname = quoteattr(f"{row.model}")
    output = f"<system-out>{escape(row.output or '')}</system-out>" if row.output else ""
    return f"<testcase classname={classname} name={name}>{body}{output}</testcase>"


def write_batch_csv(path: Path, models: tuple[str, ...], rows: Iterator[RowRecord]) -> int:
    """Inputs plus one output column per model, in dataset order (runs finish out of order)."""
    by_row: dict[int, dict[str, Any]] = {}
    for row in rows:
        entry = by_row.setdefault(row.row_index, {"variables": row.variables})
        entry[row.model] = row.output if row.error is None else f"ERROR: {row.error}"
    columns = sorted({k for e in by_row.values() for k in e["variables"]}, key=str)
    out_cols = ["output"] if len(models) == 1 else [f"output:{m}" for m in models]
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        if suffix == ".jsonl":
            for index in sorted(by_row):
                entry = by_row[index]
                record = {
                    **entry["variables"],
                    **{c: entry.get(m) for c, m in zip(out_cols, models, strict=True)},
                }
                handle.write(json.dumps(record, default=str) + "\n")
        elif suffix == ".csv":
            writer = csv.writer(handle)
            writer.writerow([*columns, *out_cols])
            for index in sorted(by_row):
                entry = by_row[index]
                writer.writerow(
                    [*(entry["variables"].get(c, "") for c in columns), *(entry.get(m, "") for m in models)]
                )
        else:
            raise BadInput(f"-o {path}: batch output must be .csv or .jsonl")
    return len(by_row)
