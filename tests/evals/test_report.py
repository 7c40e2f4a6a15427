"""`-o` paths are checked before the work that fills them: a format plg cannot write, or a file standing
where a folder must go, is exit 2 with one line before any row runs, and nothing is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TOPIC_PIPELINE, GitRepo, commit_topic_eval, run_cli

PIPELINE = TOPIC_PIPELINE


@pytest.mark.parametrize(
    ("command", "target", "expected"),
    [
        (("eval", "topic", "--record"), "out.exe", "unknown format (use .json, .jsonl, .csv, .md, .xml)"),
        (("eval", "topic", "--record"), "afile/out.json", "afile is a file, not a directory"),
        (("batch", "topic", "--dataset", "evals/topics.csv"), "out.json", "unknown format (use .csv, .jsonl)"),
        (("batch", "topic", "--dataset", "evals/topics.csv"), "afile/out.csv", "afile is a file, not a directory"),
        (("backtest", "topic"), "out.txt", "unknown format (use .json, .md)"),
        (("backtest", "topic"), "afile/out.md", "afile is a file, not a directory"),
    ],
)
def test_an_output_path_that_cannot_be_written_is_refused_before_any_row_runs(
    command: tuple[str, ...], target: str, expected: str, repo: GitRepo, tmp_path: Path
) -> None:
    """Before: the eval ran every row and recorded its score in refs/notes/plg, then exited 2 (an unknown
    format) or with an internal error (a file where the folder should be)."""
    commit_topic_eval(repo, PIPELINE, "topic\nowls\n")
    repo.write("evals/history/topic.jsonl", '{"input_variables": {"topic": "owls"}, "output": "Owls."}\n')
    repo.commit("history")
    (tmp_path / "afile").write_text("a file, not a folder")
    output = tmp_path / target

    result = run_cli(*command, "-o", str(output))

    assert result.code == 2, result
    assert result.err == f"plg: error: -o {output}: {expected.replace('afile', str(tmp_path / 'afile'))}\n", result
    assert "rows/s" not in result.err
    assert repo.git("notes", "--ref=plg", "list") == "", "a score was recorded by a command that failed"
    assert not output.exists()


def test_the_headline_pass_rate_says_it_counts_rows_passing_every_scorer(repo: GitRepo, tmp_path: Path) -> None:
    """One strict scorer (an `equals` against a descriptive expected_output) made the headline read
    `pass 0%` beside a passing `contains`, with nothing saying a row passes only when every scorer does
    (issue 28)."""
    pipeline = (
        "prompt: topic\ndataset: topics.csv\nscorers:\n  - type: contains\n    value: \"{{ topic }}\"\n"
        "  - type: equals\n    name: exact\n"
    )
    commit_topic_eval(repo, pipeline, "topic,expected_output\nowls,A short text about owls\n")
    out = tmp_path / "report.md"

    result = run_cli("eval", "topic", "-o", str(out))

    assert result.code == 0, result
    lines = result.out.splitlines()
    headline = next(line for line in lines if line.startswith("plg/offline"))
    assert "(every scorer)" in headline and "0%" in headline, result.out
    assert any(line.split()[:1] == ["contains"] and "100%" in line for line in lines), result.out
    assert any(line.split()[:1] == ["exact"] and "0%" in line for line in lines), result.out
    assert "(every scorer): the weighted mean score, and the rows passing every scorer" in result.out
    assert "rows passing every scorer" in out.read_text()
