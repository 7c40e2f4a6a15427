"""How sure a figure is: intervals for means and pass rates, the paired non-inferiority test the gate
decides `max_regression` with, and how many rows would decide a margin.

Rows are clusters (Miller, "Adding Error Bars to Evals", 2024): the K repeats of one row are not K
independent rows, so every standard error here is computed over rows, from each row's own mean. With one
repeat that is the ordinary (paired) t interval. Pass rates use Wilson's interval, which keeps its
coverage on the small sets evals have, where the normal approximation is too narrow (Bowyer et al., 2025).

Every bound is one-sided at `confidence`: `lo` is the one-sided lower bound the gate compares with its
bar, `hi` the one-sided upper bound; together they are a two-sided interval at 2*confidence - 1 (90% for
the default 0.95). scipy (t and normal quantiles) is imported only when a bound is computed.

This is pure arithmetic on numbers, below the gate and the reports that both read it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_CONFIDENCE = 0.95
POWER = 0.80


def t_quantile(q: float, df: int) -> float:
    """Student's t quantile (scipy.special's, the function scipy.stats.t.ppf calls: 0.2 s to import
    against 0.8 s for scipy.stats, paid by every table that shows an interval)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, q))


def z_quantile(q: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(q))


@dataclass(frozen=True)
class Interval:
    """A mean over rows with its clustered standard error and one-sided bounds at `confidence`."""

    mean: float
    lo: float
    hi: float
    se: float
    rows: int
    confidence: float

    def text(self, digits: int = 3) -> str:
        """`0.712 [0.641, 0.783]`: the figure and its bounds."""
        return f"{self.mean:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"

    def to_json(self) -> dict[str, float | int]:
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi, "rows": self.rows, "confidence": self.confidence}


def _row_means(clusters: Sequence[Sequence[float]]) -> list[float]:
    return [sum(c) / len(c) for c in clusters if len(c)]


def clustered_se(clusters: Sequence[Sequence[float]]) -> tuple[float, float]:
    """The mean over every observation and its cluster-robust standard error (rows are the clusters):
    Var = G/(G-1) * sum_g (sum_k (x_gk - mean))^2 / N^2, which for equal repeats is sd(row means)/sqrt(G)."""
    groups = [list(c) for c in clusters if len(c)]
    total = sum(len(g) for g in groups)
    if not groups:
        return math.nan, math.inf
    mean = sum(sum(g) for g in groups) / total
    if len(groups) < 2:
        return mean, math.inf
    spread = sum(sum(x - mean for x in g) ** 2 for g in groups)
    g = len(groups)
    return mean, math.sqrt(g / (g - 1) * spread / total**2)


@dataclass
class ClusterMoments:
    """What a clustered SE needs, kept as sums so a run aggregates without holding its rows: per row
    (cluster) g with total S_g over n_g samples, the sums of S_g, n_g, S_g^2, S_g*n_g and n_g^2."""

    clusters: int = 0
    total: float = 0.0
    count: int = 0
    s2: float = 0.0
    sn: float = 0.0
    n2: int = 0

    def add(self, total: float, count: int) -> None:
        if count <= 0:
            return
        self.clusters += 1
        self.total += total
        self.count += count
        self.s2 += total * total
        self.sn += total * count
        self.n2 += count * count

    def se(self) -> float:
        """sum_g (S_g - mean n_g)^2 expanded, times G/(G-1) / N^2: the same as `clustered_se`."""
        if self.clusters < 2:
            return math.inf
        mean = self.total / self.count
        spread = max(0.0, self.s2 - 2 * mean * self.sn + mean * mean * self.n2)
        g = self.clusters
        return math.sqrt(g / (g - 1) * spread / self.count**2)

    def mean_interval(self, confidence: float = DEFAULT_CONFIDENCE) -> Interval | None:
        if not self.count:
            return None
        mean, se = self.total / self.count, self.se()
        half = math.inf if math.isinf(se) else (0.0 if se == 0 else t_quantile(confidence, self.clusters - 1) * se)
        return Interval(mean, max(0.0, mean - half), min(1.0, mean + half), se, self.clusters, confidence)

    def rate_interval(self, confidence: float = DEFAULT_CONFIDENCE) -> Interval | None:
        """For 0/1 samples: Wilson on the effective number of rows (see `pass_rate_interval`)."""
        if not self.count:
            return None
        p, se = self.total / self.count, self.se()
        n_eff = float(self.count)
        if self.count > self.clusters and 0 < p < 1 and se > 0 and not math.isinf(se):
            n_eff = min(n_eff, max(1.0, p * (1 - p) / se**2))
        lo, hi = wilson(p * n_eff, n_eff, confidence)
        return Interval(p, lo, hi, se, self.clusters, confidence)


def mean_interval(
    clusters: Sequence[Sequence[float]],
    confidence: float = DEFAULT_CONFIDENCE,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> Interval:
    """Mean of scores with a t interval on the clustered SE (df = rows - 1), kept inside `bounds`."""
    mean, se = clustered_se(clusters)
    rows = sum(1 for c in clusters if len(c))
    if rows == 0:
        return Interval(math.nan, bounds[0], bounds[1], math.inf, 0, confidence)
    half = math.inf if math.isinf(se) else (0.0 if se == 0 else t_quantile(confidence, rows - 1) * se)
    lo, hi = max(bounds[0], mean - half), min(bounds[1], mean + half)
    return Interval(mean, lo, hi, se, rows, confidence)


def wilson(successes: float, n: float, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Wilson score bounds for a proportion, each one-sided at `confidence`."""
    if n <= 0:
        return 0.0, 1.0
    z = z_quantile(confidence)
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def pass_rate_interval(clusters: Sequence[Sequence[bool]], confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Share of passing samples with a Wilson interval. With repeats, Wilson is taken on the effective
    number of rows p(1-p)/SE^2 (SE clustered over rows), so K repeats never count as K rows."""
    values = [[1.0 if x else 0.0 for x in c] for c in clusters if len(c)]
    rows = len(values)
    total = sum(len(c) for c in values)
    if rows == 0:
        return Interval(math.nan, 0.0, 1.0, math.inf, 0, confidence)
    p, se = clustered_se(values)
    n_eff = float(total)
    if total > rows and 0 < p < 1 and se > 0 and not math.isinf(se):
        n_eff = min(float(total), max(1.0, p * (1 - p) / se**2))
    lo, hi = wilson(p * n_eff, n_eff, confidence)
    return Interval(p, lo, hi, se, rows, confidence)


PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


@dataclass(frozen=True)
class Comparison:
    """mean(candidate - holder) over paired rows, its bounds, and what they say about a margin."""

    delta: Interval
    margin: float
    sd: float  # standard deviation of the per-row differences
    outcome: str  # pass | fail | inconclusive
    rows_needed: int | None  # rows that would decide this margin at this variance (None: unknown)

    def text(self) -> str:
        """`Δ -0.020 [-0.210, +0.170] on 40 paired rows`."""
        d = self.delta
        return f"Δ {d.mean:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}] on {d.rows} paired rows"

    def needed_text(self) -> str:
        if self.rows_needed is None:
            return "a variance needs 2 paired rows or more"
        return f"about {self.rows_needed} rows would decide a {self.margin:g} margin"


def noninferiority(
    candidate: Sequence[Sequence[float]],
    holder: Sequence[Sequence[float]],
    margin: float,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Comparison:
    """Paired non-inferiority: row i of `candidate` and of `holder` are the same row (each a list of its
    repeats). Pass when the one-sided lower bound of mean(candidate - holder) is >= -margin; fail when the
    one-sided upper bound is below -margin (worse, whatever more rows say); else inconclusive."""
    if len(candidate) != len(holder):
        raise ValueError("candidate and holder must hold the same rows")
    diffs = [[c - h] for c, h in zip(_row_means(candidate), _row_means(holder), strict=True)]
    delta = mean_interval(diffs, confidence, bounds=(-1.0, 1.0))
    sd = _sd([d[0] for d in diffs])
    if delta.lo >= -margin:
        outcome = PASS
    elif delta.hi < -margin:
        outcome = FAIL
    else:
        outcome = INCONCLUSIVE
    return Comparison(delta, margin, sd, outcome, rows_needed(sd, margin, confidence) if delta.rows >= 2 else None)


def _sd(values: Sequence[float]) -> float:
    if len(values) < 2:
        return math.nan
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def rows_needed(sd: float, margin: float, confidence: float = DEFAULT_CONFIDENCE, power: float = POWER) -> int:
    """Rows for an equal version to clear `margin` with probability `power`:
    n = ((z_confidence + z_power) * sd / margin)^2, sd being that of the per-row differences."""
    if margin <= 0:
        raise ValueError("margin must be above 0")
    if sd == 0:
        return 2
    return max(2, math.ceil(((z_quantile(confidence) + z_quantile(power)) * sd / margin) ** 2))


@dataclass(frozen=True)
class Plan:
    """What a recorded run's variance says it takes to decide `margin`."""

    rows: int  # rows the run has
    repeats: int  # repeats per row it has
    sd: float  # sd of a row's mean (between rows, at `repeats`)
    rows_needed: int | None
    repeats_needed: int | None  # at the current rows; None: more repeats cannot get there
    margin: float
    confidence: float


def plan(
    clusters: Sequence[Sequence[float]],
    margin: float,
    confidence: float = DEFAULT_CONFIDENCE,
    power: float = POWER,
) -> Plan:
    """Rows (and, with repeats, repeats per row) needed to decide `margin` against an equal version.

    A paired difference of two independent versions has about twice one version's variance, so the
    sd of a difference is taken as sqrt(2) * sd(row means). With K >= 2 repeats, a row mean's variance is
    split into between-row s_b^2 and within-row s_w^2/K; repeats shrink only the second."""
    groups = [list(c) for c in clusters if len(c)]
    rows = len(groups)
    repeats = max((len(g) for g in groups), default=0)
    means = _row_means(groups)
    sd = _sd(means)
    if rows < 2 or math.isnan(sd):
        return Plan(rows, repeats, sd, None, None, margin, confidence)
    needed = rows_needed(math.sqrt(2) * sd, margin, confidence, power)
    more_repeats: int | None = None
    if repeats >= 2:
        within = sum(_sd(g) ** 2 for g in groups if len(g) >= 2) / sum(1 for g in groups if len(g) >= 2)
        between = max(0.0, sd**2 - within / repeats)
        target = rows * (margin / (z_quantile(confidence) + z_quantile(power))) ** 2 / 2
        if between < target:
            more_repeats = max(1, math.ceil(within / (target - between))) if within > 0 else repeats
    return Plan(rows, repeats, sd, needed, more_repeats, margin, confidence)
