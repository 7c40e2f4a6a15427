"""What a template's source shows before it runs: constant expressions and loops too large for the render
bounds, and constructs prompts never need. `compile_template` refuses them and `plg lint` reports them.

Nothing large is ever computed here: sizes are worked out from the operands (`9**99999999` is refused from
the bit length of 9 and the exponent), which is why Jinja's own constant folding is switched off.
"""

from __future__ import annotations

from typing import Any

from jinja2 import nodes

from plg.registry.bounds import MAX_INT_BITS, MAX_LOOP_ITERATIONS, MAX_RANGE, MAX_VALUE_CHARS

_UNKNOWN = object()
_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill"}
_COUNT_FILTERS = {"center": "width", "batch": "linecount", "slice": "slices"}


class _Checker:
    def __init__(self) -> None:
        self.problems: dict[tuple[int, str], None] = {}

    def report(self, node: nodes.Node, message: str) -> None:
        self.problems[(node.lineno or 1, message)] = None

    def too_big(self, node: nodes.Node, what: str, size: int, bound: int, unit: str) -> bool:
        if size <= bound:
            return False
        self.report(node, f"{what} would be {_amount(size)} {unit} (bound: {bound:,} {unit})")
        return True

    def value(self, node: nodes.Node) -> Any:
        """The node's value when it is a small constant, else _UNKNOWN (reporting what is too large)."""
        if isinstance(node, nodes.Const):
            return node.value
        if isinstance(node, nodes.List | nodes.Tuple):
            items = [self.value(item) for item in node.items]
            if any(item is _UNKNOWN for item in items):
                return _UNKNOWN
            return items if isinstance(node, nodes.List) else tuple(items)
        if isinstance(node, nodes.Neg):
            inner = self.value(node.node)
            return -inner if isinstance(inner, int | float) else _UNKNOWN
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range":
            return self.range_of(node)
        if isinstance(node, nodes.Mul | nodes.Pow | nodes.Add):
            return self.binop(node, self.value(node.left), self.value(node.right))
        return _UNKNOWN

    def binop(self, node: nodes.BinExpr, left: Any, right: Any) -> Any:
        if left is _UNKNOWN or right is _UNKNOWN:
            return _UNKNOWN
        problem = _binop_size(node.operator, left, right)
        if problem is not None and self.too_big(node, *problem):
            return _UNKNOWN
        try:
            return {"*": lambda a, b: a * b, "**": lambda a, b: a**b, "+": lambda a, b: a + b}[node.operator](
                left, right
            )
        except (TypeError, ValueError, ArithmeticError):
            return _UNKNOWN

    def range_of(self, node: nodes.Call) -> Any:
        if node.kwargs or node.dyn_args or node.dyn_kwargs:
            return _UNKNOWN
        args = [self.value(arg) for arg in node.args]
        if not args or any(type(a) is not int for a in args):
            return _UNKNOWN
        try:
            span = range(*args)
        except (TypeError, ValueError):
            return _UNKNOWN
        if self.too_big(node, "range()", len(span), MAX_RANGE, "items"):
            return _UNKNOWN
        return span

    def argument(self, call: nodes.Call | nodes.Filter, position: int, keyword: str) -> Any:
        if len(call.args) > position:
            return self.value(call.args[position])
        for kw in call.kwargs:
            if kw.key == keyword:
                return self.value(kw.value)
        return _UNKNOWN

    def iterations(self, node: nodes.Node) -> int | None:
        value = self.value(node)
        if isinstance(value, str | list | tuple | range):
            return len(value)
        return None

    def walk(self, node: nodes.Node, loops: int) -> None:
        if isinstance(node, nodes.For):
            self.walk(node.iter, loops)
            count = self.iterations(node.iter)
            inner = loops * (count if count is not None else 1)
            if count is not None and inner > MAX_LOOP_ITERATIONS and loops <= MAX_LOOP_ITERATIONS:
                self.report(
                    node,
                    f"loops nested here would run {_amount(inner)} iterations "
                    f"(bound: {MAX_LOOP_ITERATIONS:,} loop iterations)",
                )
            for child in (*node.body, *([node.test] if node.test else [])):
                self.walk(child, inner)
            for child in node.else_:
                self.walk(child, loops)
            return
        if isinstance(node, nodes.ScopedEvalContextModifier | nodes.EvalContextModifier):
            self.report(node, "autoescape blocks are not supported in prompt templates")
            return
        if type(node) in _LOADS:
            self.report(node, f"{{% {_LOADS[type(node)]} %}} is not available: a prompt template cannot load other files")
            return
        self.private_name(node)
        self.expression(node)
        for child in node.iter_child_nodes():
            self.walk(child, loops)

    def private_name(self, node: nodes.Node) -> None:
        """`x.__class__`, `x['__init__']` and `x|attr('__class__')` always fail in the sandbox (every value
        has those attributes, and it refuses them): said when the template compiles rather than as an
        error on every row. A single underscore (`meta._id`) is left alone: a dict's key of that name reads."""
        name = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem):
            name = self.value(node.arg)
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            name = self.value(node.args[0])
        if isinstance(name, str) and name.startswith("__"):
            self.report(node, f"'{name}' is not accessible: names starting with '__' are refused in templates")

    def expression(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Const) and isinstance(node.value, int):
            self.too_big(node, "a number", node.value.bit_length(), MAX_INT_BITS, "bits")
        elif isinstance(node, nodes.BinExpr | nodes.Call):
            self.value(node)
            method = (
                node.node.attr
                if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr)
                else ""
            )
            width = self.argument(node, 0, "width") if method in _WIDTH_METHODS else None
            if isinstance(width, int):
                self.too_big(node, f"{method}()", width, MAX_VALUE_CHARS, "characters")
        elif isinstance(node, nodes.Filter) and node.name in _COUNT_FILTERS:
            count = self.argument(node, 0, _COUNT_FILTERS[node.name])
            if isinstance(count, int):
                self.too_big(node, f"|{node.name}", count, MAX_VALUE_CHARS, "characters or items")


_LOADS: dict[type[nodes.Node], str] = {
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
    nodes.Extends: "extends",
}


def _binop_size(operator: str, left: Any, right: Any) -> tuple[str, int, int, str] | None:
    """(what, size, bound, unit) for an operation whose result could be large, worked out from the operands."""
    sized = (str, list, tuple)
    if operator == "*":
        seq, count = (right, left) if isinstance(left, int) and isinstance(right, sized) else (left, right)
        if isinstance(seq, sized) and isinstance(count, int):
            return "a repetition", len(seq) * count, MAX_VALUE_CHARS, "characters or items"
        if isinstance(seq, int) and isinstance(count, int):
            return "a product", seq.bit_length() + count.bit_length(), MAX_INT_BITS, "bits"
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        return "a power", left.bit_length() * right, MAX_INT_BITS, "bits"
    if operator == "+" and isinstance(left, sized) and isinstance(right, sized):
        return "a concatenation", len(left) + len(right), MAX_VALUE_CHARS, "characters"
    return None


def _amount(size: int) -> str:
    return f"{size:,}" if size < 10**15 else f"about 10^{int(size.bit_length() * 0.30103)}"


def static_problems(tree: nodes.Template) -> list[tuple[int, str]]:
    """(line, message) for each problem, in source order."""
    checker = _Checker()
    checker.walk(tree, 1)
    return sorted(checker.problems)
