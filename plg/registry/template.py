"""The Jinja2 sandbox every template renders in: prompt bodies, scorer values and judge rubrics.

Templates arrive through pull requests, so they are untrusted code: the immutable sandbox blocks attribute
tricks and mutation, StrictUndefined and a static variable scan catch missing inputs, and the render is
bounded in size and time because the sandbox alone does not bound work.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from plg.errors import TemplateError

MAX_RENDER_CHARS = 1_000_000
MAX_RENDER_SECONDS = 2.0

_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("plg_render_deadline", default=0.0)


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox bounds what a template may touch; this also bounds how long it may spin."""

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
        deadline = _deadline.get()
        if deadline and time.monotonic() > deadline:
            raise TemplateError(f"render took too long (over {MAX_RENDER_SECONDS:g} s)")
        return super().call(__context, __obj, *args, **kwargs)


_ENV = _BoundedSandbox(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)


def compile_template(source: str, first_line: int, where: str) -> Template:
    try:
        return _ENV.from_string(source)
    except TemplateSyntaxError as err:
        line = first_line + (err.lineno or 1) - 1
        raise TemplateError(f"{where}, line {line}: template syntax error: {err.message}") from None


def template_variables(source: str) -> frozenset[str]:
    return frozenset(meta.find_undeclared_variables(_ENV.parse(source))) - set(_ENV.globals)


def render_template(template: Template, values: dict[str, Any], where: str, first_line: int = 1) -> str:
    pieces: list[str] = []
    budget = MAX_RENDER_CHARS
    token = _deadline.set(time.monotonic() + MAX_RENDER_SECONDS)
    try:
        for piece in template.generate(values):
            budget -= len(piece)
            if budget < 0:
                raise TemplateError(f"{where}: rendered text exceeds {MAX_RENDER_CHARS:,} characters")
            pieces.append(piece)
    except UndefinedError as err:
        raise TemplateError(f"{where}, line {first_line}: {err.message}") from None
    except SecurityError as err:
        raise TemplateError(f"{where}, line {first_line}: unsafe template: {err}") from None
    except TemplateError as err:
        if err.message.startswith(where):
            raise
        raise TemplateError(f"{where}: {err.message}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as err:
        raise TemplateError(f"{where}, line {first_line}: render failed: {err}") from None
    finally:
        _deadline.reset(token)
    return "".join(pieces).strip("\n")


def render_string(source: str, variables: dict[str, Any], where: str) -> str:
    """Render a small template (scorer values, judge rubrics) in the same sandbox."""
    return render_template(compile_template(source, 1, where), variables, where)
