"""The Jinja2 sandbox every template renders in: prompt bodies, scorer values and judge rubrics.

Templates arrive through pull requests, so they are untrusted code. The immutable sandbox blocks attribute
tricks and mutation; StrictUndefined and a static variable scan catch missing inputs. The sandbox does
not bound work, so this environment also: never folds constants at compile time (Jinja would otherwise
compute `9**99999999` while compiling), refuses oversized constant expressions and loops before compiling
(`template_checks`), checks every repetition, power, format, concatenation, amplifying filter and method
before it allocates, and renders under the time and work bounds of `bounds`.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jinja2
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.meta import TrackingCodeGenerator
from jinja2.runtime import str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment

from plg.errors import RenderBoundExceeded, TemplateError
from plg.registry import bounds
from plg.registry.bounds import (
    MAX_VALUE_CHARS,
    charge,
    check_int_bits,
    check_size,
    expanded_size,
    run_bounded,
)
from plg.registry.template_checks import static_problems

_FORMAT_SPEC = re.compile(
    r"%[-#0 +*\d.]*[a-zA-Z%]|%\([^)]*\)[-#0 +*\d.]*[a-zA-Z]|\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}"
)
_DIGITS = re.compile(r"\d+")
_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill"}
_SIZED = (str, list, tuple)


class _NoFolding(CodeGenerator):
    """Jinja evaluates constant sub-expressions while compiling, out of reach of any runtime bound; this
    keeps everything but literal text for run time, and routes `~` through a size check."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        if isinstance(node, nodes.TemplateData):
            return super()._output_child_to_const(node, frame, finalize)
        raise nodes.Impossible()

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _NoFoldingTracker(TrackingCodeGenerator):
    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        self.optimizer = None

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        raise nodes.Impossible()


def _format_widths(fmt: str, args: Any, what: str) -> None:
    """`'%999999999d' % 1` and `'{:>999999999}'.format(1)` allocate their width in one C call, and
    `'{0}{0}{0}'.format(x)` repeats its argument."""
    specs = _FORMAT_SPEC.findall(fmt)
    dynamic = False
    for spec in specs:
        for number in _DIGITS.findall(spec):
            if len(number) > 7 or int(number) > MAX_VALUE_CHARS:
                raise RenderBoundExceeded(
                    f"{what}: width {number[:12]} is too large (bound: value size {MAX_VALUE_CHARS:,})"
                )
        dynamic = dynamic or "*" in spec or spec.count("{") > 1
    if dynamic:
        for arg in _flat(args):
            if isinstance(arg, int) and arg > MAX_VALUE_CHARS:
                raise RenderBoundExceeded(
                    f"{what}: width {arg} is too large (bound: value size {MAX_VALUE_CHARS:,})"
                )
    check_size(len(fmt) + len(specs) * expanded_size(args), what)


def _flat(args: Any) -> list[Any]:
    items = (
        list(args.values())
        if isinstance(args, dict)
        else list(args)
        if isinstance(args, list | tuple)
        else [args]
    )
    return (
        [x for item in items for x in _flat(item)]
        if any(isinstance(i, list | tuple | dict) for i in items)
        else items
    )


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _NoFolding

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            _check_product(left, right)
        elif operator_ == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                check_int_bits(left.bit_length() * right, "a power")
        elif operator_ == "+":
            if isinstance(left, _SIZED) and isinstance(right, _SIZED):
                check_size(len(left) + len(right), "a concatenation")
        elif isinstance(left, str):
            _format_widths(left, right, "a % format")
        return self.binop_table[operator_](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        target = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(owner, getattr(target, "__name__", ""), args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, _SIZED):
            charge(len(result))
        return result

    def bounded_concat(self, items: tuple[Any, ...]) -> str:
        check_size(sum(expanded_size(item) for item in items), "a ~ concatenation")
        return str_join(items)


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, _SIZED):
        left, right = right, left
    if isinstance(left, _SIZED) and isinstance(right, int):
        check_size(len(left) * max(right, 0), "a repetition")
    elif isinstance(left, int) and isinstance(right, int):
        check_int_bits(left.bit_length() + right.bit_length(), "a product")


def _check_str_method(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    first = args[0] if args else next(iter(kwargs.values()), None)
    if name in _WIDTH_METHODS and isinstance(first, int):
        check_size(first, f"str.{name}()")
    elif name == "expandtabs" and isinstance(first, int):
        check_size(len(text) + text.count("\t") * first, "str.expandtabs()")
    elif name in ("format", "format_map"):
        _format_widths(text, (args, kwargs), f"str.{name}()")
    elif name == "join" and args:
        items = list(args[0]) if not isinstance(args[0], _SIZED) else args[0]
        check_size(expanded_size(items) + len(text) * len(items), "str.join()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        hits = len(text) + 1 if not args[0] else text.count(args[0])
        check_size(len(text) + hits * len(args[1]), "str.replace()")
    elif name == "translate" and args:
        check_size(len(text) * max(1, expanded_size(args[0]) // 8), "str.translate()")


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], position: int, name: str, default: Any = None) -> Any:
    return args[position] if len(args) > position else kwargs.get(name, default)


def _filter_checks(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Checks for the filters that can build much more than they are given; returns the value to filter
    (a lazy sequence is materialised so its size can be known)."""
    if name in ("join", "sum") and not isinstance(value, _SIZED):
        value = list(value)
    check_size(expanded_size(value), f"the input of |{name}")
    if name == "center":
        check_size(_int(_arg(args, kwargs, 0, "width")), "|center")
    elif name == "indent":
        width = _arg(args, kwargs, 0, "width", 4)
        per_line = width if isinstance(width, int) else len(str(width))
        check_size(per_line * (str(value).count("\n") + 1) + len(str(value)), "|indent")
    elif name in ("batch", "slice"):
        check_size(_int(_arg(args, kwargs, 0, "linecount" if name == "batch" else "slices")), f"|{name}")
    elif name == "join":
        separator = str(_arg(args, kwargs, 0, "d", ""))
        check_size(expanded_size(value) + len(separator) * len(value), "|join")
    elif name == "replace":
        old, new, text = (
            str(_arg(args, kwargs, 0, "old", "")),
            str(_arg(args, kwargs, 1, "new", "")),
            str(value),
        )
        hits = len(text) + 1 if not old else text.count(old)
        check_size(len(text) + hits * len(new), "|replace")
    elif name == "format" and isinstance(value, str):
        _format_widths(value, (args, kwargs), "|format")
    elif name == "wordwrap":
        wrapstring = _arg(args, kwargs, 2, "wrapstring") or "\n"
        check_size(len(str(value)) * (len(str(wrapstring)) + 1), "|wordwrap")
    elif name == "sum" and not isinstance(_arg(args, kwargs, 1, "start", 0), int | float):
        check_size(len(value) ** 2, "|sum of sequences")
    return value


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _bounded_filter(name: str, function: Any) -> Any:
    passes_first = hasattr(function, "jinja_pass_arg")

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        lead, rest = (args[:1], args[1:]) if passes_first else ((), args)
        if rest:
            value = _filter_checks(name, rest[0], rest[1:], kwargs)
            args = (*lead, value, *rest[1:])
        result = function(*args, **kwargs)
        if isinstance(result, _SIZED):
            charge(len(result))
        return result

    return bounded


def _finalize(value: Any) -> Any:
    check_size(len(value) if type(value) is str else expanded_size(value), "an output value")
    return value


_ENV = _BoundedSandbox(
    undefined=StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    optimized=False,
    finalize=_finalize,
)
_ENV.filters = {name: _bounded_filter(name, f) for name, f in _ENV.filters.items()}
_ENV.globals.pop("lipsum", None)


def _syntax_error(err: TemplateSyntaxError, first_line: int, where: str) -> TemplateError:
    line = first_line + (err.lineno or 1) - 1
    return TemplateError(f"{where}, line {line}: template syntax error: {err.message}")


def _parse(source: str, first_line: int, where: str) -> nodes.Template:
    try:
        return _ENV.parse(source)
    except TemplateSyntaxError as err:
        raise _syntax_error(err, first_line, where) from None
    except (ValueError, OverflowError) as err:
        raise TemplateError(f"{where}: template syntax error: {err}") from None
    except RecursionError:
        raise TemplateError(f"{where}: template syntax error: expressions nested too deeply") from None


def compile_template(source: str, first_line: int, where: str) -> Template:
    tree = _parse(source, first_line, where)
    problems = static_problems(tree)
    if problems:
        line, message = problems[0]
        raise RenderBoundExceeded(f"{where}, line {first_line + line - 1}: {message}")
    try:
        return _ENV.from_string(tree)
    except TemplateSyntaxError as err:
        raise _syntax_error(err, first_line, where) from None
    except RecursionError:
        raise TemplateError(f"{where}: template syntax error: expressions nested too deeply") from None


def static_template_problems(source: str, first_line: int, where: str) -> list[str]:
    """Every problem `compile_template` would refuse the template for, found without running it (for lint);
    a syntax error is raised as a TemplateError."""
    tree = _parse(source, first_line, where)
    return [f"line {first_line + line - 1}: {message}" for line, message in static_problems(tree)]


def template_variables(source: str) -> frozenset[str]:
    tracker = _NoFoldingTracker(_ENV)
    tracker.visit(_parse(source, 1, "template"))
    return frozenset(tracker.undeclared_identifiers) - set(_ENV.globals)


def _render_pieces(template: Template, values: dict[str, Any], where: str) -> str:
    pieces: list[str] = []
    budget = bounds.MAX_RENDER_CHARS
    for piece in template.generate(values):
        budget -= len(piece)
        if budget < 0:
            raise RenderBoundExceeded(
                f"{where}: rendered text exceeds {bounds.MAX_RENDER_CHARS:,} characters"
            )
        pieces.append(piece)
    return "".join(pieces)


def render_template(template: Template, values: dict[str, Any], where: str, first_line: int = 1) -> str:
    try:
        text = run_bounded(lambda: _render_pieces(template, values, where), where)
    except UndefinedError as err:
        raise TemplateError(f"{where}, line {first_line}: {err.message}") from None
    except SecurityError as err:
        raise TemplateError(f"{where}, line {first_line}: unsafe template: {err}") from None
    except TemplateError as err:
        if err.message.startswith(where):
            raise
        raise type(err)(f"{where}: {err.message}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError, jinja2.TemplateError) as err:
        raise TemplateError(f"{where}, line {first_line}: render failed: {_first_line(err)}") from None
    return text.strip("\n")


def render_bounded(render: Any, where: str) -> Any:
    """Several renders that make one result (a prompt's sections) share one time and work bound."""
    return run_bounded(render, where)


def render_string(source: str, variables: dict[str, Any], where: str) -> str:
    """Render a small template (scorer values, judge rubrics) in the same sandbox."""
    return render_template(compile_template(source, 1, where), variables, where)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


__all__ = [
    "static_template_problems",
    "compile_template",
    "render_bounded",
    "render_string",
    "render_template",
    "template_variables",
]
