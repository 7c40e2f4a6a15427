"""The gate's error rates, measured: a sampled loopback model whose per-row truth is known (each row's
chance of a passing answer is fixed per version, every call draws afresh), many trials through the gate's
own `decide`, and the CLI for what a user reads."""

from __future__ import annotations

import random
import subprocess

from plg.gate.decision import decide
from plg.registry.versions import Registry
from tests.conftest import GitRepo, run_cli
from tests.loopback_llm import LoopbackLLM

PROMPT = """---
model: openai/fake-model
inputs:
  id: string
  p1: string
  p2: string
---
user:
Row {{{{ id }}}}: answer yes or no ({column}). chance={{{{ {column} }}}}
"""

PIPELINE = """prompt: noisy
dataset: rows.csv
concurrency: 16
scorers:
  - type: contains
    value: "yes"
gate:
  production:
    max_regression: {margin}
{extra}"""


def noisy_repo(repo: GitRepo, truths: list[tuple[float, float]], margin: float = 0.10, extra: str = "") -> Registry:
    """v1 answers row i `yes` with chance truths[i][0], v2 with truths[i][1]; v1 holds production."""
    lines = ["id,p1,p2", *(f"r{i},{a:.4f},{b:.4f}" for i, (a, b) in enumerate(truths))]
    repo.write("evals/rows.csv", "\n".join(lines) + "\n")
    repo.write("evals/noisy.yaml", PIPELINE.format(margin=margin, extra=extra))
    repo.write_prompt("noisy", PROMPT.format(column="p1"), "v1")
    assert run_cli("promote", "noisy", "--label", "production").code == 0  # first holder: no regression to test
    repo.write_prompt("noisy", PROMPT.format(column="p2"), "v2")
    return Registry(repo.path)


def _trial(registry: Registry, llm: LoopbackLLM, seed: int):  # type: ignore[no-untyped-def]
    """One promotion decision on fresh draws: notes dropped, responses uncached, a new seed."""
    subprocess.run(["git", "update-ref", "-d", "refs/notes/plg"], cwd=registry.root, check=True)
    llm.sampled(seed)
    candidate = registry.latest("noisy")
    holder = registry.get("noisy", label="production")
    decision = decide(registry, candidate, "production", holder, use_cache=False)
    return next(c for c in decision.checks if c.name == "no regression")


def test_a_true_regression_past_the_margin_passes_at_most_at_the_nominal_rate(
    repo: GitRepo, llm_server: LoopbackLLM
) -> None:
    """v2 is truly 0.15 worse on every row (0.80 -> 0.65), margin 0.10, 40 rows, 24 trials.

    Why these figures are safe: sd of a row's difference is sqrt(.8*.2 + .65*.35) = 0.62, SE 0.098 on 40
    rows; the paired test passes only when the observed Δ is >= -0.10 + 1.685 SE, 2.2 SE above the truth:
    P ~ 0.014 a trial, so 3 or more passes in 24 has probability ~ 0.006. The old rule (mean >= holder -
    0.10) passes when Δ is only 0.5 SE above the truth, ~30% of trials (the issue measured 3 of 10): at
    least 2 of 24 it would have passed (P of fewer ~ 0.002), which is what this test catches."""
    llm_server.sampled(1000)
    registry = noisy_repo(repo, [(0.80, 0.65)] * 40)
    checks = [_trial(registry, llm_server, seed) for seed in range(24)]
    passed = sum(c.passed for c in checks)
    old_rule = sum((c.value or 0) >= -0.10 for c in checks)
    assert passed <= 2, [c.detail for c in checks if c.passed]
    assert old_rule >= 2  # the same draws fool a point comparison
    assert all(c.outcome in ("fail", "inconclusive") for c in checks if not c.passed)


def test_an_equal_version_passes_when_the_rows_suffice(repo: GitRepo, llm_server: LoopbackLLM) -> None:
    """400 rows, each reliably passing or failing (chance 0.95 or 0.05, the same for both versions),
    margin 0.10: sd of a difference 0.31, SE 0.015, so passing needs Δ >= -0.075, 4.8 SE below the true
    Δ of 0: a failure here is a bug, not luck."""
    pick = random.Random(7)
    truths = [(p, p) for p in (pick.choice((0.05, 0.95)) for _ in range(400))]
    llm_server.sampled(2000)
    registry = noisy_repo(repo, truths)
    check = _trial(registry, llm_server, 1)
    assert check.passed and check.outcome == "pass", check
    assert "on 400 paired rows" in check.detail


def test_forty_noisy_rows_cannot_decide_a_tenth_and_say_how_many_would(
    repo: GitRepo, llm_server: LoopbackLLM
) -> None:
    """Every row a coin toss for both versions (true Δ 0): the 90% interval on 40 rows is about ±0.19, far
    wider than the 0.10 margin. (Seeded: this seed's Δ lands inside; P of any seed being decided ~0.2.)"""
    llm_server.sampled(3)
    noisy_repo(repo, [(0.5, 0.5)] * 40)
    result = run_cli("promote", "noisy", "--label", "production")
    assert result.code == 1, result
    text = result.out + result.err
    assert "no regression: inconclusive: Δ " in text and "on 40 paired rows; about " in text, text
    assert "rows would decide a 0.1 margin" in text and "INCONCLUSIVE" in text
    needed = int(text.split("; about ")[1].split(" rows")[0])
    assert 150 <= needed <= 400  # ((1.645 + 0.842) * 0.71 / 0.1)^2 ~ 310 at the true variance
    assert repo.git("rev-parse", "refs/tags/prompts/noisy@production^{}") == repo.git("rev-parse", "HEAD~1")


def test_on_inconclusive_pass_lets_it_through_and_the_history_says_so(
    repo: GitRepo, llm_server: LoopbackLLM
) -> None:
    from plg.registry.labels import label_state

    llm_server.sampled(3)
    registry = noisy_repo(repo, [(0.5, 0.5)] * 40, extra="    on_inconclusive: pass\n")
    result = run_cli("promote", "noisy", "--label", "production")
    assert result.code == 0, result
    assert "inconclusive (let through)" in result.out
    state = label_state(registry, "noisy", "production")
    assert state is not None and state.version == 2
    figure = state.history[-1].figures["no regression"]
    assert figure["outcome"] == "inconclusive" and "on_inconclusive: pass" in figure["detail"]
    lo, hi = figure["interval"]
    assert lo < -0.10 < hi


def test_the_note_keeps_rows_and_an_old_note_without_them_is_run_again(
    repo: GitRepo, llm_server: LoopbackLLM
) -> None:
    import json

    from plg.evals.datasets import Row
    from plg.evals.shards import row_key

    llm_server.sampled(5)
    noisy_repo(repo, [(1.0, 1.0)] * 5)
    note = [json.loads(x) for x in repo.git("notes", "--ref=plg", "show", "HEAD~1").splitlines()]
    per_row = next(n for n in note if n["kind"] == "eval")["per_row"]
    key = row_key(Row(index=0, id="r0", values={"id": "r0", "p1": "1.0000", "p2": "1.0000"}))
    assert per_row[key] == [[1.0, True]] and len(per_row) == 5
    # the holder's note as written before notes kept rows: not evidence to pair with
    stripped = "\n".join(
        json.dumps({k: v for k, v in n.items() if k != "per_row"}) for n in note
    )
    repo.git("notes", "--ref=plg", "add", "-f", "-m", stripped, "HEAD~1")
    result = run_cli("promote", "noisy", "--label", "production", "--dry-run")
    assert result.code == 0 and "on 5 paired rows" in result.out, result
    dry = [json.loads(x) for x in repo.git("notes", "--ref=plg", "show", "HEAD~1").splitlines()]
    assert "per_row" not in next(n for n in dry if n["kind"] == "eval")  # a dry run writes nothing
    assert run_cli("promote", "noisy", "--label", "production").code == 0
    again = [json.loads(x) for x in repo.git("notes", "--ref=plg", "show", "HEAD~1").splitlines()]
    assert next(n for n in again if n["kind"] == "eval")["per_row"] == per_row


def test_repeats_are_independent_draws_cached_per_repeat(repo: GitRepo, llm_server: LoopbackLLM) -> None:
    """`repeats: 3` asks the model three times per row (the cache key holds the repeat), and a second run
    reuses all three answers from the response cache instead of asking again."""
    import json

    llm_server.sampled(11)
    repo.write("evals/rows.csv", "id,p1,p2\n" + "".join(f"r{i},0.5,0.5\n" for i in range(10)))
    repo.write("evals/noisy.yaml", "repeats: 3\n" + PIPELINE.format(margin=0.1, extra=""))
    repo.write_prompt("noisy", PROMPT.format(column="p1"), "v1")
    assert run_cli("eval", "noisy", "--record").code in (0, 1)
    assert llm_server.chat_count() == 30
    note = [json.loads(x) for x in repo.git("notes", "--ref=plg", "show", "HEAD").splitlines()]
    per_row = next(n for n in note if n["kind"] == "eval")["per_row"]
    assert all(len(r) == 3 for r in per_row.values())
    # independent draws: at chance 0.5, ten rows of three identical answers each would be 1 in 4^10
    assert any(len({p for _, p in r}) == 2 for r in per_row.values())
    assert run_cli("eval", "noisy").code in (0, 1)
    assert llm_server.chat_count() == 30


def test_plan_says_how_many_rows_or_repeats_would_decide_a_margin(
    repo: GitRepo, llm_server: LoopbackLLM
) -> None:
    import json
    import math

    from plg.evals.perrow import scores_of
    from plg.evals.stats import rows_needed

    llm_server.sampled(31)
    repo.write("evals/rows.csv", "id,p1,p2\n" + "".join(f"r{i},0.5,0.5\n" for i in range(40)))
    repo.write("evals/noisy.yaml", "repeats: 2\n" + PIPELINE.format(margin=0.1, extra=""))
    repo.write_prompt("noisy", PROMPT.format(column="p1"), "v1")
    result = run_cli("eval", "noisy", "--plan", "--margin", "0.05")
    assert result.code == 0, result
    note = [json.loads(x) for x in repo.git("notes", "--ref=plg", "show", "HEAD").splitlines()]
    rows = [scores_of(r) for r in next(n for n in note if n["kind"] == "eval")["per_row"].values()]
    means = [sum(r) / len(r) for r in rows]
    mean = sum(means) / len(means)
    sd = math.sqrt(sum((m - mean) ** 2 for m in means) / (len(means) - 1))
    expected = rows_needed(math.sqrt(2) * sd, 0.05, 0.95)
    assert "noisy on openai/fake-model: 40 rows x 2 repeat(s)" in result.out, result.out
    assert f"to decide a 0.05 margin at 0.95 confidence and 80% power: about {expected} rows" in result.out
    assert "repeats of these 40 rows" in result.out  # coin-toss rows: repeats alone can get there
    calls = llm_server.chat_count()
    assert run_cli("eval", "noisy", "--plan", "--margin", "0.05").out == result.out
    assert llm_server.chat_count() == calls  # planned from the recorded note, no model call
    assert run_cli("eval", "noisy", "--plan").code == 2


def test_with_confidence_min_score_and_min_pass_rate_use_the_lower_bound(
    repo: GitRepo, llm_server: LoopbackLLM
) -> None:
    """12 of 20 rows always pass, 8 never (no luck involved): the mean 0.60 clears 0.5 as a point, but its
    one-sided 95% lower bound, 0.60 - t(0.95, 19) * 0.112 = 0.41, does not."""
    llm_server.sampled(1)
    truths = "".join(f"r{i},{1.0 if i < 12 else 0.0},0\n" for i in range(20))
    repo.write("evals/rows.csv", "id,p1,p2\n" + truths)
    gate = "gate:\n  production:\n    min_score: 0.5\n    min_pass_rate: 0.5\n"
    repo.write("evals/noisy.yaml", PIPELINE.split("gate:")[0] + gate)
    repo.write_prompt("noisy", PROMPT.format(column="p1"), "v1")
    assert "(gate passed)" in run_cli("promote", "noisy", "--label", "production", "--dry-run").out
    repo.write("evals/noisy.yaml", PIPELINE.split("gate:")[0] + gate + "    confidence: 0.95\n")
    repo.commit("ask for confidence")
    result = run_cli("promote", "noisy", "--label", "production")
    assert result.code == 1, result
    assert "eval score" in result.err and "eval pass rate" in result.err
    assert "0.600 [0.406, 0.794]" in result.out, result.out
    assert "lower bound >= 0.5" in result.out
