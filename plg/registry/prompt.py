"""The `.prompt` file format: YAML front matter, then a Jinja2 chat template split into role sections.

Templates arrive through pull requests, so they are untrusted code: they render in Jinja2's immutable
sandbox, with StrictUndefined, a static check of every variable they use, and bounds on output size and time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from plg.errors import PromptFileError, TemplateError

if TYPE_CHECKING:
    from jinja2 import Template

ROLES = ("system", "user", "assistant")
_ROLE_LINE = re.compile(r"^(system|user|assistant):\s*$", re.IGNORECASE)

InputType = Literal["string", "integer", "number", "boolean", "object", "array", "any"]


_TYPE_CHECKS: dict[str, Any] = {
    "string": lambda v: isinstance(v, str | int | float),  # YAML reads `default: 8` as a number
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: InputType = "any"
    description: str | None = None
    default: Any = None
    required: bool | None = None

    @model_validator(mode="after")
    def _default_fits_type(self) -> InputSpec:
        """A default of another type than the input declares is a typo that renders silently."""
        expected = _TYPE_CHECKS.get(self.type)
        if self.default is not None and expected is not None and not expected(self.default):
            raise ValueError(f"default {self.default!r} is not of type {self.type}")
        return self

    @property
    def is_required(self) -> bool:
        return self.required if self.required is not None else self.default is None


class FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "plg/offline"
    description: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    eval: str | None = None
    tags: list[str] = Field(default_factory=list)

    @field_validator("model")
    @classmethod
    def _one_word(cls, value: str) -> str:
        """A model name with a space or line break is a typo (and a line break would forge a line in
        `plg show` and the reports), and an empty one calls no model at all."""
        if not value or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not a model name (one word, such as gpt-4o-mini or plg/offline)")
        return value

    @field_validator("inputs", mode="before")
    @classmethod
    def _short_input_forms(cls, value: Any) -> Any:
        """Accept `name:` and `name: string` as well as the full mapping, and a plain list of names."""
        if isinstance(value, list):
            return {str(name): {} for name in value}
        if isinstance(value, dict):
            return {
                str(k): ({} if v is None else {"type": v} if isinstance(v, str) else v)
                for k, v in value.items()
            }
        return value


@dataclass(frozen=True)
class Message:
    """One rendered chat message, as providers take it."""

    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Section:
    """One role's template. It compiles on first use: `plg show` and `plg list` never pay for Jinja2."""

    role: str
    source: str
    first_line: int
    where: str

    @cached_property
    def compiled(self) -> Template:
        from plg.registry.template import compile_template

        return compile_template(self.source, self.first_line, self.where)

    @cached_property
    def variables(self) -> frozenset[str]:
        from plg.registry.template import template_variables

        self.compiled  # noqa: B018 - report a syntax error before the variable scan
        return template_variables(self.source)


@dataclass(frozen=True)
class PromptFile:
    """A parsed, validated prompt file. `where` names it in errors (path, or name@version)."""

    front: FrontMatter
    sections: tuple[Section, ...]
    source: str
    where: str

    @cached_property
    def variables(self) -> frozenset[str]:
        """Every variable the template reads, found statically: StrictUndefined alone misses
        `{{ x if flag }}` and unused macro parameters."""
        return frozenset().union(*(s.variables for s in self.sections))

    @cached_property
    def needed(self) -> frozenset[str]:
        """Variables a render must be given: required inputs and undeclared template variables."""
        inputs = self.front.inputs
        return frozenset({n for n, s in inputs.items() if s.is_required} | (self.variables - set(inputs)))

    def check(self) -> None:
        """Compile every section now, so syntax errors surface at lint time."""
        self.variables  # noqa: B018

    @property
    def template(self) -> str:
        return (
            self.source.split("\n---", 2)[-1].lstrip("\n") if self.source.startswith("---") else self.source
        )

    def render(self, variables: dict[str, Any], where: str | None = None) -> list[Message]:
        return render_sections(self, variables, where or self.where)


def parse_front_matter(text: str, where: str) -> FrontMatter:
    """Only the front matter: listing 200 prompts need not compile 200 templates."""
    return _load_front(_split_front_matter(text, where)[0], where)


def parse_prompt(text: str, where: str) -> PromptFile:
    front_src, body, body_line = _split_front_matter(text, where)
    front = _load_front(front_src, where)
    return PromptFile(front=front, sections=_split_sections(body, body_line, where), source=text, where=where)


def parse_prompt_leniently(text: str, where: str) -> tuple[PromptFile, list[str]]:
    """Every front-matter problem at once, for `plg lint`, with the prompt the valid keys make (the
    offending keys dropped), so the template is still checked against the inputs it declares. A file
    whose front matter does not parse at all raises as `parse_prompt` does."""
    front_src, body, body_line = _split_front_matter(text, where)
    raw = _raw_front(front_src, where)
    problems: list[str] = []
    try:
        front = FrontMatter.model_validate(raw)
    except ValidationError as err:
        problems = [_describe_error(e) for e in err.errors()]
        bad = {e["loc"][0] for e in err.errors() if e["loc"]}
        try:
            front = FrontMatter.model_validate({k: v for k, v in raw.items() if k not in bad})
        except ValidationError:
            front = FrontMatter()
    try:
        _refuse_controls(front.params, where)
    except PromptFileError as err:
        problems.append(str(err).removeprefix(f"{where}: "))
    sections = _split_sections(body, body_line, where)
    return PromptFile(front=front, sections=sections, source=text, where=where), problems


def _load_front(front_src: str, where: str) -> FrontMatter:
    raw = _raw_front(front_src, where)
    try:
        front = FrontMatter.model_validate(raw)
    except ValidationError as err:
        raise PromptFileError(f"{where}: {_describe_validation(err)}") from None
    _refuse_controls(front.params, where)
    return front


def _raw_front(front_src: str, where: str) -> dict[str, Any]:
    import yaml

    from plg.config import load_yaml

    try:
        raw = load_yaml(front_src) if front_src.strip() else {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f", line {mark.line + 2}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise PromptFileError(f"{where}{line}: malformed front matter: {problem}") from None
    except RecursionError:
        raise PromptFileError(f"{where}: malformed front matter: nested too deeply") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PromptFileError(f"{where}: front matter must be a mapping of keys, got {type(raw).__name__}")
    from plg.registry.bounds import MAX_VALUE_CHARS, expands_too_far

    if expands_too_far(raw):
        raise PromptFileError(f"{where}: front matter expands past {MAX_VALUE_CHARS:,} characters (YAML aliases?)")
    return raw


def _refuse_controls(params: dict[str, Any], where: str) -> None:
    """Credentials, provider routing and litellm's own answers (`mock_response`) are never prompt content:
    refused on parsing, so no reader (eval, CI, lint, the SDK from a remote or bundle) ever sends them.
    `api_base`/`base_url` depend on the repository's allow-list and are checked where the root is known
    (`plg.config.check_request_params`)."""
    from plg.config import ENDPOINT_REFUSAL, is_control_key

    found = sorted(k for k in params if is_control_key(str(k)))
    if found:
        raise PromptFileError(f"{where}: params {', '.join(found)}: {ENDPOINT_REFUSAL}")


def _describe_validation(err: ValidationError) -> str:
    return _describe_error(err.errors()[0])


def _describe_error(first: Any) -> str:
    key = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown front-matter key '{key}'"
    return f"front-matter key '{key}': {first['msg'].removeprefix('Value error, ')}"


def _split_front_matter(text: str, where: str) -> tuple[str, str, int]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return "", text, 1
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    raise PromptFileError(f"{where}, line 1: front matter opened with '---' is never closed")


def _split_sections(body: str, first_line: int, where: str) -> tuple[Section, ...]:
    sections: list[Section] = []
    role: str | None = None
    start = first_line
    buffer: list[str] = []

    def flush() -> None:
        text = "".join(buffer).strip("\n")
        if role is not None or text.strip():
            sections.append(Section(role=role or "user", source=text, first_line=start, where=where))

    for offset, line in enumerate(body.splitlines(keepends=True)):
        match = _ROLE_LINE.match(line.strip())
        if match:
            flush()
            role, buffer, start = match.group(1).lower(), [], first_line + offset + 1
        else:
            buffer.append(line)
    flush()
    return tuple(sections)


def coerce_value(name: str, spec: InputSpec, value: Any, where: str) -> Any:
    """Values from CSV cells and `-v key=value` arrive as text; declared types say what they mean."""
    if not isinstance(value, str) or spec.type in ("string", "any"):
        return value
    try:
        if spec.type == "integer":
            return int(value)
        if spec.type == "number":
            return float(value)
        if spec.type == "boolean":
            lowered = value.strip().lower()
            if lowered in ("true", "yes", "1"):
                return True
            if lowered in ("false", "no", "0"):
                return False
            raise ValueError(value)
        if spec.type in ("object", "array"):
            return json.loads(value)
    except ValueError:
        raise TemplateError(f"{where}: variable '{name}' should be {spec.type}, got {value!r}") from None
    return value


def missing_variables(prompt: PromptFile, variables: dict[str, Any]) -> list[str]:
    return sorted(n for n in prompt.needed if n not in variables)


def resolve_variables(prompt: PromptFile, variables: dict[str, Any], where: str) -> dict[str, Any]:
    missing = missing_variables(prompt, variables)
    if missing:
        names = ", ".join(f"'{n}'" for n in missing)
        raise TemplateError(f"{where}: undefined variable {names}")
    values = {n: s.default for n, s in prompt.front.inputs.items() if s.default is not None}
    for name, value in variables.items():
        spec = prompt.front.inputs.get(name)
        if spec is not None and takes_default(spec, value):
            continue
        values[name] = coerce_value(name, spec, value, where) if spec else value
    return values


def takes_default(spec: InputSpec, value: Any) -> bool:
    """An empty text for an input with a default takes the default: a CSV cannot tell an empty cell
    from a value left out, and an empty cell for an integer input is no integer."""
    return value == "" and spec.default is not None


def render_sections(prompt: PromptFile, variables: dict[str, Any], where: str) -> list[Message]:
    from plg.registry.template import render_bounded, render_template

    if not prompt.sections:
        raise PromptFileError(f"{where}: the template is empty: there is no message to send")
    values = resolve_variables(prompt, variables, where)
    return render_bounded(
        lambda: [
            Message(role=s.role, content=render_template(s.compiled, values, where, s.first_line))
            for s in prompt.sections
        ],
        where,
    )


NEW_PROMPT_TEMPLATE = """---
model: plg/offline
description: {description}
params:
  temperature: 0.2
inputs:
  topic:
    type: string
    description: What the answer is about
---
system:
You are a concise, helpful assistant.

user:
Tell me about {{{{ topic }}}}.
"""
