"""The CI report carries the gate's statistics: an inconclusive check says so, with its bounds and the
rows that would decide, in the failure line and the PR comment; and the report still refuses junk."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from plg.ci.report import Check, CiReport, Figures, PromptResult, render_markdown

DETAIL = "inconclusive: Δ -0.075 [-0.168, +0.018] on 40 paired rows; about 76 rows would decide a 0.1 margin"


def _report(passed: bool) -> CiReport:
    check = Check(
        name="no regression", value=-0.075, bound="lower bound >= -0.1 (vs v1)", passed=passed,
        detail=DETAIL, outcome="inconclusive", interval=[-0.168, 0.018],
    )
    head = Figures(model="m", score=0.5, pass_rate=0.5, rows=40, score_interval=[0.4, 0.6], pass_interval=[0.38, 0.62])
    prompt = PromptResult(
        name="noisy", status="modified", file="prompts/noisy.prompt", head=[head], gate_label="production",
        gate=[check], gate_enforced=True,
    )
    return CiReport(event="local", head_sha="a" * 40, prompts=[prompt])


def test_an_inconclusive_gate_says_why_and_how_many_rows() -> None:
    report = _report(passed=False)
    assert report.prompts[0].failure() == f"production gate would fail: no regression {DETAIL}"
    body = render_markdown(report)
    assert "| -0.075 \\[-0.168, 0.018\\] |" in body and "❌ inconclusive (Δ -0.075" in body
    assert "0.500 [0.400, 0.600]" in body
    assert "50% [38–62%]" in body
    let_through = render_markdown(_report(passed=True))
    assert "⚠️ inconclusive, let through" in let_through


def test_interval_fields_are_validated_like_everything_else() -> None:
    with pytest.raises(ValidationError):
        Figures(model="m", score_interval=[0.1, 0.2, 0.3])
    with pytest.raises(ValidationError):
        Check(name="x", bound="y", passed=True, outcome="maybe")


def test_the_pr_comment_shows_the_backtests_similarity_and_changed_share_with_their_bounds() -> None:
    from plg.ci.report import Backtest

    report = _report(passed=True)
    backtest = Backtest(
        rows=4, errors=0, similarity_mean=0.75, changed_fraction=0.5, exact_rate=0.0,
        similarity_interval=[0.41, 1.0], changed_interval=[0.182, 0.818],
    )
    prompt = report.prompts[0].model_copy(update={"backtest": backtest})
    body = render_markdown(report.model_copy(update={"prompts": [prompt]}))
    assert "similarity 0.750 [0.410, 1.000], changed 50% [18–82%]" in body, body
