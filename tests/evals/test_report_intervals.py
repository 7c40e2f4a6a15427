"""Every mean `plg eval` prints comes with its interval, computed over rows (repeats are one cluster)."""

from __future__ import annotations

import json

from plg.evals.perrow import passes_of, scores_of
from plg.evals.stats import mean_interval, pass_rate_interval
from tests.conftest import GitRepo, run_cli
from tests.gate.test_gate_stats import PIPELINE, PROMPT
from tests.loopback_llm import LoopbackLLM


def test_eval_table_shows_the_interval_of_the_rows_it_scored(repo: GitRepo, llm_server: LoopbackLLM) -> None:
    llm_server.sampled(21)
    repo.write("evals/rows.csv", "id,p1,p2\n" + "".join(f"r{i},0.6,0.6\n" for i in range(30)))
    repo.write("evals/noisy.yaml", "repeats: 2\n" + PIPELINE.format(margin=0.1, extra=""))
    repo.write_prompt("noisy", PROMPT.format(column="p1"), "v1")
    result = run_cli("eval", "noisy", "--record")
    note = [json.loads(x) for x in repo.git("notes", "--ref=plg", "show", "HEAD").splitlines()]
    rows = list(next(n for n in note if n["kind"] == "eval")["per_row"].values())
    score = mean_interval([scores_of(r) for r in rows])
    rate = pass_rate_interval([passes_of(r) for r in rows])
    line = next(x for x in result.out.splitlines() if "(every scorer)" in x)
    assert f"{score.mean:.2f} [{score.lo:.2f}, {score.hi:.2f}]" in line, result.out
    assert f"{rate.mean * 100:.0f}% [{rate.lo * 100:.0f}-{rate.hi * 100:.0f}%]" in line, result.out
    # 60 samples but 30 rows: the interval is a 30-row interval, wider than 60 independent rows would give
    assert score.rows == 30
    scores = run_cli("scores", "noisy@1")
    assert f"{score.mean:.2f} [{score.lo:.2f}, {score.hi:.2f}]" in scores.out, scores.out
    reused = run_cli("eval", "noisy", "--record")
    assert "no model called" in reused.out and f"[{score.lo:.2f}, {score.hi:.2f}]" in reused.out
