"""A corpus of hostile and malformed input. Each case must end with exit 2 and one line on stderr naming the
file or value and what is wrong: no traceback, no `internal error`, nothing written to the repository, and
no file outside the repository read or imported."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CAKE_V1, GitRepo, run_cli

PIPELINE = """prompt: cake
dataset: datasets/cakes.csv
scorers:
  - type: contains
    value: "{{ cake_type }}"
"""
EVIL_CODE = (
    "from pathlib import Path\nPath({marker!r}).write_text('imported')\ndef f(output, row):\n    return 1.0\n"
)


@dataclass
class Case:
    setup: Callable[[GitRepo, Path], list[str]]
    expect: str


def _with_prompt(text: str, *args: str) -> Callable[[GitRepo, Path], list[str]]:
    def setup(repo: GitRepo, outside: Path) -> list[str]:
        repo.write("prompts/cake.prompt", text)
        return list(args)

    return setup


def _with_pipeline(text: str, *args: str) -> Callable[[GitRepo, Path], list[str]]:
    def setup(repo: GitRepo, outside: Path) -> list[str]:
        repo.write("evals/cake.yaml", text.replace("OUTSIDE", str(outside)))
        if args[:1] == ("promote",):
            repo.commit("hostile pipeline")  # the gate reads committed inputs only
        return list(args) or ["eval", "cake"]

    return setup


def _with_dataset(data: bytes, name: str = "cakes.csv") -> Callable[[GitRepo, Path], list[str]]:
    def setup(repo: GitRepo, outside: Path) -> list[str]:
        (repo.path / "evals/datasets" / name).write_bytes(data)
        repo.write("evals/cake.yaml", PIPELINE.replace("cakes.csv", name))
        return ["eval", "cake"]

    return setup


def _symlinked_dataset(repo: GitRepo, outside: Path) -> list[str]:
    (outside / "secret.csv").write_text("cake_type\nstolen\n")
    os.symlink(outside / "secret.csv", repo.path / "evals/datasets/link.csv")
    repo.write("evals/cake.yaml", PIPELINE.replace("cakes.csv", "link.csv"))
    return ["eval", "cake"]


def _evil_scorer(spec: str) -> Callable[[GitRepo, Path], list[str]]:
    def setup(repo: GitRepo, outside: Path) -> list[str]:
        (outside / "evil.py").write_text(EVIL_CODE.format(marker=str(outside / "IMPORTED")))
        relative = os.path.relpath(outside / "evil.py", repo.path / "evals")
        function = spec.replace("REL", relative).replace("ABS", str(outside / "evil.py"))
        repo.write("evals/cake.yaml", PIPELINE + f"  - type: python\n    function: {function}\n")
        return ["eval", "cake"]

    return setup


def _deleted_in_head(repo: GitRepo, outside: Path) -> list[str]:
    repo.git("rm", "-q", "prompts/cake.prompt")
    repo.commit("delete cake")
    return ["render", "cake", "-v", "cake_type=lemon"]


def _committed_bad_name(name: str) -> Callable[[GitRepo, Path], list[str]]:
    def setup(repo: GitRepo, outside: Path) -> list[str]:
        repo.write(f"prompts/{name}.prompt", CAKE_V1)
        repo.commit("odd name")
        return ["render", name, "-v", "cake_type=lemon"]

    return setup


def _not_a_repository(repo: GitRepo, outside: Path) -> list[str]:
    return ["-C", str(outside), "list"]


def _detached_head_bad_ref(repo: GitRepo, outside: Path) -> list[str]:
    repo.git("checkout", "-q", "--detach", "HEAD")
    return ["render", "cake@HEAD~5", "-v", "cake_type=lemon"]


def _args(*args: str) -> Callable[[GitRepo, Path], list[str]]:
    return lambda repo, outside: list(args)


LONG = "a" * 300


def bomb(indent: str) -> str:
    """A "billion laughs": nine levels of aliases, each nine times the one below."""
    lines = [f"{indent}l0: &l0 [" + ",".join(['"xxxxxxxx"'] * 9) + "]"]
    lines += [f"{indent}l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


CASES: dict[str, Case] = {
    # names: one rule everywhere
    "new a..b": Case(_args("new", "a..b"), "'a..b'"),
    "new HEAD": Case(_args("new", "HEAD"), "'HEAD' is reserved"),
    "new 300-char name": Case(_args("new", LONG), "300 characters long"),
    "render 300-char name": Case(_args("render", LONG), "300 characters long"),
    "promote 300-char label": Case(_args("promote", "cake", "--label", "b" * 300), "label 'bbb"),
    "promote label a..b": Case(_args("promote", "cake", "--label", "a..b"), "label 'a..b'"),
    "promote label 3": Case(_args("promote", "cake", "--label", "3"), "label '3' is reserved"),
    "label with newline": Case(_args("promote", "cake", "--label", "a\nb"), "label 'a\\nb'"),
    "committed ünï.prompt": Case(_committed_bad_name("ünï"), "'ünï' is not valid"),
    "committed with space.prompt": Case(_committed_bad_name("with space"), "'with space' is not valid"),
    # prompt files
    "malformed front matter": Case(
        _with_prompt("---\ninputs: [a\n---\nhi", "render", "cake"), "malformed front matter"
    ),
    "YAML alias bomb in front matter": Case(
        _with_prompt("---\nparams:\n" + bomb("  ") + "---\nhi", "render", "cake"),
        "YAML aliases",
    ),
    "YAML alias bomb in a pipeline": Case(
        _with_pipeline(PIPELINE + "params:\n" + bomb("  ")),
        "YAML aliases",
    ),
    "unknown front-matter key": Case(
        _with_prompt("---\ntemprature: 1\n---\nhi", "render", "cake"), "'temprature'"
    ),
    "missing variable": Case(_args("render", "cake"), "undefined variable 'cake_type'"),
    "bad ref": Case(_args("render", "cake@nope"), "cake@nope"),
    "version out of range": Case(_args("render", "cake@99"), "cake@99"),
    "deleted in HEAD": Case(_deleted_in_head, "prompts/cake.prompt is not in the working tree"),
    "not a git repository": Case(_not_a_repository, "not inside a git repository"),
    "detached HEAD, bad ref": Case(_detached_head_bad_ref, "HEAD~5"),
    # runaway templates
    "nested constant loops": Case(
        _with_prompt(
            '{% for a in "x"*100000 %}{% for b in "x"*100000 %}{% endfor %}{% endfor %}', "render", "cake"
        ),
        "loop iterations",
    ),
    "constant power": Case(_with_prompt("{{ (9**99999999) > 1 }}", "render", "cake"), "16,384 bits"),
    "center 3e9": Case(_with_prompt("{{ 'a'.center(3000000000)|length }}", "render", "cake"), "1,000,000"),
    "repetition 1e10": Case(_with_prompt("{{ ('x' * 10**10)|length }}", "render", "cake"), "1,000,000"),
    "doubling list": Case(
        _with_prompt(
            "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
            "render",
            "cake",
        ),
        "value size",
    ),
    "recursive macro": Case(
        _with_prompt("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "render", "cake"), "recursion"
    ),
    "call-free loops over input": Case(
        _with_prompt(
            "{% for a in x %}{% for b in x %}{% endfor %}{% endfor %}",
            "render",
            "cake",
            "-v",
            "x=" + "y" * 100_000,
        ),
        "render stopped after 0.3 s",
    ),
    # pipelines and datasets
    "malformed pipeline YAML": Case(_with_pipeline("prompt: cake\ndataset: [a\n"), "malformed YAML"),
    "unknown pipeline key": Case(
        _with_pipeline(PIPELINE + "thresold: {min_score: 1}\n"), "unknown key 'thresold'"
    ),
    "dataset missing a column": Case(_with_dataset(b"serving_size\n4\n"), "column 'cake_type' missing"),
    "binary csv": Case(_with_dataset(bytes(range(256)) * 20), "a binary file"),
    "binary jsonl": Case(_with_dataset(b"\xff\xfe\x00garbage" * 100, "cakes.jsonl"), "a binary file"),
    "latin-1 csv": Case(_with_dataset(b"cake_type\ncaf\xe9\n"), "line 2: not UTF-8"),
    "csv cell over 128 KiB": Case(
        _with_dataset(b"cake_type\n" + b"x" * 200_000 + b"\n"), "longer than 131,072"
    ),
    "dataset by absolute path": Case(
        _with_pipeline(PIPELINE.replace("datasets/cakes.csv", "OUTSIDE/data.csv")), "outside the repository"
    ),
    "dataset by ../": Case(
        _with_pipeline(PIPELINE.replace("datasets/cakes.csv", "../../../../../../etc/passwd")),
        "outside the repository",
    ),
    "dataset symlinked outside": Case(_symlinked_dataset, "outside the repository"),
    "python scorer by ../": Case(_evil_scorer("REL:f"), "outside the repository"),
    "python scorer by absolute path": Case(_evil_scorer("ABS:f"), "outside the repository"),
    "schema file outside": Case(
        _with_pipeline(PIPELINE + "  - type: json\n    schema_file: OUTSIDE/schema.json\n"),
        "outside the repository",
    ),
    "history outside": Case(
        _with_pipeline(
            PIPELINE + "gate:\n  staging:\n    backtest: {history: ../outside.jsonl, min_similarity: 0.1}\n",
            "promote",
            "cake",
            "--label",
            "staging",
        ),
        "outside the repository",
    ),
    "eval key outside": Case(
        _with_prompt(CAKE_V1.replace("---\n", "---\neval: ../outside.yaml\n", 1), "eval", "cake"),
        "outside the repository",
    ),
}


def snapshot(root: Path) -> dict[str, str]:
    """Every file in the work tree and every ref: what a bad input must leave as it found it."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == ".git" or (rel.startswith(".git/") and not rel.startswith(".git/refs")) or path.is_dir():
            continue
        found[rel] = (
            hashlib.sha1(path.read_bytes()).hexdigest() if not path.is_symlink() else os.readlink(path)
        )
    return found


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "data.csv").write_text("cake_type\nstolen\n")
    (folder / "schema.json").write_text("{}")
    (tmp_path / "outside.jsonl").write_text('{"input_variables": {}, "output": "x"}\n')
    (tmp_path / "outside.yaml").write_text(PIPELINE)
    return folder


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_one_clear_line_and_changes_nothing(
    name: str, repo: GitRepo, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("plg.registry.bounds.MAX_RENDER_SECONDS", 0.3)
    repo.write("prompts/cake.prompt", CAKE_V1)
    repo.write("evals/cake.yaml", PIPELINE)
    repo.write("evals/datasets/cakes.csv", "cake_type,serving_size\nlemon,4\n")
    repo.commit("cake")
    case = CASES[name]
    args = case.setup(repo, outside)
    before = snapshot(repo.path)

    result = run_cli(*args)

    assert result.code == 2, result
    line = result.err.strip()
    assert line.startswith("plg: error: ") and "\n" not in line, result
    assert "Traceback" not in result.err and "internal error" not in result.err
    assert case.expect in line, result
    assert snapshot(repo.path) == before
    assert not (outside / "IMPORTED").exists(), "a scorer outside the repository was imported"


def test_list_marks_each_invalid_committed_file_once(repo: GitRepo) -> None:
    for name in ("cake", "ünï", "a@b", "with space"):
        repo.write(f"prompts/{name}.prompt", CAKE_V1)
    repo.commit("odd names")

    result = run_cli("list")

    assert result.code == 0
    rows = {line.split("  ")[0]: line for line in result.out.splitlines()[2:]}
    assert sorted(rows) == ["a@b", "cake", "with space", "ünï"]
    for name in ("ünï", "a@b", "with space"):
        assert result.out.count(f"prompt name '{name}' is not valid") == 1
        assert "(invalid: " in rows[name]
    assert "invalid" not in rows["cake"]


def test_lint_reports_runaway_templates_without_running_them(repo: GitRepo) -> None:
    repo.write("prompts/power.prompt", "{{ (9**99999999) > 1 }}")
    repo.write(
        "prompts/loops.prompt", '{% for a in "x"*100000 %}{% for b in "x"*100000 %}{% endfor %}{% endfor %}'
    )
    repo.write("prompts/a@b.prompt", "hi")

    start = time.monotonic()
    result = run_cli("lint")

    assert time.monotonic() - start < 5
    assert result.code == 1
    assert (
        "prompts/power.prompt: error: line 1: a power would be 399,999,996 bits (bound: 16,384 bits)"
        in result.err
    )
    assert (
        "prompts/loops.prompt: error: line 1: loops nested here would run 10,000,000,000 iterations"
        in result.err
    )
    assert "prompts/a@b.prompt: error: prompt name 'a@b' is not valid" in result.err
