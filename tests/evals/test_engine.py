from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CAKE_V1, GitRepo, run_cli
from tests.loopback_llm import LoopbackLLM

ISSUE_PIPELINE = """prompt: cake
dataset: datasets/cakes.csv
models: [openai/fake-model]
concurrency: 8
scorers:
  - type: contains
    value: "{{ cake_type }}"
  - type: llm_judge
    name: sections
    model: openai/fake-model
    criteria:
      - Has Overview, Ingredients and Instructions sections
      - Gives metric and US units
threshold:
  min_score: 0.5
"""


def write_cakes(repo: GitRepo, rows: int = 4) -> None:
    kinds = ["lemon", "carrot", "chocolate", "plum", "apple", "banana", "ginger", "coffee"]
    lines = ["cake_type,serving_size,expected_output"]
    for i in range(rows):
        kind = kinds[i % len(kinds)] + ("" if i < len(kinds) else f" {i}")
        lines.append(f"{kind},{4 + i % 5},Overview of a {kind} cake. Ingredients. Instructions.")
    repo.write("evals/datasets/cakes.csv", "\n".join(lines) + "\n")



def test_issue_pipeline_runs_against_the_endpoint(cake_eval: GitRepo, llm_server: LoopbackLLM) -> None:
    result = run_cli("eval", "cake", "--json")
    assert result.code == 0, result
    summary = json.loads(result.out)["summary"][0]
    assert summary["model"] == "openai/fake-model" and summary["rows"] == 4 and summary["errors"] == 0
    assert {s["name"] for s in summary["scorers"]} == {"contains", "sections"}
    assert llm_server.chat_count() == 8  # one generation and one judge call per row
    judged = [r for r in llm_server.requests if "grading an AI response" in r["messages"][0]["content"]]
    assert len(judged) == 4


def test_threshold_failure_exits_1(cake_eval: GitRepo, llm_server: LoopbackLLM) -> None:
    cake_eval.write("evals/cake.yaml", ISSUE_PIPELINE.replace("min_score: 0.5", "min_score: 0.99"))
    result = run_cli("eval", "cake")
    assert result.code == 1
    assert "min_score" in result.err and "< 0.99" in result.err
    assert "threshold min_score >= 0.99" in result.out


def test_model_comparison_side_by_side(cake_eval: GitRepo, llm_server: LoopbackLLM) -> None:
    result = run_cli("eval", "cake", "--model", "openai/fake-model", "--model", "plg/offline", "--json")
    assert result.code == 0, result
    models = [s["model"] for s in json.loads(result.out)["summary"]]
    assert models == ["openai/fake-model", "plg/offline"]
    table = run_cli("eval", "cake", "--model", "openai/fake-model", "--model", "plg/offline")
    assert "openai/fake-model" in table.out and "plg/offline" in table.out


def test_missing_column_refused_before_any_call(cake_eval: GitRepo, llm_server: LoopbackLLM) -> None:
    cake_eval.write("evals/datasets/cakes.csv", "serving_size\n4\n6\n")
    result = run_cli("eval", "cake")
    assert result.code == 2
    assert "column 'cake_type' missing in rows 1, 2" in result.err
    assert llm_server.count == 0


def test_bad_pipeline_key_is_named(cake_eval: GitRepo) -> None:
    cake_eval.write("evals/cake.yaml", ISSUE_PIPELINE.replace("threshold:", "thresold:"))
    result = run_cli("eval", "cake")
    assert result.code == 2 and "unknown key 'thresold'" in result.err


def test_provider_failure_is_a_row_error_not_a_crash(cake_eval: GitRepo, llm_server: LoopbackLLM) -> None:
    cake_eval.write("evals/cake.yaml", ISSUE_PIPELINE.replace("concurrency: 8", "concurrency: 1\ntimeout: 2"))
    llm_server.fail_next(400)
    result = run_cli("eval", "cake", "--json")
    summary = json.loads(result.out)["summary"][0]
    assert summary["errors"] == 1 and summary["rows"] == 4


def test_outputs_in_every_format(cake_eval: GitRepo, llm_server: LoopbackLLM, tmp_path: Path) -> None:
    for suffix in (".json", ".jsonl", ".csv", ".md", ".xml"):
        target = tmp_path / f"out{suffix}"
        assert run_cli("eval", "cake", "-o", str(target)).code == 0
        assert target.stat().st_size > 0
    assert len(json.loads((tmp_path / "out.json").read_text())["rows"]) == 4
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 4
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert len(rows) == 4 and "score:contains" in rows[0]
    assert "| openai/fake-model |" in (tmp_path / "out.md").read_text()
    import xml.etree.ElementTree as ET

    suite = ET.parse(tmp_path / "out.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "8"


def test_cache_makes_second_run_free_and_no_cache_calls_again(
    cake_eval: GitRepo, llm_server: LoopbackLLM
) -> None:
    assert run_cli("eval", "cake").code == 0
    calls = llm_server.chat_count()
    assert run_cli("eval", "cake").code == 0
    assert llm_server.chat_count() == calls
    assert run_cli("eval", "cake", "--no-cache").code == 0
    assert llm_server.chat_count() == 2 * calls


def test_record_then_reuse_then_force(cake_eval: GitRepo, llm_server: LoopbackLLM) -> None:
    assert run_cli("eval", "cake", "--record", "--no-cache").code == 0
    calls = llm_server.chat_count()
    note = cake_eval.git("notes", "--ref=plg", "show", "HEAD")
    recorded = json.loads(note.splitlines()[0])
    assert recorded["prompt"] == "cake" and recorded["version"] == 1 and recorded["rows"] == 4
    again = run_cli("eval", "cake", "--record", "--no-cache")
    assert again.code == 0 and "no model called" in again.out and llm_server.chat_count() == calls
    assert run_cli("eval", "cake", "--record", "--force", "--no-cache").code == 0
    assert llm_server.chat_count() == 2 * calls
    assert len(cake_eval.git("notes", "--ref=plg", "show", "HEAD").splitlines()) == 1
    log = json.loads(run_cli("log", "cake", "--json").out)
    assert log[0]["score"] is not None
    scores = run_cli("scores", "cake@1")
    assert "openai/fake-model" in scores.out and "contains" in scores.out


def test_changed_dataset_is_a_new_identity(cake_eval: GitRepo, llm_server: LoopbackLLM) -> None:
    assert run_cli("eval", "cake", "--record").code == 0
    write_cakes(cake_eval, rows=5)
    result = run_cli("eval", "cake", "--record")
    assert "no model called" not in result.out
    assert len(cake_eval.git("notes", "--ref=plg", "show", "HEAD").splitlines()) == 2


def test_record_refuses_uncommitted_prompt(cake_eval: GitRepo) -> None:
    cake_eval.write("prompts/cake.prompt", CAKE_V1 + "\nBe brief.")
    result = run_cli("eval", "cake", "--record")
    assert result.code == 1 and "needs a committed version" in result.err


def test_batch_writes_inputs_and_one_column_per_model(
    cake_eval: GitRepo, llm_server: LoopbackLLM, tmp_path: Path
) -> None:
    out = tmp_path / "batch.csv"
    result = run_cli(
        "batch",
        "cake",
        "--dataset",
        "evals/datasets/cakes.csv",
        "-o",
        str(out),
        "--model",
        "openai/fake-model",
        "--model",
        "plg/offline",
    )
    assert result.code == 0, result
    rows = list(csv.DictReader(out.open()))
    assert [r["cake_type"] for r in rows] == ["lemon", "carrot", "chocolate", "plum"]
    assert all(r["output:openai/fake-model"] and r["output:plg/offline"] for r in rows)
    assert llm_server.chat_count() == 4


def test_resume_after_sigkill_repeats_no_finished_row(cake_eval: GitRepo, tmp_path: Path) -> None:
    write_cakes(cake_eval, rows=12)
    cake_eval.write("evals/cake.yaml", ISSUE_PIPELINE.replace("concurrency: 8", "concurrency: 2"))
    cake_eval.commit("more rows")
    with LoopbackLLM(latency=0.2) as server:
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-abcdef123456", "OPENAI_API_BASE": server.base_url}
        cmd = [sys.executable, "-m", "plg.cli", "eval", "cake", "--no-cache"]
        proc = subprocess.Popen(
            cmd, cwd=cake_eval.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        runs = Path(os.environ["PLG_RUNS"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            files = list(runs.glob("*.jsonl")) if runs.is_dir() else []
            if files and len(files[0].read_text().splitlines()) >= 5:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        run_file = next(runs.glob("*.jsonl"))
        finished = len(run_file.read_text().splitlines()) - 1
        assert 4 <= finished < 12
        calls_before = server.chat_count()
        resumed = subprocess.run(
            [*cmd, "--resume", run_file.stem], cwd=cake_eval.path, env=env, capture_output=True, text=True
        )
        assert resumed.returncode == 0, resumed.stderr
        new_calls = server.chat_count() - calls_before
        assert new_calls <= 2 * (12 - finished)  # generation + judge for unfinished rows only
        assert f"{finished} reused" in resumed.stdout
        generated = [
            r["messages"][-1]["content"]
            for r in server.requests
            if "grading" not in r["messages"][0]["content"]
        ]
        finished_prompts = [
            json.loads(line)["messages"][-1]["content"]
            for line in run_file.read_text().splitlines()[1 : finished + 1]
        ]
        for prompt in finished_prompts:
            assert generated.count(prompt) == 1


def test_completion_workflow_runs_messages_directly(repo: GitRepo, llm_server: LoopbackLLM) -> None:
    repo.write(
        "evals/chat.yaml",
        "dataset: chats.jsonl\nmodels: [openai/fake-model]\n"
        "scorers:\n  - type: contains\n    value: '{{ topic }}'\n",
    )
    rows = [
        {"topic": t, "messages": [{"role": "user", "content": f"tell me about {t}"}]}
        for t in ("owls", "bees")
    ]
    repo.write("evals/chats.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    result = run_cli("eval", "--pipeline", "evals/chat.yaml", "--json")
    assert result.code == 0, result
    assert json.loads(result.out)["summary"][0]["scorers"][0]["mean"] == 1.0
    assert llm_server.chat_count() == 2


def test_human_grades_export_import_merge(
    cake_eval: GitRepo, llm_server: LoopbackLLM, tmp_path: Path
) -> None:
    cake_eval.write(
        "evals/cake.yaml",
        ISSUE_PIPELINE.replace(
            "threshold:", "  - type: human\n    name: taste\n    scale: [1, 5]\nthreshold:"
        ),
    )
    result = json.loads(run_cli("eval", "cake", "--json").out)
    run_id = result["run_id"]
    taste = next(s for s in result["summary"][0]["scorers"] if s["name"] == "taste")
    assert taste["pending"] == 4 and taste["mean"] is None
    sheet = tmp_path / "sheet.csv"
    assert run_cli("runs", "grades", "export", run_id, "-o", str(sheet)).code == 0
    lines = list(csv.DictReader(sheet.open()))
    assert len(lines) == 4 and lines[0]["output"]
    for i, line in enumerate(lines):
        line["grade"] = str(1 + i)
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(lines[0]))
        writer.writeheader()
        writer.writerows(lines)
    imported = run_cli("runs", "grades", "import", run_id, str(sheet))
    assert imported.code == 0 and "merged 4" in imported.out
    listed = json.loads(run_cli("runs", "--json").out)
    merged = next(r for r in listed if r["run"]["run_id"] == run_id)
    taste = next(s for s in merged["summary"][0]["scorers"] if s["name"] == "taste")
    assert taste["pending"] == 0 and taste["mean"] == pytest.approx((0 + 0.25 + 0.5 + 0.75) / 4)
    shown = run_cli("runs", "show", run_id, "--row", "2")
    assert "taste: 0.250" in shown.out


def test_the_plg_command_prints_all_and_keeps_its_exit_code_after_calling_a_model(
    cake_eval: GitRepo, llm_server: LoopbackLLM
) -> None:
    """The installed command leaves without tearing litellm down: its output, piped, is whole and its exit
    code is the command's (0 on a pass, 1 below a bar)."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "plg.cli", "eval", "cake", "--json"]
    passed = subprocess.run(command, cwd=cake_eval.path, capture_output=True, text=True, timeout=120)
    assert passed.returncode == 0, passed.stderr
    assert json.loads(passed.stdout)["summary"][0]["rows"] == 4
    cake_eval.write("evals/cake.yaml", ISSUE_PIPELINE.replace("min_score: 0.5", "min_score: 0.99"))
    failed = subprocess.run(command[:-1], cwd=cake_eval.path, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1, failed.stderr
    assert "threshold min_score >= 0.99" in failed.stdout and "< 0.99" in failed.stderr
