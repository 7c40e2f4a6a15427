"""`plg runs diff A B` with a word diff of each changed output, and the one word diff every view shares."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from plg.evals.compare import marked, sides, word_diff, word_segments
from tests.conftest import GitRepo, commit_topic_eval, run_cli


@pytest.fixture
def topics(repo: GitRepo) -> GitRepo:
    pipeline = "prompt: topic\ndataset: topics.csv\nscorers:\n  - type: contains\n    value: '{{ topic }}'\n"
    return commit_topic_eval(repo, pipeline, "id,topic\nowl,owls\nbee,bees\n")


def _scored(tmp_path: Path, name: str, outputs: dict[str, str]) -> str:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in outputs.items()))
    result = run_cli("eval", "topic", "--outputs", str(path), "--json")
    assert result.code in (0, 1), result
    return str(json.loads(result.out)["run_id"])


def test_diff_prints_the_words_that_changed(topics: GitRepo, tmp_path: Path) -> None:
    a = _scored(tmp_path, "a", {"owl": "Owls hunt at night in quiet flight.", "bee": "Bees make honey."})
    b = _scored(tmp_path, "b", {"owl": "Owls hunt at dusk in quiet flight.", "bee": "Bees make honey."})
    result = run_cli("runs", "diff", a, b)
    assert result.code == 0, result
    assert "1 outputs changed" in result.out
    assert "row 1 (id owl)" in result.out and "row 2 (id bee)" not in result.out
    assert "Owls hunt at [-night-]{+dusk+} in quiet flight." in result.out
    assert "\x1b[" not in result.out  # not a terminal: plain markers, no colour codes
    as_json = json.loads(run_cli("runs", "diff", a, b, "--json").out)
    assert as_json["rows"][0]["word_diff"] == "Owls hunt at [-night-]{+dusk+} in quiet flight."


def test_long_outputs_are_shortened_unless_full(topics: GitRepo, tmp_path: Path) -> None:
    words = [f"word{i}" for i in range(400)]
    old = " ".join(words)
    new = " ".join(w if w != "word200" else "CHANGED" for w in words)
    a = _scored(tmp_path, "a", {"owl": old, "bee": "Bees."})
    b = _scored(tmp_path, "b", {"owl": new, "bee": "Bees."})
    short = run_cli("runs", "diff", a, b).out
    assert "[-word200-]{+CHANGED+}" in short
    assert "word199 [-word200-]{+CHANGED+} word201" in short
    assert "word0 " not in short and "word399" not in short and "…" in short  # only the change's context
    full = run_cli("runs", "diff", a, b, "--full").out
    assert f"{' '.join(words[:200])} [-word200-]{{+CHANGED+}} {' '.join(words[201:])}" in full
    assert "…" not in full


def test_one_word_diff_serves_every_view() -> None:
    segments = word_segments("the quick brown fox", "the slow brown fox jumps")
    assert marked(segments) == "the [-quick-]{+slow+} brown fox{+ jumps+}"
    left, right = sides(segments)  # the viewer's two columns give the texts back exactly
    assert "".join(s.text for s in left) == "the quick brown fox"
    assert "".join(s.text for s in right) == "the slow brown fox jumps"
    assert word_diff("a  b\nc", "a b c") == "a b c"  # the backtest's one-line diff ignores spacing
    started = time.perf_counter()
    assert len(word_diff("x " * 2000, "y " * 2000)) < 700
    assert time.perf_counter() - started < 5  # matching at every space took minutes
