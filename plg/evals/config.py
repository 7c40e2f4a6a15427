"""Pipeline files (`evals/<name>.yaml`): validated with pydantic, unknown keys refused with the key named,
paths resolved relative to the file."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from plg.errors import BadInput, NoPipeline

DEFAULT_CONCURRENCY = 8


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _ScorerBase(_Strict):
    name: str | None = None
    weight: float = Field(default=1.0, ge=0)
    pass_at: float | None = Field(default=None, ge=0, le=1)


class EqualsConfig(_ScorerBase):
    type: Literal["equals"]
    value: str = "{{ expected_output }}"
    normalize: bool = True


class ContainsConfig(_ScorerBase):
    type: Literal["contains", "not_contains"]
    value: str | None = None
    values: list[str] | None = None
    mode: Literal["all", "any"] = "all"
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _one_value(self) -> ContainsConfig:
        if not self.value and not self.values:
            raise ValueError("needs `value` or `values`")
        return self


class RegexConfig(_ScorerBase):
    type: Literal["regex"]
    pattern: str
    ignore_case: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"invalid regular expression: {err}") from None
        return pattern


class JsonConfig(_ScorerBase):
    type: Literal["json"]
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    schema_file: str | None = None


class JudgeConfig(_ScorerBase):
    type: Literal["llm_judge"]
    criteria: list[str] | None = None
    rubric: str | None = None
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_rubric(self) -> JudgeConfig:
        if not self.criteria and not self.rubric:
            raise ValueError("needs `criteria` or `rubric`")
        return self


class SimilarityConfig(_ScorerBase):
    type: Literal["similarity"]
    against: str = "expected_output"
    model: str = "plg/offline-embed"


class PythonConfig(_ScorerBase):
    type: Literal["python"]
    function: str

    @field_validator("function")
    @classmethod
    def _file_and_name(cls, value: str) -> str:
        path, sep, name = value.rpartition(":")
        if not sep or not path or not name.isidentifier():
            raise ValueError("expected 'path/to/file.py:function_name'")
        return value


class HumanConfig(_ScorerBase):
    type: Literal["human"]
    instructions: str = ""
    scale: tuple[float, float] = (0.0, 1.0)


class LatencyConfig(_ScorerBase):
    type: Literal["latency"]
    max_seconds: float = Field(gt=0)


class CostConfig(_ScorerBase):
    type: Literal["cost"]
    max_usd: float = Field(ge=0)


ScorerConfig = Annotated[
    EqualsConfig
    | ContainsConfig
    | RegexConfig
    | JsonConfig
    | JudgeConfig
    | SimilarityConfig
    | PythonConfig
    | HumanConfig
    | LatencyConfig
    | CostConfig,
    Field(discriminator="type"),
]


class Threshold(_Strict):
    min_score: float | None = Field(default=None, ge=0, le=1)
    min_pass_rate: float | None = Field(default=None, ge=0, le=1)
    max_error_rate: float = Field(default=0.0, ge=0, le=1)


class BacktestGate(_Strict):
    min_similarity: float | None = Field(default=None, ge=0, le=1)
    max_changed: float | None = Field(default=None, ge=0, le=1)
    min_exact: float | None = Field(default=None, ge=0, le=1)
    history: str | None = None
    embedding_model: str | None = None
    judge: str | bool | None = None


class LabelGate(_Strict):
    min_score: float | None = Field(default=None, ge=0, le=1)
    min_pass_rate: float | None = Field(default=None, ge=0, le=1)
    max_regression: float | None = Field(default=None, ge=0, le=1)
    max_error_rate: float = Field(default=0.0, ge=0, le=1)
    backtest: BacktestGate | None = None
    # How sure a decision must be (docs/gate.md, "Statistics"): `max_regression` is always a paired test
    # at `confidence` (0.95 when unset); with `confidence` set, min_score/min_pass_rate use lower bounds.
    confidence: float | None = Field(default=None, gt=0.5, lt=1)
    on_inconclusive: Literal["fail", "pass"] = "fail"


class Pipeline(_Strict):
    description: str | None = None
    prompt: str | None = None
    dataset: str | None = None
    datasets: list[str] | None = None
    model: str | None = None
    models: list[str] | None = None
    replace_served_model: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    scorers: list[ScorerConfig] = Field(default_factory=list)
    threshold: Threshold | None = None
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=1024)
    repeats: int = Field(default=1, ge=1, le=100)
    timeout: float | None = Field(default=None, gt=0)
    gate: dict[str, LabelGate] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _data_and_models(self) -> Pipeline:
        if not self.dataset and not self.datasets:
            raise ValueError("needs `dataset` (or `datasets`)")
        if self.model and self.models:
            raise ValueError("give `model` or `models`, not both")
        if self.replace_served_model and not (self.model or self.models or self.params):
            raise ValueError("`replace_served_model: true` needs `model`, `models` or `params` to serve instead")
        return self

    def dataset_paths(self) -> list[str]:
        return [*([self.dataset] if self.dataset else []), *(self.datasets or [])]

    def model_list(self) -> list[str]:
        return list(self.models or ([self.model] if self.model else []))

    def default_judge(self, served_model: str | None) -> str:
        """The model an `llm_judge` scorer without `model:` asks: the model the prompt is served on, else
        the pipeline's first model, else the offline model. It never depends on what is being scored, so
        `plg eval`, `plg eval --outputs` and `plg.evaluate()` judge the same rows the same way."""
        return served_model or (self.model_list() or ["plg/offline"])[0]


@dataclass(frozen=True)
class LoadedPipeline:
    """A validated pipeline. `root` is the repository its paths must stay in (None: scorers given in code)."""

    path: Path
    base_dir: Path
    config: Pipeline
    content_hash: str
    root: Path | None = None

    def default_judge(self, served_model: str | None) -> str:
        """The judge of an `llm_judge` without `model:`: PLG_JUDGE_MODEL or the settings file's
        `judge_model`, else the pipeline's own default (the served model)."""
        from plg import config as plg_config

        return plg_config.judge_model(self.root) or self.config.default_judge(served_model)

    @property
    def concurrency(self) -> int:
        """The pipeline's `concurrency:` when it sets one, else PLG_CONCURRENCY or the settings file's,
        else 8. (The field keeps its default rather than None so pipeline hashes, and with them every
        recorded score's identity, stay what they were.)"""
        from plg import config as plg_config

        if "concurrency" in self.config.model_fields_set:
            return self.config.concurrency
        return plg_config.concurrency(self.root) or self.config.concurrency

    @property
    def datasets(self) -> tuple[Path, ...]:
        return tuple(self.resolve(d, "dataset") for d in self.config.dataset_paths())

    def resolve(self, relative: str, what: str = "file") -> Path:
        if self.root is None:
            return (self.base_dir / relative).resolve()
        return resolve_inside(self.root, self.base_dir, relative, f"{self.path}: {what}")


def resolve_inside(root: Path, base: Path, relative: str, where: str) -> Path:
    """Pipelines come from pull requests: every path they name must stay in the repository once symlinks
    are followed, or a pipeline could read any file or import any code on the machine running it."""
    try:
        target = (base / relative).resolve()
        inside = target.is_relative_to(root.resolve())
    except (OSError, ValueError, RuntimeError) as err:
        raise BadInput(f"{where} '{relative}' is not a usable path ({err})") from None
    if not inside:
        raise BadInput(
            f"{where} '{relative}' resolves to {target}, outside the repository; paths in a pipeline must stay inside it"
        )
    return target


def repository_root(path: Path) -> Path:
    """The work tree holding `path` (without asking git), or the file's own folder outside any repository."""
    start = path.absolute().parent
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def load_pipeline(path: Path, root: Path | None = None) -> LoadedPipeline:
    import yaml

    from plg.config import load_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"{path}: {getattr(err, 'strerror', None) or err}") from None
    try:
        raw = load_yaml(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise BadInput(f"{path}{line}: malformed YAML: {getattr(err, 'problem', None) or err}") from None
    except RecursionError:
        raise BadInput(f"{path}: malformed YAML: nested too deeply") from None
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: a pipeline must be a mapping of keys")
    from plg.registry.bounds import MAX_VALUE_CHARS, expands_too_far

    if expands_too_far(raw):
        raise BadInput(f"{path}: the pipeline expands past {MAX_VALUE_CHARS:,} characters (YAML aliases?)")
    try:
        config = Pipeline.model_validate(raw)
    except ValidationError as err:
        raise BadInput(f"{path}: {_describe(err)}") from None
    canonical = json.dumps(config.model_dump(mode="json", by_alias=True), sort_keys=True)
    digest = hashlib.sha256(canonical.encode())
    base_dir = path.resolve().parent
    root = root or repository_root(path)
    _refuse_endpoints(config, path, root)
    loaded = LoadedPipeline(path, base_dir, config, "", root)
    loaded.datasets  # noqa: B018 - refuse a path outside the repository before anything is read
    for gate in config.gate.values():
        if gate.backtest is not None and gate.backtest.history:
            resolve_inside(root, root, gate.backtest.history, f"{path}: gate backtest history")
    for name, scorer in zip(scorer_names(config.scorers), config.scorers, strict=True):
        if isinstance(scorer, PythonConfig):
            loaded.resolve(scorer.function.rpartition(":")[0], f"scorer '{name}' ({scorer.function}): file")
    for referenced in _code_and_schema_files(config):
        target = loaded.resolve(referenced, "scorer file")
        try:
            digest.update(b"\0" + referenced.encode() + b"\0" + target.read_bytes())
        except OSError:
            digest.update(b"\0" + referenced.encode() + b"\0missing")
    return LoadedPipeline(path, base_dir, config, digest.hexdigest(), root)


def _refuse_endpoints(config: Pipeline, path: Path, root: Path) -> None:
    """A pipeline comes from a pull request like a prompt: its `params:` and a judge's `params:` may not
    carry credentials, litellm controls (`mock_response`) or an endpoint plg.toml does not allow."""
    from plg.config import check_request_params

    check_request_params(config.params, f"{path}", root)
    for name, scorer in zip(scorer_names(config.scorers), config.scorers, strict=True):
        if isinstance(scorer, JudgeConfig):
            check_request_params(scorer.params, f"{path}: scorer '{name}'", root)


def scorer_names(configs: list[Any]) -> list[str]:
    """Each scorer's name as runs, tables and grades show it: its `name:`, else its type, numbered from
    the second of a kind (`contains`, `contains_2`)."""
    used: dict[str, int] = {}
    names = []
    for config in configs:
        base = config.name or config.type
        used[base] = used.get(base, 0) + 1
        names.append(base if used[base] == 1 else f"{base}_{used[base]}")
    return names


def _code_and_schema_files(config: Pipeline) -> list[str]:
    """Files whose content decides scores as much as the pipeline's own text: editing an evaluator
    must make a new eval identity, or CI would reuse a score the old code gave."""
    files = set()
    for scorer in config.scorers:
        if isinstance(scorer, PythonConfig):
            files.add(scorer.function.rpartition(":")[0])
        elif isinstance(scorer, JsonConfig) and scorer.schema_file:
            files.add(scorer.schema_file)
    return sorted(files)


_SCORER_TYPES = frozenset(
    {"equals", "contains", "not_contains", "regex", "json", "llm_judge", "similarity", "python", "human", "latency", "cost"}
)
_SHOWN_ERRORS = 5


def _describe(err: ValidationError) -> str:
    """Every problem in the file on one line (the first five, then how many more), so a pipeline with
    three mistakes takes one edit, not three runs."""
    found = list(dict.fromkeys(_describe_one(e) for e in err.errors()))
    more = f" (and {len(found) - _SHOWN_ERRORS} more)" if len(found) > _SHOWN_ERRORS else ""
    return "; ".join(found[:_SHOWN_ERRORS]) + more


def _describe_one(error: Any) -> str:
    loc = [str(p) for p in error["loc"] if not str(p).startswith(("function-", "tagged-union["))]
    key = ".".join(p for p in loc if p not in _SCORER_TYPES)
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    if error["type"] == "union_tag_invalid":
        return f"{key}: unknown scorer type (use one of {', '.join(sorted(_SCORER_TYPES))})"
    message = error["msg"].removeprefix("Value error, ")
    return f"{key}: {message}" if key else message


def find_pipeline(
    root: Path, prompt_name: str, eval_key: str | None, explicit: Path | None, former: Sequence[str] = ()
) -> Path:
    """The prompt's pipeline: `--pipeline`, its `eval:` key, evals/NAME.yaml, then (after a `git mv`)
    the pipeline of a name it had before, so a rename keeps its eval."""
    if explicit is not None:
        if not explicit.is_file():
            raise BadInput(f"--pipeline {explicit}: no such file")
        return explicit
    tried = []
    if eval_key:
        candidate = resolve_inside(root, root, eval_key, f"prompt '{prompt_name}': eval")
        if candidate.is_file():
            return candidate
        tried.append(eval_key)
    names = [prompt_name, *(n for n in former if n != prompt_name)]
    for candidate_name in [
        path
        for each in names
        for path in (f"evals/{each}.yaml", f"evals/{each}.yml", f"evals/{each.replace('/', '-')}.yaml")
    ]:
        if candidate_name in tried:
            continue
        candidate = root / candidate_name
        if candidate.is_file():
            return candidate
        tried.append(candidate_name)
    raise NoPipeline(
        f"no eval pipeline for '{prompt_name}' (looked for {', '.join(tried)}); pass --pipeline FILE"
    )
