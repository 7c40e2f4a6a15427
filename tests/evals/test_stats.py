"""The statistics against values computed by hand and by scipy's own tests (ttest_rel, binomtest)."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sp

from plg.evals.stats import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    clustered_se,
    mean_interval,
    noninferiority,
    pass_rate_interval,
    plan,
    rows_needed,
    wilson,
)


def test_one_repeat_is_the_ordinary_paired_t_interval() -> None:
    cand = [1.0, 0.0, 1.0, 1.0, 0.0, 0.8, 0.3]
    hold = [1.0, 1.0, 1.0, 0.0, 0.0, 0.5, 0.6]
    cmp = noninferiority([[c] for c in cand], [[h] for h in hold], margin=0.1, confidence=0.95)
    # one-sided 95% bounds are the ends of scipy's two-sided 90% paired interval
    ci = sp.ttest_rel(cand, hold).confidence_interval(0.90)
    assert cmp.delta.lo == pytest.approx(ci.low) and cmp.delta.hi == pytest.approx(ci.high)
    assert cmp.delta.mean == pytest.approx(sum(cand) / 7 - sum(hold) / 7)


def test_hand_computed_paired_bound() -> None:
    # diffs 0, -1, 0, 1, 0: mean 0, sd sqrt(0.5), se sqrt(0.5)/sqrt(5); t(0.95, 4) = 2.131847
    cmp = noninferiority([[1], [0], [1], [1], [0]], [[1], [1], [1], [0], [0]], margin=0.1)
    assert cmp.delta.lo == pytest.approx(-2.131847 * math.sqrt(0.5) / math.sqrt(5), abs=1e-6)
    assert cmp.outcome == INCONCLUSIVE and cmp.sd == pytest.approx(math.sqrt(0.5))


def test_repeats_are_one_cluster_not_more_rows() -> None:
    # row means 0.5, 1, 0: sd 0.5, clustered se 0.5/sqrt(3); the naive se over 6 samples would be 0.2236
    mean, se = clustered_se([[1, 0], [1, 1], [0, 0]])
    assert mean == 0.5 and se == pytest.approx(0.5 / math.sqrt(3))
    naive = math.sqrt(sum((x - 0.5) ** 2 for x in [1, 0, 1, 1, 0, 0]) / 5) / math.sqrt(6)
    assert se > naive * 1.2
    # unequal repeats: Var = G/(G-1) * sum_g (sum_k (x - mean))^2 / N^2, by hand
    mean2, se2 = clustered_se([[1.0], [0.0, 0.0], [1.0, 1.0]])
    m = 3 / 5
    spread = (1 - m) ** 2 + (-2 * m) ** 2 + (2 * (1 - m)) ** 2
    assert mean2 == pytest.approx(m) and se2 == pytest.approx(math.sqrt(1.5 * spread / 25))


def test_mean_interval_uses_t_on_rows_and_stays_inside_bounds() -> None:
    values = [0.2, 0.4, 0.9, 0.7, 0.5, 0.6]
    iv = mean_interval([[v] for v in values], 0.975)
    ci = sp.ttest_1samp(values, 0).confidence_interval(0.95)
    assert iv.lo == pytest.approx(ci.low) and iv.hi == pytest.approx(ci.high)
    assert mean_interval([[1.0], [1.0], [0.9]], 0.95).hi == 1.0  # a score never shows above 1


def test_wilson_known_values() -> None:
    lo, hi = wilson(8, 10, 0.975)  # the textbook 95% Wilson interval for 8 of 10
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)
    assert wilson(0, 20, 0.95)[0] == 0.0 and wilson(20, 20, 0.95)[1] == 1.0
    iv = pass_rate_interval([[True]] * 8 + [[False]] * 2, 0.975)
    assert (round(iv.lo, 4), round(iv.hi, 4)) == (0.4902, 0.9433)
    # and scipy's own Wilson interval agrees
    exact = sp.binomtest(8, 10).proportion_ci(0.95, method="wilson")
    assert iv.lo == pytest.approx(exact.low) and iv.hi == pytest.approx(exact.high)


def test_pass_rate_with_repeats_counts_rows_not_samples() -> None:
    rows = [[True, True, True]] * 5 + [[False, False, False]] * 5  # repeats agree: only 10 rows of evidence
    clustered = pass_rate_interval(rows, 0.95)
    as_rows = pass_rate_interval([[True]] * 5 + [[False]] * 5, 0.95)
    assert clustered.lo == pytest.approx(as_rows.lo, abs=0.02)
    naive = wilson(15, 30, 0.95)
    assert clustered.lo < naive[0] - 0.03


def test_three_outcomes() -> None:
    same = [[1.0]] * 30 + [[0.0]] * 10
    assert noninferiority(same, same, 0.05).outcome == PASS  # identical rows: Δ 0 exactly
    worse = noninferiority([[0.0]] * 40, [[1.0]] * 40, 0.1)
    assert worse.outcome == FAIL and worse.delta.hi == -1.0
    cand = [[1.0], [0.0]] * 20
    hold = [[0.0], [1.0]] * 10 + [[1.0], [0.0]] * 10
    noisy = noninferiority(cand, hold, 0.1)
    assert noisy.outcome == INCONCLUSIVE
    assert noisy.rows_needed == rows_needed(noisy.sd, 0.1, 0.95)
    assert noisy.needed_text() == f"about {noisy.rows_needed} rows would decide a 0.1 margin"
    assert "on 40 paired rows" in noisy.text()


def test_rows_needed_is_the_sample_size_formula() -> None:
    # ((z_0.95 + z_0.80) * sd / margin)^2 = ((1.644854 + 0.841621) * 0.5 / 0.1)^2 = 154.56 -> 155
    assert rows_needed(0.5, 0.1, 0.95) == 155
    assert rows_needed(0.5, 0.05, 0.95) == 619  # half the margin, four times the rows
    assert rows_needed(0.0, 0.1) == 2


def test_plan_rows_and_repeats() -> None:
    rows = [[1.0], [0.0]] * 20
    p = plan(rows, 0.1)
    assert p.rows == 40 and p.repeats_needed is None
    assert p.rows_needed == rows_needed(math.sqrt(2) * p.sd, 0.1)
    # each row is a coin toss (no between-row spread): repeats alone can decide
    tossed = [[1.0, 0.0], [0.0, 1.0]] * 20
    p2 = plan(tossed, 0.1)
    assert p2.repeats_needed is not None and p2.repeats_needed > 2


def test_streamed_moments_equal_the_clustered_se() -> None:
    from plg.evals.stats import ClusterMoments

    groups = [[1.0], [0.0, 0.0], [1.0, 1.0], [0.5, 0.25, 1.0]]
    moments = ClusterMoments()
    for g in groups:
        moments.add(sum(g), len(g))
    assert moments.se() == pytest.approx(clustered_se(groups)[1])
    iv = moments.mean_interval(0.95)
    assert iv is not None and iv.lo == pytest.approx(mean_interval(groups, 0.95).lo)
    rates = ClusterMoments()
    for g in [[True]] * 8 + [[False]] * 2:
        rates.add(float(sum(g)), len(g))
    rate = rates.rate_interval(0.975)
    assert rate is not None and (round(rate.lo, 4), round(rate.hi, 4)) == (0.4902, 0.9433)
