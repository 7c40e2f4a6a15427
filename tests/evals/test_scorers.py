from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from plg.errors import BadInput
from plg.evals.config import load_pipeline
from plg.evals.datasets import Row, check_columns, iter_rows
from plg.evals.judge import parse_judgement
from plg.evals.scorers import ScoreContext, build_scorers, row_passed, weighted_score
from plg.llm.provider import ModelClient
from tests.conftest import GitRepo, commit_topic_eval, run_cli


def pipeline(tmp_path: Path, scorers: str, extra: str = "") -> Path:
    (tmp_path / "data.csv").write_text("q,expected_output\nx,y\n")
    path = tmp_path / "p.yaml"
    path.write_text(f"dataset: data.csv\nmodels: [plg/offline]\n{extra}scorers:\n{scorers}")
    return path


def score_one(
    tmp_path: Path,
    scorers: str,
    output: str,
    values: dict,
    latency: float | None = None,
    cost: float | None = None,
):  # type: ignore[no-untyped-def]
    loaded = load_pipeline(pipeline(tmp_path, scorers))
    built = build_scorers(loaded.config.scorers, loaded, "plg/offline")
    ctx = ScoreContext(model_client=ModelClient(), latency_s=latency, cost=cost, base_dir=tmp_path)
    row = Row(index=0, id="0", values=values)

    async def go():  # type: ignore[no-untyped-def]
        return await asyncio.gather(*(s.score(output, row, ctx) for s in built))

    return asyncio.run(go()), built


@pytest.mark.parametrize(
    ("scorer", "output", "values", "expected"),
    [
        ("  - type: equals\n", "Paris  ", {"expected_output": "paris"}, True),
        ("  - type: equals\n", "Lyon", {"expected_output": "paris"}, False),
        ("  - type: contains\n    value: '{{ city }}'\n", "I love PARIS", {"city": "paris"}, True),
        ("  - type: contains\n    values: [a, zz]\n    mode: any\n", "abc", {}, True),
        ("  - type: contains\n    values: [a, zz]\n", "abc", {}, False),
        ("  - type: not_contains\n    value: sorry\n", "Sorry, I can't", {}, False),
        ("  - type: regex\n    pattern: '^\\d{3}$'\n", "123", {}, True),
        ("  - type: regex\n    pattern: '^\\d{3}$'\n", "12a", {}, False),
        ("  - type: json\n", '```json\n{"a": 1}\n```', {}, True),
        ("  - type: json\n", "{nope", {}, False),
        ("  - type: json\n    schema: {type: object, required: [team]}\n", '{"team": "x"}', {}, True),
        ("  - type: json\n    schema: {type: object, required: [team]}\n", '{"other": 1}', {}, False),
        ("  - type: similarity\n", "lemon cake with sugar", {"expected_output": "a sugar lemon cake"}, True),
        ("  - type: similarity\n", "lemon cake", {"expected_output": "database tuning guide"}, False),
        ("  - type: latency\n    max_seconds: 1\n", "x", {}, True),
        ("  - type: cost\n    max_usd: 0.001\n", "x", {}, True),
    ],
)
def test_each_scorer_passes_and_fails(
    tmp_path: Path, scorer: str, output: str, values: dict, expected: bool
) -> None:
    (score,), _ = score_one(tmp_path, scorer, output, values, latency=0.2, cost=0.0001)
    assert score.error is None, score
    assert score.passed is expected, score


def test_latency_and_cost_limits_fail_when_exceeded(tmp_path: Path) -> None:
    scores, _ = score_one(
        tmp_path,
        "  - type: latency\n    max_seconds: 1\n  - type: cost\n    max_usd: 0.01\n",
        "x",
        {},
        latency=3.0,
        cost=0.5,
    )
    assert [s.passed for s in scores] == [False, False]


def test_judge_through_offline_model_gives_score_and_reason(tmp_path: Path) -> None:
    scorer = "  - type: llm_judge\n    criteria: [Mentions lemon, Mentions sugar]\n"
    (good,), _ = score_one(tmp_path, scorer, "A lemon cake with sugar", {})
    (bad,), _ = score_one(tmp_path, scorer, "A database", {})
    assert good.score == 1.0 and bad.score is not None and bad.score < good.score
    assert "rubric terms" in good.reason


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"score": 0.8, "reason": "ok"}', 0.8),
        ('Here you go:\n```json\n{"score": 1, "reason": "fine"}\n```', 1.0),
        ('I think {"score": 0.25, "reason": "weak"} overall', 0.25),
        ("Score: 7/10 - decent", 0.7),
        ("4 out of 5", 0.8),
        ("score: 0.6", 0.6),
        ("score = 85%", 0.85),
        ('{"score": 9}', 0.9),
    ],
)
def test_judge_parsing_variants(text: str, value: float) -> None:
    assert parse_judgement(text)[0] == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "rubric", "value"),
    [
        ("3", "Rate the recipe from 1 to 5.", 0.5),
        ("5", "Rate the recipe from 1 to 5.", 1.0),
        ("1", "Rate the recipe from 1 to 5.", 0.0),
        ('{"score": 4, "reason": "good"}', "Score it out of 5", 0.8),
        ("7", "Use a 0-10 scale", 0.7),
        ("0.8", "Rate the recipe from 1 to 5.", 0.8),  # a fraction is plg's own 0..1 scale
        ("3", "Is it a cake recipe?", 0.3),
        (" 1 ", "", 1.0),
    ],
)
def test_a_bare_number_is_a_score_on_the_rubrics_scale(text: str, rubric: str, value: float) -> None:
    """A judge answering '3' to 'from 1 to 5' had been a scorer error (issue 28)."""
    assert parse_judgement(text, rubric)[0] == pytest.approx(value)


def test_a_number_off_the_rubrics_scale_is_a_row_error() -> None:
    with pytest.raises(ValueError, match="outside the rubric's 1..5"):
        parse_judgement("7", "Rate the recipe from 1 to 5.")


def test_unparseable_judge_answer_is_a_row_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        parse_judgement("I refuse to grade this.")


def test_python_scorer_return_shapes_and_exceptions(tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(
        "def as_bool(output, row):\n    return row['q'] in output\n"
        "def as_float(output, row):\n    return 0.25\n"
        "def as_dict(output, row):\n    return {'score': 0.9, 'reason': 'close'}\n"
        "def boom(output, row):\n    raise RuntimeError('evaluator broke')\n"
    )
    scorers = "".join(
        f"  - type: python\n    function: checks.py:{n}\n" for n in ("as_bool", "as_float", "as_dict", "boom")
    )
    scores, built = score_one(tmp_path, scorers, "hello x", {"q": "x"})
    assert [s.score for s in scores[:3]] == [1.0, 0.25, 0.9]
    assert scores[1].passed is False and scores[2].reason == "close"
    assert scores[3].error == "RuntimeError: evaluator broke"
    assert row_passed(scores) is False
    assert weighted_score(scores, built) == pytest.approx((1.0 + 0.25 + 0.9 + 0.0) / 4)  # an error scores 0


def test_human_scorer_is_pending(tmp_path: Path) -> None:
    (score,), built = score_one(tmp_path, "  - type: human\n    scale: [1, 5]\n", "x", {})
    assert score.pending and score.score is None
    assert built[0].normalise(4) == 0.75  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("scorers", "message"),
    [
        ("  - type: regex\n    pattern: '('\n", "scorers.0.pattern: invalid regular expression"),
        ("  - type: llm_judge\n", "scorers.0: needs `criteria` or `rubric`"),
        ("  - type: nonsense\n", "unknown scorer type"),
        ("  - type: contains\n    value: x\n    colour: red\n", "unknown key 'scorers.0.colour'"),
        ("  - type: json\n    schema: {type: 12}\n", "invalid JSON Schema"),
        ("  - type: python\n    function: missing.py:f\n", "missing.py not found"),
    ],
)
def test_config_errors_name_the_key_and_file(tmp_path: Path, scorers: str, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        loaded = load_pipeline(pipeline(tmp_path, scorers))
        build_scorers(loaded.config.scorers, loaded, "plg/offline")
    assert message in caught.value.message and "p.yaml" in caught.value.message


def test_every_mistake_in_a_pipeline_is_named_at_once(tmp_path: Path) -> None:
    scorers = "  - type: contains\n    value: x\n    colour: red\n  - type: nonsense\n  - type: llm_judge\n"
    path = pipeline(tmp_path, scorers, extra="thresold: {min_score: 1}\n")
    with pytest.raises(BadInput) as caught:
        load_pipeline(path)
    message = caught.value.message
    assert "\n" not in message
    for part in ("unknown key 'thresold'", "unknown key 'scorers.0.colour'", "scorers.1: unknown scorer type",
                 "scorers.2: needs `criteria` or `rubric`"):
        assert part in message, message
    many = "".join(f"  - type: contains\n    value: x\n    colour{i}: red\n" for i in range(8))
    with pytest.raises(BadInput, match=r"scorers\.4\.colour4'(?!.*colour5).*\(and 3 more\)$"):
        load_pipeline(pipeline(tmp_path, many))


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n\n[1, 2]\n')
    with pytest.raises(BadInput, match=r"d.jsonl, line 3: each line must be a JSON object"):
        list(iter_rows(path))


def test_check_columns_lists_rows(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join('{"a": 1}' if i % 2 else '{"a": 1, "b": 2}' for i in range(20)))
    with pytest.raises(
        BadInput, match=r"column 'b' missing in rows 2, 4, 6, 8, 10 and 5 more \(needed by p\)"
    ):
        check_columns(path, {"a", "b"}, "p")


def test_csv_streams_in_flat_memory(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write("id,text\n")
        for i in range(100_000):
            handle.write(f"{i},row number {i} with some words in it\n")
    tracemalloc.start()
    count = sum(1 for _ in iter_rows(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 100_000 and peak < 5_000_000


@pytest.mark.parametrize(
    ("values", "output", "passed", "error"),
    [
        ({"city": "Paris"}, "I love paris", True, None),
        ({"city": 75001}, "zip 75001", True, None),
        ({"city": None}, "None of it", True, None),
        ({"city": ["a"]}, "['a']", True, None),
        ({"town": "Paris"}, "Paris", None, "'city' is undefined"),
    ],
)
def test_a_column_value_reads_as_its_template_renders_it(
    tmp_path: Path, values: dict, output: str, passed: bool | None, error: str | None  # type: ignore[type-arg]
) -> None:
    """`value: '{{ city }}'` is read straight from the row when the column holds text; any other value, or
    a missing column, gives exactly what the sandboxed render gives (text of the value, or the error)."""
    (score,), _ = score_one(tmp_path, "  - type: contains\n    value: '{{ city }}'\n", output, values)
    assert score.passed is passed
    assert (score.error is None) if error is None else (error in (score.error or ""))


def test_an_evaluator_edited_within_the_same_second_is_read_anew(tmp_path: Path) -> None:
    """Same size, same mtime: a bytecode cache would serve the old function; the evaluator's source is
    what runs, and nothing is written beside it."""
    import os

    checks = tmp_path / "checks.py"
    scorer = "  - type: python\n    function: checks.py:score\n"
    checks.write_text("def score(output, row):\n    return 1.0\n")
    stamp = checks.stat().st_mtime_ns
    assert score_one(tmp_path, scorer, "x", {})[0][0].score == 1.0
    checks.write_text("def score(output, row):\n    return 0.0\n")
    os.utime(checks, ns=(stamp, stamp))
    assert score_one(tmp_path, scorer, "x", {})[0][0].score == 0.0
    assert not (tmp_path / "__pycache__").exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("import sys\n    sys.exit(0)", "SystemExit: the evaluator called exit(0)"),
        ("raise SystemExit", "SystemExit: the evaluator called exit(None)"),
        ("return float('nan')", "evaluator returned NaN: not a score"),
        ("return {'score': float('nan'), 'reason': 'unsure'}", "evaluator returned NaN: not a score"),
    ],
)
def test_an_evaluator_that_exits_or_returns_nan_is_a_scorer_error_never_a_pass(
    body: str, error: str, repo: GitRepo
) -> None:
    """Before: sys.exit(0) in an evaluator ended plg itself with exit 0 and nothing printed (a CI pass), and
    NaN was clamped to a score of 0 as if it had been judged."""
    import json

    repo.write("evals/checks.py", f"def check(output, row):\n    {body}\n")
    pipeline = "prompt: topic\ndataset: topics.csv\nscorers:\n  - type: python\n    function: checks.py:check\n"
    commit_topic_eval(repo, pipeline + "threshold: {min_score: 0.5}\n", "topic\nowls\n")

    judged = run_cli("eval", "topic", "--json")
    repo.write("evals/topic.yaml", pipeline)
    no_threshold = run_cli("eval", "topic", "--no-cache")

    assert judged.code == 1, judged
    run_id = json.loads(judged.out)["run_id"]
    assert error in run_cli("runs", "show", run_id, "--row", "1").out
    assert no_threshold.code == 3, no_threshold


def test_an_evaluator_file_that_exits_on_import_is_bad_input(repo: GitRepo) -> None:
    repo.write("evals/checks.py", "import sys\nsys.exit(0)\n\ndef check(output, row):\n    return 1.0\n")
    commit_topic_eval(
        repo,
        "prompt: topic\ndataset: topics.csv\nscorers:\n  - type: python\n    function: checks.py:check\n",
        "topic\nowls\n",
    )

    result = run_cli("eval", "topic")

    assert result.code == 2, result
    assert result.err.endswith("evals/topic.yaml: checks.py failed to import: SystemExit: 0\n"), result
