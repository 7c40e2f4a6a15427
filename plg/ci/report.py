"""The CI report: what `plg ci` found, as data, and the Markdown people read in the PR and job summary.

The report is a pydantic model because it also arrives from outside: a pull request from a fork computes
it without write access and hands it over as an artifact, and the privileged job that posts it must treat
it as hostile. So the posting side never posts Markdown it was given; it validates this data (sizes
capped, unknown keys refused) and renders the Markdown itself, escaping every string.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from plg.ci.github import COMMENT_MARKER
from plg.errors import BadInput
from plg.llm.offline import PLACEHOLDER_WARNING, placeholder_name

Short = Annotated[str, StringConstraints(max_length=300)]
Long = Annotated[str, StringConstraints(max_length=2000)]
Sha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]
Score = Annotated[float, Field(ge=-1e9, le=1e9)]
REPORT_FORMAT = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Figures(_Frozen):
    version: int | None = None
    commit: Sha | None = None
    model: Short
    score: Score | None = None
    pass_rate: Score | None = None
    rows: int = 0
    errors: int = 0
    reused: bool = False
    scorers: dict[Short, Score | None] = Field(default_factory=dict, max_length=50)
    scorer_pass: dict[Short, Score | None] = Field(default_factory=dict, max_length=50)  # each scorer's pass rate
    placeholder: list[Short] = Field(default_factory=list, max_length=50)
    # One-sided 95% bounds (a 90% interval) of score and pass rate, rows as clusters (evals.stats)
    score_interval: list[Score] | None = Field(default=None, min_length=2, max_length=2)
    pass_interval: list[Score] | None = Field(default=None, min_length=2, max_length=2)
    # mean(head - base) over the rows both were scored on, with its bounds: [Δ, lo, hi, rows] (base only
    # on head figures, when both notes keep per-row figures)
    delta_interval: list[Score] | None = Field(default=None, min_length=4, max_length=4)


class Check(_Frozen):
    name: Short
    model: Short | None = None
    value: Score | None = None
    bound: Short
    passed: bool
    detail: Short = ""
    outcome: Literal["pass", "fail", "inconclusive"] | None = None
    interval: list[Score] | None = Field(default=None, min_length=2, max_length=2)


class Backtest(_Frozen):
    rows: int
    errors: int
    similarity_mean: Score | None = None
    changed_fraction: Score | None = None
    exact_rate: Score | None = None
    similarity_interval: list[Score] | None = Field(default=None, min_length=2, max_length=2)
    changed_interval: list[Score] | None = Field(default=None, min_length=2, max_length=2)


class JudgeChange(_Frozen):
    """A changed file a changed prompt is judged with (see ci.basegate), and the bounds it moves."""

    path: Short
    change: Short
    what: Short
    prompts: list[Short] = Field(default_factory=list, max_length=50)
    bounds: list[Short] = Field(default_factory=list, max_length=50)


class PromptResult(_Frozen):
    name: Short
    status: Literal["added", "modified", "removed", "renamed", "inputs"]
    file: Short
    changed: list[Short] = Field(default_factory=list, max_length=50)
    head: list[Figures] = Field(default_factory=list, max_length=20)
    base: list[Figures] = Field(default_factory=list, max_length=20)
    base_note: Long = ""
    thresholds: list[Check] = Field(default_factory=list, max_length=50)
    backtest: Backtest | None = None
    gate_label: Short | None = None
    gate: list[Check] = Field(default_factory=list, max_length=50)
    gate_note: Long = ""
    error: Long | None = None
    not_evaluated: Long | None = None
    not_judged: Long | None = None
    gate_error: Long | None = None
    gate_enforced: bool = False
    base_judge: Short | None = None
    base_thresholds: list[Check] = Field(default_factory=list, max_length=50)
    base_gate: list[Check] = Field(default_factory=list, max_length=50)
    base_judge_error: Long | None = None

    @property
    def base_judge_failed(self) -> bool:
        """The head fails the base branch's threshold, or (unless the gate only warns) its gate, or the
        base's pipeline could not judge it at all (a new required input its dataset lacks, say)."""
        if not all(c.passed for c in self.base_thresholds):
            return True
        return self.gate_enforced and (
            self.base_judge_error is not None or not all(c.passed for c in self.base_gate)
        )

    def base_judge_reason(self) -> str:
        where = f"the base's {self.base_judge}" if self.base_judge else "the base's pipeline"
        if self.base_judge_error is not None:
            return f"{where} could not judge the head: {self.base_judge_error}"
        failed = [c for c in (*self.base_thresholds, *self.base_gate) if not c.passed]
        shown = "; ".join(
            f"{c.name} {'-' if c.value is None else f'{c.value:.3f}'} (needs {c.bound})" for c in failed
        )
        return f"the head fails {where}: {shown}"

    @property
    def passed(self) -> bool:
        if self.error is not None or self.not_judged is not None:
            return False
        if self.base_judge_failed:
            return False
        if self.gate_enforced and self.gate_failed:
            return False
        return all(c.passed for c in self.thresholds)

    @property
    def gate_failed(self) -> bool:
        """The gate would refuse the move, or could not be checked: a missing judgement is no pass."""
        return self.gate_label is not None and (self.gate_passed is False or self.gate_error is not None)

    def gate_reason(self) -> str:
        if self.gate_error is not None:
            return f"{self.gate_label} gate could not be checked: {self.gate_error}"
        failed = [c for c in self.gate if not c.passed]
        shown = "; ".join(
            f"{c.name} {c.detail}"
            if c.outcome == "inconclusive"
            else f"{c.name} {'-' if c.value is None else f'{c.value:.3f}'} (needs {c.bound})"
            for c in failed
        )
        return f"{self.gate_label} gate would fail: {shown}"

    def failure(self) -> str:
        """Why this prompt fails the check, in one line."""
        if self.error is not None:
            return self.error
        if self.not_judged is not None:
            return self.not_judged
        failed = [c for c in self.thresholds if not c.passed]
        if failed:
            return "threshold: " + "; ".join(
                f"{c.name} {'-' if c.value is None else f'{c.value:.3f}'} (needs {c.bound})" for c in failed
            )
        if self.gate_failed:
            return self.gate_reason()
        return self.base_judge_reason() if self.base_judge_failed else ""

    @property
    def gate_passed(self) -> bool | None:
        if not self.gate:
            return None
        return all(c.passed for c in self.gate)


class CiReport(_Frozen):
    format: Literal[1] = REPORT_FORMAT
    event: Short
    repository: Short | None = None
    pr_number: int | None = None
    head_sha: Sha
    pr_head_sha: Sha | None = None
    base_sha: Sha | None = None
    prompts: list[PromptResult] = Field(default_factory=list, max_length=20_000)
    unchanged: int = 0
    seconds: float = 0.0
    shard: Short | None = None
    judge_changes: list[JudgeChange] = Field(default_factory=list, max_length=500)

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.prompts)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def load_report(path: Path, max_bytes: int = 2_000_000) -> CiReport:
    """Read a report that may come from an untrusted job: bounded, validated, nothing extra."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise BadInput(f"{path}: {err.strerror}") from None
    if size > max_bytes:
        raise BadInput(f"{path}: {size} bytes is more than a plg report can be ({max_bytes})")
    try:
        return CiReport.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except RecursionError:
        raise BadInput(f"{path}: not a valid plg report (JSON nested too deeply)") from None
    except (ValueError, ValidationError) as err:
        first = err.errors()[0] if isinstance(err, ValidationError) else None
        where = ".".join(str(p) for p in first["loc"]) if first else ""
        what = first["msg"] if first else str(err)
        raise BadInput(
            f"{path}: not a valid plg report ({where}: {what})" if where else f"{path}: {what}"
        ) from None


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+|!~])")


def md(text: object) -> str:
    """Text as inert Markdown: no links, HTML, tables breaking, or @-mentions pinging people."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat).replace("@", "@\u200b")


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _with(value: float | None, interval: list[float] | None, percent: bool = False) -> str:
    """`0.712 [0.641, 0.783]`, `70% [58–80%]`: a figure with its bounds when it has them."""
    shown = _pct(value) if percent else _num(value)
    if value is None or not interval:
        return shown
    lo, hi = interval
    return f"{shown} [{lo * 100:.0f}–{hi * 100:.0f}%]" if percent else f"{shown} [{lo:.3f}, {hi:.3f}]"


def _paired(fig: Figures, base: Figures | None) -> str:
    if fig.delta_interval is None:
        return _delta(fig.score, base.score if base else None)
    _, lo, hi, rows = fig.delta_interval
    return f"{_delta(fig.score, base.score if base else None)} [{lo:+.3f}, {hi:+.3f}] ({rows:.0f} paired rows)"


def _delta(head: float | None, base: float | None) -> str:
    if head is None or base is None:
        return "–"
    diff = head - base
    if abs(diff) < 0.0005:
        return "±0"
    arrow = "▲" if diff > 0 else "▼"
    return f"{arrow} {diff:+.3f}"


def _version(fig: Figures) -> str:
    if fig.version is not None:
        return f"v{fig.version}"
    return fig.commit[:7] if fig.commit else "working tree"


def _verdict(prompt: PromptResult) -> str:
    if prompt.status == "removed" or prompt.not_evaluated:
        return "➖"
    if prompt.passed and not prompt.thresholds and not prompt.gate:
        return "➖"  # no bar judged it: a green tick beside its figures would read as a verdict nobody gave
    return "✅" if prompt.passed else "❌"


def render_markdown(report: CiReport, title: str = "plg") -> str:
    lines = [COMMENT_MARKER]
    failed = [p for p in report.prompts if not p.passed]
    count = len(report.prompts)
    if report.shard is not None:
        lines.append(f"## {md(title)}: shard {md(report.shard)}, partial figures (not judged)")
    elif count == 0:
        lines.append(f"## {md(title)}: no prompt changed")
    else:
        state = f"{len(failed)} failed" if failed else "all passed"
        lines.append(f"## {md(title)}: {count} changed prompt{'s' if count != 1 else ''}, {state}")
    lines += judge_changes_markdown(report)
    if count:
        lines += [
            "",
            # a row passes only when every scorer does: the column says so, so a strict scorer's 0% is
            # not read as the verdict (the verdict is the threshold's, in the first and last columns)
            "| | prompt | change | model | base | head | Δ score | rows passing every scorer | rows | errors "
            "| threshold |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for prompt in report.prompts:
            lines += _summary_rows(prompt)
        if any(f.placeholder for p in report.prompts for f in [*p.head, *p.base]):
            lines += ["", f"⚠️ {md(PLACEHOLDER_WARNING)}"]
        gates = [p for p in report.prompts if p.gate_failed]
        if gates:
            lines.append("")
        for prompt in gates:
            icon, consequence = ("❌", "fails this check") if prompt.gate_enforced else ("⚠️", "warning only")
            lines.append(f"{icon} `{md(prompt.name)}`: {md(prompt.gate_reason())} ({consequence})")
        for prompt in report.prompts:
            if prompt.base_judge_failed:
                lines.append(f"❌ `{md(prompt.name)}`: {md(prompt.base_judge_reason())} (fails this check)")
        for prompt in report.prompts:
            lines += _details(prompt)
    base = f" vs base `{report.base_sha[:7]}`" if report.base_sha else ""
    lines += [
        "",
        f"<sub>head `{report.head_sha[:7]}`{base} · {report.unchanged} prompt(s) unchanged · "
        f"{report.seconds:.1f} s</sub>",
    ]
    return "\n".join(lines) + "\n"


def judge_changes_markdown(report: CiReport) -> list[str]:
    """First in the report: what this change does to its own judge, with the bounds it moves."""
    if not report.judge_changes:
        return []
    lines = ["", "### ⚠️ This change edits what judges it", ""]
    for change in report.judge_changes:
        who = f" (judges {', '.join(f'`{md(p)}`' for p in change.prompts)})" if change.prompts else ""
        bounds = f": {'; '.join(md(b) for b in change.bounds)}" if change.bounds else ""
        lines.append(f"- `{md(change.path)}` {md(change.change)}, {md(change.what)}{who}{bounds}")
    lines += ["", "Each changed prompt is judged with the base branch's pipeline and gate as well as its own."]
    return lines


def _summary_rows(prompt: PromptResult) -> list[str]:
    name = f"`{md(prompt.name)}`"
    if prompt.error is not None:
        return [f"| ❌ | {name} | {prompt.status} | | | | | | | | {md(prompt.error)} |"]
    if prompt.not_judged is not None and not prompt.head:
        return [f"| ❌ | {name} | {prompt.status} | | | | | | | | {md(prompt.not_judged)} |"]
    if prompt.status == "removed":
        return [f"| ➖ | {name} | removed | | | | | | | | |"]
    if prompt.not_evaluated:
        return [f"| ➖ | {name} | {prompt.status} | | | | | | | | {md(prompt.not_evaluated)} |"]
    rows = []
    base_by_model = {f.model: f for f in prompt.base}
    for fig in prompt.head:
        base = base_by_model.get(fig.model)
        base_cell = (
            f"{_version(base)} {_num(base.score)}" if base else ("new" if not prompt.base_note else "–")
        )
        checks = [c for c in prompt.thresholds if c.model == fig.model]
        threshold = (
            ", ".join(
                f"{'✅' if c.passed else '❌'} {md(c.name)} {_num(c.value)} {md(c.bound)}" for c in checks
            )
            or "none set"
        )
        rows.append(
            f"| {_verdict(prompt)} | {name} | {prompt.status} | {md(fig.model)} | {base_cell} | "
            f"{_version(fig)} {_with(fig.score, fig.score_interval)} | {_paired(fig, base)} | "
            f"{_pass_cell(fig)} | {fig.rows} | {fig.errors} | {threshold} |"
        )
    return rows


def _pass_cell(fig: Figures) -> str:
    """The rows passing every scorer, then each scorer's own pass rate beside it when there are several,
    so a strict scorer's 0% is seen as that scorer's, not the prompt's verdict."""
    shown = _with(fig.pass_rate, fig.pass_interval, True)
    if len(fig.scorer_pass) > 1:
        each = ", ".join(f"{md(name)} {_pct(rate)}" for name, rate in fig.scorer_pass.items())
        shown += f" ({each})"
    return shown


def _details(prompt: PromptResult) -> list[str]:
    if prompt.error is not None or prompt.status == "removed" or prompt.not_evaluated:
        return []
    lines = ["", "<details>", f"<summary><b>{md(prompt.name)}</b>: scorers, backtest, gate</summary>", ""]
    lines.append(f"Changed: {', '.join(f'`{md(p)}`' for p in prompt.changed) or '–'}")
    if prompt.base_note:
        lines.append(f"\nBase: {md(prompt.base_note)}")
    base_by_model = {f.model: f for f in prompt.base}
    for fig in prompt.head:
        base = base_by_model.get(fig.model)
        reused = " (recorded result reused, no model call)" if fig.reused else ""
        lines += ["", f"**{md(fig.model)}**{reused}", "", "| scorer | base | head | Δ |", "|---|---|---|---|"]
        for scorer, value in fig.scorers.items():
            before = base.scorers.get(scorer) if base else None
            shown = placeholder_name(scorer) if scorer in fig.placeholder else scorer
            lines.append(f"| {md(shown)} | {_num(before)} | {_num(value)} | {_delta(value, before)} |")
    if prompt.backtest is not None:
        bt = prompt.backtest
        lines += [
            "",
            f"**Backtest** on real traffic: {bt.rows} rows, {bt.errors} errors, similarity "
            f"{_with(bt.similarity_mean, bt.similarity_interval)}, changed "
            f"{_with(bt.changed_fraction, bt.changed_interval, True)}, exact {_pct(bt.exact_rate)}",
        ]
    if prompt.gate_label:
        if prompt.gate:
            verdict = "would pass" if prompt.gate_passed else "would FAIL"
            lines += [
                "",
                f"**`{md(prompt.gate_label)}` gate**: {verdict}",
                "",
                "| check | figure | bound | result |",
                "|---|---|---|---|",
            ]
            for check in prompt.gate:
                result = ("✅ pass" if check.passed else "❌ fail") + (
                    f" ({md(check.detail)})" if check.detail else ""
                )
                if check.outcome == "inconclusive":
                    why = check.detail.removeprefix("inconclusive: ")
                    result = ("⚠️ inconclusive, let through" if check.passed else "❌ inconclusive") + (
                        f" ({md(why)})" if why else ""
                    )
                figure = _with(check.value, check.interval)
                lines.append(f"| {md(check.name)} | {md(figure)} | {md(check.bound)} | {result} |")
        if prompt.gate_note:
            lines.append(f"\n`{md(prompt.gate_label)}` gate: {md(prompt.gate_note)}")
    if prompt.base_judge or prompt.base_judge_error:
        lines += ["", f"**Judged by the base's `{md(prompt.base_judge or 'pipeline')}`**"]
        if prompt.base_judge_error:
            lines.append(f"\n❌ {md(prompt.base_judge_error)}")
        checks = [*prompt.base_thresholds, *prompt.base_gate]
        if checks:
            lines += ["", "| check | figure | bound | result |", "|---|---|---|---|"]
            lines += [
                f"| {md(c.name)} | {_num(c.value)} | {md(c.bound)} | {'✅ pass' if c.passed else '❌ fail'} |"
                for c in checks
            ]
    lines += ["", "</details>"]
    return lines
