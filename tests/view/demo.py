"""A small repository with everything the viewer shows: three versions of a prompt with recorded scores and
`production` moves, a prompt whose template holds markup, a two-model run, and traced requests in the log.

Scores, label moves, the eval run and the requests come from plg itself (the CLI and the SDK over the
offline model). The two-model run is written with the engine's own run writer, so it needs no provider."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from plg.evals.runs import RowRecord, RunHeader, RunWriter, ScoreRecord
from tests.conftest import CAKE_V1, GIT_ENV, git, run_cli

PIPELINE = """prompt: cake
dataset: datasets/cakes.csv
models: [plg/offline]
scorers:
  - type: contains
    value: "{{ cake_type }}"
  - type: llm_judge
    name: sections
    model: plg/offline
    criteria: [Has Overview, Ingredients and Instructions sections]
threshold: {min_score: 0.3}
gate: {production: {min_score: 0.3}}
"""
HOSTILE = """---
description: "<img src=x onerror=window.__pwned=1> shown as text"
model: plg/offline
inputs:
  question: string
---
user:
<script>window.__pwned = 1</script>Answer {{ question }}
"""
MODELS = ("gpt-4o-mini", "claude-3-5-haiku")
TWO_MODEL_RUN = "20261120-100000-abcdef"
KINDS = ["lemon", "carrot", "chocolate", "plum", "apple", "banana"]


@dataclass(frozen=True)
class Demo:
    root: Path
    state: Path

    @property
    def runs_dir(self) -> Path:
        return self.state / "runs"

    @property
    def log_path(self) -> Path:
        return self.state / "requests.db"


@contextmanager
def demo_env(root: Path, state: Path):  # type: ignore[no-untyped-def]
    saved = dict(os.environ)
    os.environ.update(GIT_ENV)
    os.environ.update(
        {
            "PLG_DIR": str(state),
            "PLG_CACHE": str(state / "cache.db"),
            "PLG_LOG": str(state / "requests.db"),
            "PLG_RUNS": str(state / "runs"),
            "HOME": str(root.parent / "_home"),
        }
    )
    cwd = Path.cwd()
    os.chdir(root)
    try:
        yield
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)


def _cli(*args: str) -> str:
    result = run_cli(*args)
    assert result.code == 0, result
    return result.out


def build_demo(base: Path) -> Demo:
    root, state = base / "repo", base / "state"
    root.mkdir(parents=True)
    (base / "_home").mkdir(exist_ok=True)
    with demo_env(root, state):
        git(root, "init", "-q", "-b", "main")
        (root / "prompts").mkdir()
        (root / "evals/datasets").mkdir(parents=True)
        (root / "evals/cake.yaml").write_text(PIPELINE)
        rows = [f"{k},{4 + i}" for i, k in enumerate(KINDS)]
        (root / "evals/datasets/cakes.csv").write_text("cake_type,serving_size\n" + "\n".join(rows) + "\n")
        versions = [
            CAKE_V1,
            CAKE_V1.replace("people.", "people. Start with an Overview."),
            CAKE_V1.replace(
                "people.", "people. Give an Overview, then Ingredients and Instructions sections."
            ),
        ]
        for number, text in enumerate(versions, 1):
            (root / "prompts/cake.prompt").write_text(text)
            git(root, "add", "-A")
            git(root, "commit", "-qm", f"cake v{number}: {'first draft' if number == 1 else 'more structure'}")
            _cli("eval", "cake", "--record")
            if number in (1, 3):
                _cli("promote", "cake", "--label", "production", "--reason", f"release v{number}")
        (root / "prompts/hostile.prompt").write_text(HOSTILE)
        git(root, "add", "-A")
        git(root, "commit", "-qm", "a prompt whose template holds markup")
        _two_model_run(state / "runs")
        _requests(root)
    return Demo(root, state)


def _two_model_run(runs_dir: Path) -> None:
    header = RunHeader(
        run_id=TWO_MODEL_RUN, kind="eval", name="cake", prompt="cake", version=3, commit=None, blob=None,
        datasets=("evals/datasets/cakes.csv",), dataset_hashes=(), pipeline="evals/cake.yaml",
        pipeline_hash=None, models=MODELS, scorers=("contains",), repeats=1,
        started="2026-11-20T10:00:00+00:00", who="Ada Tester", identity="demo",
    )
    writer = RunWriter(runs_dir / f"{TWO_MODEL_RUN}.jsonl", header)
    for i, kind in enumerate(KINDS):
        for model in MODELS:
            failing = model == MODELS[1] and i == 2
            error = "RateLimitError: 429 after 4 attempts" if model == MODELS[1] and i == 4 else None
            output = None if error else (
                f"A {'dense' if failing else kind} cake from {model}: Overview, Ingredients, Instructions."
            )
            score = None if error else (0.0 if failing else 1.0)
            writer.append(
                RowRecord(
                    row_index=i, row_id=str(i), model=model, repeat=0,
                    variables={"cake_type": kind, "serving_size": 4 + i},
                    messages=[{"role": "user", "content": f"Write a recipe for a {kind} cake."}],
                    output=output, error=error, latency_s=0.4, prompt_tokens=12, completion_tokens=40,
                    cost=0.0001, cached=False, attempts=1,
                    scores=() if error else (ScoreRecord("contains", score, not failing, "found" if not failing else "missing"),),
                    score=score, passed=None if error else not failing,
                )
            )
    writer.close()


def _requests(root: Path) -> None:
    from plg import Client

    client = Client(repo=str(root), enable_tracing=True)
    for i, kind in enumerate(KINDS):
        response = client.run(
            prompt_name="cake",
            input_variables={"cake_type": kind, "serving_size": 4 + i},
            prompt_release_label="production",
            tags=["web"] if i % 2 == 0 else ["batch"],
            metadata={"user": "ada" if i < 3 else "bob"},
        )
        client.track.score(response["request_id"], 60 + 5 * i)
    client.run(
        prompt_name="hostile",
        input_variables={"question": "<b>bold?</b>"},
        tags=["web"],
    )
    client.close() if hasattr(client, "close") else None
