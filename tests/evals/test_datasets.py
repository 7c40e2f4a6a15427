"""Datasets as a careless user saves them: every malformed file is one line naming the file and the line
that holds the problem, exit 2, before any row is run; nothing is half-read into a misleading verdict."""

from __future__ import annotations

import json

import pytest

from tests.conftest import GitRepo, commit_topic_eval, run_cli

PIPELINE = """prompt: topic
dataset: DATASET
scorers:
  - type: contains
    value: "{{ topic }}"
threshold: {min_score: 0.5}
"""

MANY = b"topic\n" + b"owls\n" * 3000
JSON_MANY = b'{"topic": "owls"}\n' * 3000

CASES: dict[str, tuple[str, bytes, str]] = {
    # a short record used to run with blank cells (a misleading score), a long one lost its extra cells
    "short record": ("topics.csv", b"topic,expected_output\nowls,x\nbees\n", "line 3: 1 field(s) where the header has 2"),
    "extra cell": ("topics.csv", b"topic\nowls\nbees,wasps\n", "line 3: 2 field(s) where the header has 1"),
    "unclosed quote": ("topics.csv", b'topic\nowls\n"bees\n', "line 3: malformed CSV: a quoted cell is never closed"),
    "duplicate column": ("topics.csv", b"topic,topic\nowls,bees\n", "line 1: column 'topic' appears twice"),
    # the decoder read ahead in blocks, so the line named was wherever that block began
    "latin-1 byte late in a CSV": ("topics.csv", MANY + b"caf\xe9\n", "line 3002: not UTF-8 text"),
    "latin-1 byte late in a JSONL": ("topics.jsonl", JSON_MANY + b'{"topic": "caf\xe9"}\n', "line 3001: not UTF-8"),
    # NUL bytes were read as text
    "NUL byte in a cell": ("topics.csv", b"topic\nowls\nbe\x00es\n", "line 3: contains NUL bytes"),
    "UTF-16 export": ("topics.csv", "topic\nowls\n".encode("utf-16-le"), "line 1: contains NUL bytes"),
    # a 50 MB line was read whole, then judged as a failed row (exit 1)
    "50 MB JSONL line": (
        "topics.jsonl",
        b'{"topic": "owls"}\n' + json.dumps({"topic": "x" * 50_000_000}).encode() + b"\n",
        "line 2: longer than 4,194,304 bytes",
    ),
    "50 MB CSV line": ("topics.csv", b"topic\n" + b"x," * 25_000_000 + b"\n", "line 2: longer than 4,194,304 bytes"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_dataset_is_one_line_naming_the_line(name: str, repo: GitRepo) -> None:
    filename, data, expected = CASES[name]
    commit_topic_eval(repo, PIPELINE.replace("DATASET", filename), "topic\nowls\n")
    (repo.path / "evals" / filename).write_bytes(data)

    result = run_cli("eval", "topic")

    assert result.code == 2, result
    line = result.err.strip().splitlines()[-1]
    assert line.startswith("plg: error: ") and f"evals/{filename}, {expected}" in line, result
    assert "rows/s" not in result.err, "rows were run before the dataset was refused"


def test_a_byte_order_mark_is_not_part_of_the_first_column(repo: GitRepo) -> None:
    commit_topic_eval(repo, PIPELINE.replace("DATASET", "topics.csv"), "topic\nowls\n")
    (repo.path / "evals/topics.csv").write_bytes(b"\xef\xbb\xbftopic\r\nowls\r\nbees\r\n")

    result = run_cli("eval", "topic", "--json")

    assert result.code == 0, result
    assert json.loads(result.out)["summary"][0]["scorers"][0]["mean"] == 1.0


def test_grading_sheet_and_outputs_file_in_latin_1_are_one_line(repo: GitRepo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    commit_topic_eval(repo, PIPELINE.replace("DATASET", "topics.csv"), "id,topic\nowl,owls\n")
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_bytes(b'{"id": "owl", "output": "owls"}\n{"id": "owl", "output": "caf\xe9"}\n')

    scored = run_cli("eval", "topic", "--outputs", str(outputs))

    assert scored.code == 2 and f"plg: error: {outputs}, line 2: not UTF-8 text" in scored.err, scored
    outputs.write_bytes(b"[" * 100_000 + b"]" * 100_000 + b"\n")  # before: an internal error
    nested = run_cli("eval", "topic", "--outputs", str(outputs))
    assert nested.code == 2 and f"{outputs}, line 1: not valid JSON (nested too deeply)" in nested.err, nested
    run_id = json.loads(run_cli("eval", "topic", "--json").out)["run_id"]
    sheet = tmp_path / "sheet.csv"
    sheet.write_bytes(b"row,model,scorer,grade\n1,plg/offline,taste,caf\xe9\n")

    graded = run_cli("runs", "grades", "import", run_id, str(sheet))

    assert graded.code == 2 and f"plg: error: {sheet}, line 2: not UTF-8 text" in graded.err, graded


def test_a_csv_with_bare_carriage_returns_reads_like_any_other(repo: GitRepo) -> None:
    """Excel for Mac's "CSV (Mac)" ends lines in a bare \\r. Reading lines as bytes (to name the line of a
    bad byte) had made it one malformed line."""
    commit_topic_eval(repo, PIPELINE.replace("DATASET", "topics.csv"), "topic\nowls\n")
    (repo.path / "evals/topics.csv").write_bytes(b'topic\rowls\r"bees,\rwasps"\r')

    result = run_cli("eval", "topic", "--json")

    assert result.code == 0, result
    assert json.loads(result.out)["summary"][0]["rows"] == 2
    (repo.path / "evals/topics.csv").write_bytes(b"topic\rowls\rcaf\xe9\r")
    assert "topics.csv, line 3: not UTF-8 text" in run_cli("eval", "topic").err


COUNTED = """---
model: plg/offline
inputs:
  topic: string
  count:
    type: integer
    default: 3
---
user:
Give {{ count * 2 }} facts about {{ topic }}.
"""


def _counted(repo: GitRepo, csv_text: str) -> None:
    repo.write("prompts/topic.prompt", COUNTED)
    repo.write("evals/topic.yaml", PIPELINE.replace("DATASET", "topics.csv"))
    repo.write("evals/topics.csv", csv_text)
    repo.commit("counted topic")


def test_an_empty_cell_for_an_input_with_a_default_takes_the_default(repo: GitRepo) -> None:
    """An empty `count` cell had failed its row ("should be integer, got ''") instead of taking 3."""
    _counted(repo, "topic,count\nowls,\nbees,5\n")

    result = run_cli("eval", "topic", "--json")

    assert result.code == 0, result
    summary = json.loads(result.out)["summary"][0]
    assert summary["errors"] == 0 and summary["score"] == 1.0, summary
    assert "Give 6 facts about owls." in run_cli("runs", "show", json.loads(result.out)["run_id"], "--row", "1").out


def test_a_mistyped_cell_is_refused_before_the_run_like_a_missing_column(repo: GitRepo) -> None:
    """A cell that is not of its input's type had failed row by row after the others called the model."""
    _counted(repo, "topic,count\nowls,2\nbees,many\nants,lots\n")

    result = run_cli("eval", "topic")

    assert result.code == 2, result
    assert "column 'count' should be integer (as topic declares) in rows 2 ('many'), 3 ('lots')" in result.err
    assert "rows run" not in result.out
    assert run_cli("runs", "--json").out.strip() in ("[]", "")
