"""Aggregate finished rows into the figures people read: per model and per scorer, streaming."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from plg.evals.runs import RowRecord
from plg.llm.offline import placeholder_name


@dataclass(frozen=True)
class ScorerSummary:
    name: str
    weight: float
    mean: float | None
    pass_rate: float | None
    scored: int
    errors: int
    pending: int
    placeholder: bool = False

    @property
    def shown_name(self) -> str:
        return placeholder_name(self.name) if self.placeholder else self.name


@dataclass(frozen=True)
class ModelSummary:
    model: str
    rows: int
    errors: int
    score: float | None
    pass_rate: float | None
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    p50_latency: float | None
    p95_latency: float | None
    cached: int
    scorers: tuple[ScorerSummary, ...]
    not_judged: int = 0
    outside_error: str | None = None
    score_interval: tuple[float, float] | None = None
    """One-sided bounds of `score` at 0.95 (a 90% interval), a row's repeats being one cluster."""
    pass_interval: tuple[float, float] | None = None
    """Wilson bounds of `pass_rate` at 0.95 (a 90% interval), on the effective number of rows."""

    def scorer_errors(self) -> dict[str, int]:
        return {s.name: s.errors for s in self.scorers}

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scorers if s.placeholder)

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class ThresholdCheck:
    model: str
    check: str
    value: float | None
    bound: float
    passed: bool
    op: str = ">="

    def describe(self) -> str:
        shown = "-" if self.value is None else f"{self.value:.3f}"
        return f"{self.model}: {self.check} {shown} {'<' if self.op == '>=' else '>'} {self.bound:g}"


class ExactSum:
    """A total of floats that does not depend on the order they were added in, so a run merged from
    shards sums to the very same figures as the unsharded run whose rows finished in another order:
    every finite double is a whole multiple of 2**-1074, so the sum is kept as an integer and rounded once."""

    __slots__ = ("_units",)
    _SHIFT = 1074

    def __init__(self) -> None:
        self._units = 0

    def add(self, value: float) -> None:
        numerator, denominator = value.as_integer_ratio()
        self._units += numerator << (self._SHIFT - denominator.bit_length() + 1)

    def total(self) -> float:
        return self._units / (1 << self._SHIFT)

    def mean(self, count: int) -> float:
        return self._units / (count << self._SHIFT)


@dataclass
class _ScorerAcc:
    weight: float = 1.0
    total: ExactSum = field(default_factory=ExactSum)
    scored: int = 0
    passed: int = 0
    judged: int = 0
    errors: int = 0
    pending: int = 0
    placeholder: bool = False


@dataclass
class _ModelAcc:
    rows: int = 0
    errors: int = 0
    score_total: ExactSum = field(default_factory=ExactSum)
    scored_rows: int = 0
    passed_rows: int = 0
    judged_rows: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: ExactSum = field(default_factory=ExactSum)
    cost_known: bool = False
    cached: int = 0
    latencies: list[float] = field(default_factory=list)
    scorers: dict[str, _ScorerAcc] = field(default_factory=dict)
    not_judged: int = 0
    outside_error: str | None = None
    # Interval sums (evals.stats.ClusterMoments): a row's repeats are summed until all have arrived
    score_moments: Any = None
    pass_moments: Any = None
    open_rows: dict[int, list[float]] = field(default_factory=dict)


class Aggregator:
    """Keeps only counters, latencies and the sums intervals need, so a 100,000-row run aggregates in
    flat memory (a row's repeats are held only until the last of them arrives; with `repeats` unknown,
    as when merging shards that are already in memory, until the end)."""

    def __init__(self, models: tuple[str, ...], repeats: int | None = None) -> None:
        self._models: dict[str, _ModelAcc] = {m: _ModelAcc() for m in models}
        self._repeats = repeats

    def add(self, row: RowRecord) -> None:
        acc = self._models.setdefault(row.model, _ModelAcc())
        acc.rows += 1
        if row.error:
            acc.errors += 1
        outside = row.outside_error()
        if outside is not None:
            acc.not_judged += 1
            acc.outside_error = acc.outside_error or outside
        acc.prompt_tokens += row.prompt_tokens or 0
        acc.completion_tokens += row.completion_tokens or 0
        if row.cost is not None:
            acc.cost.add(row.cost)
            acc.cost_known = True
        acc.cached += int(row.cached)
        if row.latency_s is not None and not row.cached:
            acc.latencies.append(row.latency_s)
        if row.score is not None:
            acc.score_total.add(row.score)
            acc.scored_rows += 1
        if row.passed is not None:
            acc.judged_rows += 1
            acc.passed_rows += int(row.passed)
        self._add_to_row(acc, row)
        for score in row.scores:
            s = acc.scorers.setdefault(score.name, _ScorerAcc(weight=score.weight))
            s.placeholder = s.placeholder or score.placeholder
            if score.pending:
                s.pending += 1
            elif score.error or row.error:
                s.errors += 1
            elif score.score is not None:
                s.total.add(score.score)
                s.scored += 1
                if score.passed is not None:
                    s.judged += 1
                    s.passed += int(score.passed)

    def _add_to_row(self, acc: _ModelAcc, row: RowRecord) -> None:
        sums = acc.open_rows.setdefault(row.row_index, [0.0, 0, 0.0, 0, 0])
        if row.score is not None:
            sums[0] += row.score
            sums[1] += 1
        if row.passed is not None:
            sums[2] += float(row.passed)
            sums[3] += 1
        sums[4] += 1
        if self._repeats is not None and sums[4] >= self._repeats:
            _fold(acc, acc.open_rows.pop(row.row_index))

    def summaries(self) -> tuple[ModelSummary, ...]:
        return tuple(self._summary(model, acc) for model, acc in self._models.items())

    @staticmethod
    def _intervals(acc: _ModelAcc) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
        from copy import copy

        folded = _ModelAcc(score_moments=copy(acc.score_moments), pass_moments=copy(acc.pass_moments))
        for sums in acc.open_rows.values():
            _fold(folded, sums)
        score = folded.score_moments.mean_interval() if folded.score_moments else None
        rate = folded.pass_moments.rate_interval() if folded.pass_moments else None
        return (score.lo, score.hi) if score else None, (rate.lo, rate.hi) if rate else None

    @staticmethod
    def _summary(model: str, acc: _ModelAcc) -> ModelSummary:
        lat = sorted(acc.latencies)
        score_interval, pass_interval = Aggregator._intervals(acc)
        return ModelSummary(
            model=model,
            rows=acc.rows,
            errors=acc.errors,
            score=acc.score_total.mean(acc.scored_rows) if acc.scored_rows else None,
            pass_rate=acc.passed_rows / acc.judged_rows if acc.judged_rows else None,
            prompt_tokens=acc.prompt_tokens,
            completion_tokens=acc.completion_tokens,
            cost=acc.cost.total() if acc.cost_known else None,
            p50_latency=statistics.median(lat) if lat else None,
            p95_latency=lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else None,
            cached=acc.cached,
            scorers=tuple(
                ScorerSummary(
                    name=name,
                    weight=s.weight,
                    mean=s.total.mean(s.scored) if s.scored else None,
                    pass_rate=s.passed / s.judged if s.judged else None,
                    scored=s.scored,
                    errors=s.errors,
                    pending=s.pending,
                    placeholder=s.placeholder,
                )
                for name, s in acc.scorers.items()
            ),
            not_judged=acc.not_judged,
            outside_error=acc.outside_error,
            score_interval=score_interval,
            pass_interval=pass_interval,
        )


def _fold(acc: _ModelAcc, sums: list[float]) -> None:
    """A finished row (all its repeats) becomes one cluster of the interval sums."""
    from plg.evals.stats import ClusterMoments

    if acc.score_moments is None:
        acc.score_moments, acc.pass_moments = ClusterMoments(), ClusterMoments()
    acc.score_moments.add(sums[0], int(sums[1]))
    acc.pass_moments.add(sums[2], int(sums[3]))


class Scored(Protocol):
    model: str
    rows: int
    errors: int
    score: float | None
    pass_rate: float | None

    def scorer_errors(self) -> dict[str, int]: ...


def check_threshold(
    summaries: Sequence[Scored],
    min_score: float | None,
    min_pass_rate: float | None,
    max_error_rate: float | None = None,
) -> tuple[ThresholdCheck, ...]:
    """A row that errored counts as failed and scores 0: a run cannot pass by erroring out. With
    `max_error_rate` set, a scorer (or the model call) that errored on more rows than that fails too."""
    checks = []
    for summary in summaries:
        if min_score is not None:
            value = errors_as_zero(summary.score, summary.rows - summary.errors, summary.rows)
            checks.append(
                ThresholdCheck(
                    summary.model, "min_score", value, min_score, value is not None and value >= min_score
                )
            )
        if min_pass_rate is not None:
            value = errors_as_zero(summary.pass_rate, summary.rows - summary.errors, summary.rows)
            checks.append(
                ThresholdCheck(
                    summary.model,
                    "min_pass_rate",
                    value,
                    min_pass_rate,
                    value is not None and value >= min_pass_rate,
                )
            )
        if max_error_rate is not None:
            checks += error_checks(summary, max_error_rate)
    return tuple(checks)


def error_checks(summary: Scored, max_error_rate: float) -> list[ThresholdCheck]:
    """One check per scorer that errored (and one for rows that failed before scoring: a model call, a
    missing output) on more than the allowed share; a row that failed counts against every scorer."""
    if not summary.rows:
        return []
    failing = {"rows": summary.errors} if summary.errors else {}
    failing.update({name: count + summary.errors for name, count in summary.scorer_errors().items() if count})
    checks = []
    for name, count in failing.items():
        rate = count / summary.rows
        if rate > max_error_rate:
            checks.append(
                ThresholdCheck(summary.model, f"errors ({name})", rate, max_error_rate, False, op="<=")
            )
    return checks


def errors_as_zero(value: float | None, ok_rows: int, rows: int) -> float | None:
    """A mean over the rows that ran, re-read over every row with the failed ones as 0."""
    if rows == 0:
        return value
    if value is None:
        return 0.0 if ok_rows == 0 else value
    return value * ok_rows / rows
