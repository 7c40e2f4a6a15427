"""`plg runs` with a damaged run file beside good ones (a crash between creating the file and writing its
header, a stray file): the good runs are listed and the damaged one is named once. Before: exit 2, and
no run could be listed until the file was found and deleted by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import GitRepo, commit_topic_eval, run_cli

PIPELINE = """prompt: topic
dataset: topics.csv
scorers:
  - type: contains
    value: "{{ topic }}"
"""


def test_a_damaged_run_file_does_not_hide_the_others(repo: GitRepo) -> None:
    commit_topic_eval(repo, PIPELINE, "topic\nowls\n")
    run_id = json.loads(run_cli("eval", "topic", "--json").out)["run_id"]
    runs = Path(os.environ["PLG_RUNS"])
    (runs / "20990101-000000-aaaaaa.jsonl").write_text("")
    (runs / "20990101-000000-bbbbbb.jsonl").write_text("{torn")

    result = run_cli("runs")

    assert result.code == 0, result
    assert run_id in result.out
    for damaged in ("aaaaaa", "bbbbbb"):
        assert result.err.count(f"20990101-000000-{damaged}.jsonl: not a plg run file (skipped)") == 1
    assert [p.name for p in runs.iterdir() if p.name.startswith(".")] == [], "a staging file was left behind"
