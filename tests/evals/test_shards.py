"""Sharded evals: three shards merged equal the unsharded run, against the loopback model server, with no
row run twice; the merge refuses anything that would make it differ; only the merge records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import GitRepo, run_cli
from tests.evals.test_engine import write_cakes
from tests.loopback_llm import LoopbackLLM

MEASURED_ROW = {"latency_s", "spans", "trace"}  # wall-clock timings and trace ids: measured, never equal twice
MEASURED_SUMMARY = {"p50_latency", "p95_latency"}


def run_file(run_id: str) -> Path:
    from plg import config

    return config.runs_dir(Path.cwd()) / f"{run_id}.jsonl"


def rows_of(run_id: str) -> list[dict]:  # type: ignore[type-arg]
    lines = [json.loads(line) for line in run_file(run_id).read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in MEASURED_ROW} for r in lines if r.get("type") == "row"]


def header_of(run_id: str) -> dict:  # type: ignore[type-arg]
    return json.loads(run_file(run_id).read_text().splitlines()[0])


def summary_of(out: str) -> list[dict]:  # type: ignore[type-arg]
    return [{k: v for k, v in s.items() if k not in MEASURED_SUMMARY} for s in json.loads(out)["summary"]]


def eval_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = run_cli("eval", "cake", "--no-cache", "--json", *args)
    assert result.code == 0, result
    return json.loads(result.out)


@pytest.fixture
def cakes(cake_eval: GitRepo) -> GitRepo:
    write_cakes(cake_eval, rows=12)
    cake_eval.commit("twelve cakes")
    return cake_eval


def shard_runs(count: int = 3) -> list[str]:
    return [eval_json("--shard", f"{i}/{count}")["run_id"] for i in range(1, count + 1)]


def test_three_shards_merged_equal_the_unsharded_run(cakes: GitRepo, llm_server: LoopbackLLM) -> None:
    whole = run_cli("eval", "cake", "--no-cache", "--json")
    assert whole.code == 0, whole
    whole_calls = llm_server.chat_count()
    assert whole_calls == 24  # a generation and a judge call for each of 12 rows
    llm_server.reset()

    shards = shard_runs()
    assert llm_server.chat_count() == whole_calls  # every row ran exactly once across the shards
    slices = [{r["row_index"] for r in rows_of(s)} for s in shards]
    assert sum(len(s) for s in slices) == 12 and set().union(*slices) == set(range(12))
    assert [header_of(s)["shard"] for s in shards] == ["1/3", "2/3", "3/3"]
    assert {header_of(s)["identity"] for s in shards} == {header_of(json.loads(whole.out)["run_id"])["identity"]}
    assert json.loads(run_cli("scores", "cake", "--json").out) == []  # a shard records nothing
    llm_server.reset()

    merged = run_cli("runs", "merge", *reversed(shards), "--record", "--json")
    assert merged.code == 0, merged
    assert llm_server.chat_count() == 0
    merged_id = json.loads(merged.out)["run_id"]
    assert summary_of(merged.out) == summary_of(whole.out)
    whole_rows = rows_of(json.loads(whole.out)["run_id"])
    merged_rows = rows_of(merged_id)
    assert [r["row_index"] for r in merged_rows] == list(range(12))  # dataset order
    assert merged_rows == sorted(whole_rows, key=lambda r: r["row_index"])
    assert header_of(merged_id)["merged_from"] == shards and header_of(merged_id)["shard"] is None

    recorded = json.loads(run_cli("scores", "cake", "--json").out)
    assert [r["run_id"] for r in recorded] == [merged_id]
    assert recorded[0]["score"] == json.loads(whole.out)["summary"][0]["score"] and recorded[0]["rows"] == 12
    again = run_cli("eval", "cake", "--record")
    assert again.code == 0 and "this exact eval is recorded" in again.out and llm_server.chat_count() == 0


def test_eval_merge_and_the_shard_of_a_row_survive_appended_rows(cakes: GitRepo, llm_server: LoopbackLLM) -> None:
    before = [r["variables"]["cake_type"] for r in rows_of(eval_json("--shard", "2/3")["run_id"])]
    write_cakes(cakes, rows=30)  # the first twelve rows unchanged, eighteen appended
    cakes.commit("more cakes")
    shards = shard_runs()
    after = [r["variables"]["cake_type"] for r in rows_of(shards[1])]
    assert before and set(before) <= set(after)

    merged = run_cli("eval", "cake", "--json", *(arg for s in shards for arg in ("--merge", s)))
    assert merged.code == 0, merged
    assert json.loads(merged.out)["summary"][0]["rows"] == 30
    assert [r["row_index"] for r in rows_of(json.loads(merged.out)["run_id"])] == list(range(30))


def refusal(*args: str) -> str:
    result = run_cli(*args)
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


def test_merge_refuses_what_would_differ_from_the_whole_eval(cakes: GitRepo, llm_server: LoopbackLLM) -> None:
    one, two, three = shard_runs()
    assert "shard 3/3 missing" in refusal("runs", "merge", one, two)
    assert "given twice" in refusal("runs", "merge", one, two, two, three)
    other = eval_json("--shard", "3/3", "--model", "plg/offline")["run_id"]
    assert "different evals" in refusal("runs", "merge", one, two, other)
    four = eval_json("--shard", "1/4")["run_id"]
    assert "split 3 ways and 4 ways" in refusal("runs", "merge", one, two, three, four)
    whole = eval_json()["run_id"]
    assert "is not a shard" in refusal("runs", "merge", whole, one)
    assert "never records" in refusal("eval", "cake", "--shard", "1/3", "--record")
    assert "expected I/N" in refusal("eval", "cake", "--shard", "4/3")

    lines = run_file(two).read_text().splitlines()  # a shard killed before it finished
    run_file(two).write_text("\n".join(lines[:-2]) + "\n")
    assert "unfinished" in refusal("runs", "merge", one, two, three)
    assert "resume it with --shard 2/3" in refusal("eval", "cake", "--resume", two)
    llm_server.reset()
    resumed = eval_json("--resume", two, "--shard", "2/3")
    assert resumed["run_id"] == two and llm_server.chat_count() == 2  # only the lost row ran again
    assert run_cli("runs", "merge", one, two, three).code == 0

    cakes.write("evals/datasets/cakes.csv", cakes.path.joinpath("evals/datasets/cakes.csv").read_text() + "fig,3,x\n")
    assert "different eval" in refusal("runs", "merge", one, two, three)  # the data changed since
