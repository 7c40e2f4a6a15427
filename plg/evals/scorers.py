"""Scorers turn one output into a Score in [0, 1]. A per-row problem (an unparseable judge answer, an
undefined column, a failing evaluator) becomes Score.error for that row; it never stops the run."""

from __future__ import annotations

import asyncio
import json
import math
import operator
import re
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plg.errors import BadInput, ModelCallError, PlgError
from plg.evals.config import (
    ContainsConfig,
    CostConfig,
    EqualsConfig,
    HumanConfig,
    JsonConfig,
    JudgeConfig,
    LatencyConfig,
    LoadedPipeline,
    PythonConfig,
    RegexConfig,
    SimilarityConfig,
    scorer_names,
)
from plg.evals.datasets import Row
from plg.evals.judge import judge_messages, parse_judgement
from plg.evals.pycheck import dependencies_hash
from plg.llm.offline import OFFLINE_MODEL
from plg.registry.bounds import MAX_VALUE_CHARS


@dataclass(frozen=True)
class Score:
    name: str
    score: float | None
    passed: bool | None
    reason: str = ""
    error: str | None = None
    pending: bool = False
    outside: bool = False


@dataclass(frozen=True)
class ScoreContext:
    model_client: Any
    latency_s: float | None
    cost: float | None
    base_dir: Path


class Scorer:
    graded = False
    placeholder = False
    """True when the scorer's figures come from the offline stand-in, not a judgement: shown everywhere."""

    def __init__(self, name: str, weight: float, pass_at: float | None) -> None:
        self.name = name
        self.weight = weight
        self.pass_at = pass_at if pass_at is not None else (0.5 if self.graded else 1.0)

    def identity(self) -> str:
        """What, besides the pipeline text, decides this scorer's results (its judge or embedding model):
        part of the eval identity, so a result is reused only for the very same judges."""
        return ""

    async def score(self, output: str, row: Row, ctx: ScoreContext) -> Score:
        try:
            return await self._score(output, row, ctx)
        except ModelCallError as err:
            return Score(self.name, None, None, error=err.message, outside=err.outside)
        except PlgError as err:
            return Score(self.name, None, None, error=err.message)
        except Exception as err:  # noqa: BLE001 - one evaluator's failure is that row's error
            first = (str(err).splitlines() or [""])[0]
            return Score(self.name, None, None, error=f"{type(err).__name__}: {first}")

    async def _score(self, output: str, row: Row, ctx: ScoreContext) -> Score:
        raise NotImplementedError

    def result(self, value: float, reason: str = "") -> Score:
        value = min(1.0, max(0.0, value))
        return Score(self.name, value, value >= self.pass_at, reason)


_ONE_COLUMN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class _Value:
    """A scorer's value template. Most are a column (`{{ expected }}`), which the sandbox renders as the
    column's text at ~40 us a row; a column holding a string within the value bound is read directly,
    anything else (a missing column, another type, an oversized value) takes the full render, so its
    result and its errors are the template's."""

    template: Any
    column: str | None


def _render(value: _Value, row: Row, where: str) -> str:
    if value.column is not None:
        found = row.values.get(value.column)
        if type(found) is str and len(found) <= MAX_VALUE_CHARS:
            return found
    from plg.registry.template import render_template

    return render_template(value.template, row.values, where)


def _compile(source: str, where: str) -> _Value:
    from plg.registry.template import compile_template

    column = _ONE_COLUMN.fullmatch(source)
    return _Value(compile_template(source, 1, where), column.group(1) if column else None)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


class Equals(Scorer):
    def __init__(self, config: EqualsConfig, name: str) -> None:
        super().__init__(name, config.weight, config.pass_at)
        self.template, self.normalize = _compile(config.value, f"scorer {name}"), config.normalize

    async def _score(self, output: str, row: Row, ctx: ScoreContext) -> Score:
        expected = _render(self.template, row, f"scorer {self.name}")
        same = _norm(output) == _norm(expected) if self.normalize else output == expected
        return self.result(1.0 if same else 0.0, "" if same else f"expected {expected[:80]!r}")


class Contains(Scorer):
    def __init__(self, config: ContainsConfig, name: str) -> None:
        super().__init__(name, config.weight, config.pass_at)
        sources = config.values or [config.value or ""]
        self.templates = [_compile(s, f"scorer {name}") for s in sources]
        self.negate = config.type == "not_contains"
        self.mode, self.case_sensitive = config.mode, config.case_sensitive

    async def _score(self, output: str, row: Row, ctx: ScoreContext) -> Score:
        needles = [_render(t, row, f"scorer {self.name}") for t in self.templates]
        haystack = output if self.case_sensitive else output.casefold()
        found = [(n if self.case_sensitive else n.casefold()) in haystack for n in needles]
        hit = all(found) if self.mode == "all" else any(found)
        ok = hit != self.negate
        missing = [n for n, f in zip(needles, found, strict=True) if f == self.negate]
        word = "contains" if self.negate else "missing"
        return self.result(
            1.0 if ok else 0.0, "" if ok else f"{word} {', '.join(repr(m) for m in missing)[:120]}"
        )


class Regex(Scorer):
    def __init__(self, config: RegexConfig, name: str) -> None:
        super().__init__(name, config.weight, config.pass_at)
        self.pattern = re.compile(config.pattern, re.I if config.ignore_case else 0)

    async def _score(self, output: str, row: Row, ctx: ScoreContext) -> Score:
        ok = self.pattern.search(output) is not None
        return self.result(1.0 if ok else 0.0, "" if ok else f"no match for /{self.pattern.pattern}/")


_FENCED_JSON = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


class JsonCheck(Scorer):
    def __init__(self, config: JsonConfig, name: str, loaded: LoadedPipeline) -> None:
        super().__init__(name, config.weight, config.pass_at)
        schema = config.json_schema
        if config.schema_file:
            path = loaded.resolve(config.schema_file, f"scorer '{name}': schema_file")
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
            except RecursionError:
                raise BadInput(
                    f"{loaded.path}: scorer '{name}': cannot read schema_file {path}: JSON nested too deeply"
                ) from None
            except (OSError, ValueError) as err:
                raise BadInput(
                    f"{loaded.path}: scorer '{name}': cannot read schema_file {path}: {err}"
                ) from None
        self.validator = None
        if schema is not None:
            import jsonschema

            try:
                cls = jsonschema.validators.validator_for(schema)
                cls.check_schema(schema)
            except jsonschema.SchemaError as err:
                raise BadInput(
                    f"{loaded.path}: scorer '{name}': invalid JSON Schema: {err.message}"
                ) from None
            self.validator = cls(schema)

    async def _score(self, output: str, row: Row, ctx: ScoreContext) -> Score:
        fenced = _FENCED_JSON.match(output)
        try:
            data = json.loads(fenced.group(1) if fenced else output)
        except ValueError as err:
            return self.result(0.0, f"not JSON: {err.msg}")
        if self.validator is not None:
            problem = next(iter(self.validator.iter_errors(data)), None)
            if problem is not None:
                where = "/".join(str(p) for p in problem.absolute_path) or "(root)"
                return self.result(0.0, f"schema: {where}: {problem.message[:120]}")
        return self.result(1.0)


class Judge(Scorer):
    graded = True

    def __init__(self, config: JudgeConfig, name: str, default_model: str) -> None:
        super().__init__(name, config.weight, config.pass_at)
        rubric = config.rubric or "\n".join(f"- {c}" for c in config.criteria or [])
        self.template = _compile(rubric, f"scorer {name}")
        self.model, self.params = config.model or default_model, dict(config.params)
        self.rubric = rubric
        self.placeholder = self.model == OFFLINE_MODEL

    def identity(self) -> str:
        return json.dumps(["llm_judge", self.model, self.params, self.rubric], sort_keys=True, default=str)

    async def _score(self, output: str, row: Row, ctx: ScoreContext) -> Score:
        rubric = _render(self.template, row, f"scorer {self.name}")
        inputs = "\n".join(
            f"{k}: {v}" for k, v in row.values.items() if k not in ("expected_output", "messages")
        )
        completion = await ctx.model_client.acomplete(
            self.model, judge_messages(rubric, output, inputs), self.params
        )
        try:
            value, reason = parse_judgement(completion.text, rubric)
        except ValueError as err:
            return Score(self.name, None, None, error=str(err))
        return self.result(value, reason)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(map(operator.mul, a, b))
    norm = math.hypot(*a) * math.hypot(*b)
    return max(0.0, dot / norm) if norm else 0.0


class Similarity(Scorer):
    graded = True

    def __init__(self, config: SimilarityConfig, name: str) -> None:
        super().__init__(name, config.weight, config.pass_at)
        self.against, self.model = config.against, config.model

    def identity(self) -> str:
        return json.dumps(["similarity", self.model, self.against])

    async def _score(self, output: str, row: Row, ctx: ScoreContext) -> Score:
        reference = row.values.get(self.against)
        if reference in (None, ""):
            return Score(self.name, None, None, error=f"row has no '{self.against}' to compare with")
        left, right = await ctx.model_client.aembed(self.model, [output, str(reference)])
        value = cosine(left, right)
        return self.result(value, f"cosine {value:.3f} against {self.against}")


class PythonScorer(Scorer):
    graded = True

    def __init__(self, config: PythonConfig, name: str, loaded: LoadedPipeline) -> None:
        super().__init__(name, config.weight, config.pass_at)
        self.function = load_function(config.function, loaded)
        code, root = loaded.resolve(config.function.rpartition(":")[0]), loaded.root or loaded.base_dir
        self._identity = dependencies_hash(code, root.resolve())

    def identity(self) -> str:
        """The content of every repository file the evaluator can load (`pycheck.scorer_dependencies`):
        the file itself is in the pipeline hash already; what it imports or opens beside it is here."""
        return self._identity

    async def _score(self, output: str, row: Row, ctx: ScoreContext) -> Score:
        try:
            if asyncio.iscoroutinefunction(self.function):
                value = await self.function(output, dict(row.values))
            else:
                value = await asyncio.to_thread(self.function, output, dict(row.values))
        except SystemExit as err:
            # sys.exit() in an evaluator would end plg itself, with the evaluator's exit code (0: a pass)
            return Score(self.name, None, None, error=f"SystemExit: the evaluator called exit({err.code!r})")
        if isinstance(value, bool):
            return Score(self.name, float(value), value)
        number = value["score"] if isinstance(value, dict) and "score" in value else value
        if isinstance(number, float) and math.isnan(number):
            return Score(self.name, None, None, error="evaluator returned NaN: not a score")
        if isinstance(value, (int, float)):
            return self.result(float(value))
        if isinstance(value, dict) and "score" in value:
            result = self.result(float(value["score"]), str(value.get("reason", "")))
            if "passed" in value:
                return Score(result.name, result.score, bool(value["passed"]), result.reason)
            return result
        return Score(
            self.name,
            None,
            None,
            error=f"evaluator returned {type(value).__name__}; expected bool, number or dict with 'score'",
        )


def load_function(spec: str, loaded: LoadedPipeline) -> Callable[..., Any]:
    relative, _, name = spec.rpartition(":")
    path = loaded.resolve(relative, "python scorer")
    if not path.is_file():
        raise BadInput(f"{loaded.path}: python scorer file {relative} not found (looked at {path})")
    # Compiled from the source every time, never through importlib's bytecode cache: a cached .pyc is
    # trusted when the source's mtime and size match, which an edit within the same second (`1.0` ->
    # `0.0`) keeps, and it would be written into the repository's evals/.
    module = types.ModuleType(f"plg_scorer_{path.stem}")
    module.__file__ = str(path)
    try:
        exec(compile(path.read_bytes(), str(path), "exec"), module.__dict__)  # noqa: S102 - the user's evaluator
    except (Exception, SystemExit) as err:  # noqa: BLE001 - the user's file failed to import (or exited)
        raise BadInput(f"{loaded.path}: {relative} failed to import: {type(err).__name__}: {err}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise BadInput(f"{loaded.path}: {relative} has no function '{name}'")
    return function  # type: ignore[no-any-return]


class Human(Scorer):
    graded = True

    def __init__(self, config: HumanConfig, name: str) -> None:
        super().__init__(name, config.weight, config.pass_at)
        self.instructions, self.scale = config.instructions, config.scale

    async def _score(self, output: str, row: Row, ctx: ScoreContext) -> Score:
        return Score(self.name, None, None, reason="awaiting human grade", pending=True)

    def normalise(self, grade: float) -> float:
        low, high = self.scale
        if not low <= grade <= high:
            raise BadInput(f"grade {grade} for '{self.name}' is outside the scale {low:g}..{high:g}")
        return (grade - low) / (high - low) if high > low else 0.0


class Limit(Scorer):
    def __init__(self, config: LatencyConfig | CostConfig, name: str) -> None:
        super().__init__(name, config.weight, config.pass_at)
        self.kind = config.type
        self.bound = config.max_seconds if isinstance(config, LatencyConfig) else config.max_usd

    async def _score(self, output: str, row: Row, ctx: ScoreContext) -> Score:
        value = ctx.latency_s if self.kind == "latency" else ctx.cost
        if value is None:
            return self.result(1.0, f"{self.kind} unknown")
        ok = value <= self.bound
        unit = "s" if self.kind == "latency" else " USD"
        return self.result(1.0 if ok else 0.0, f"{value:.4g}{unit} vs limit {self.bound:g}{unit}")


def build_scorers(configs: Sequence[Any], loaded: LoadedPipeline, default_model: str) -> list[Scorer]:
    names = scorer_names(list(configs))
    return [_build(config, name, loaded, default_model) for config, name in zip(configs, names, strict=True)]


def _build(config: Any, name: str, loaded: LoadedPipeline, default_model: str) -> Scorer:
    if isinstance(config, EqualsConfig):
        return Equals(config, name)
    if isinstance(config, ContainsConfig):
        return Contains(config, name)
    if isinstance(config, RegexConfig):
        return Regex(config, name)
    if isinstance(config, JsonConfig):
        return JsonCheck(config, name, loaded)
    if isinstance(config, JudgeConfig):
        return Judge(config, name, default_model)
    if isinstance(config, SimilarityConfig):
        return Similarity(config, name)
    if isinstance(config, PythonConfig):
        return PythonScorer(config, name, loaded)
    if isinstance(config, HumanConfig):
        return Human(config, name)
    return Limit(config, name)


def weighted_score(scores: Sequence[Score], scorers: Sequence[Scorer]) -> float | None:
    """A scorer that errored scores 0 with its full weight: a missing judgement is never left out."""
    total = weight = 0.0
    for score, scorer in zip(scores, scorers, strict=True):
        if score.pending or (score.score is None and not score.error):
            continue
        total += (0.0 if score.error or score.score is None else score.score) * scorer.weight
        weight += scorer.weight
    return total / weight if weight else None


def row_passed(scores: Sequence[Score]) -> bool | None:
    judged = [s for s in scores if not s.pending]
    if not judged:
        return None
    return all(s.passed is True and not s.error for s in judged)
