"""Python evaluators checked without running them: a pipeline and its evaluator files come from pull
requests, so `plg lint` reads the file with `ast` (never imports it) and asks whether plg's call,
`function(output, row)` with two positional arguments, can bind to the function as written."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

CALL = "(output, row)"
_SWAPPED_FIRST = {"row", "inputs", "variables", "example", "record"}
_SWAPPED_SECOND = {"output", "response", "completion", "answer", "text"}


@dataclass(frozen=True)
class Problem:
    severity: str  # "error": plg's call cannot work; "warning": it may not do what was meant
    message: str


def check_function(path: Path, name: str) -> Problem | None:
    """`path` is already known to be inside the repository."""
    if not path.is_file():
        return Problem("error", "file not found")
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as err:
        return Problem("error", f"does not parse: line {err.lineno}: {err.msg}")
    except (ValueError, OSError) as err:
        return Problem("error", f"cannot be read as Python: {err}")
    found: ast.AST | None = None
    for node in tree.body:  # the last top-level binding wins, as when Python runs the module
        if _binds(node, name):
            found = node
    if found is None:
        return Problem("error", f"no top-level function '{name}'")
    if isinstance(found, ast.ClassDef):
        return Problem("error", f"'{name}' is a class, not a function")
    if not isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return Problem("warning", f"'{name}' is not defined with `def`: its signature cannot be checked")
    if found.decorator_list:
        return Problem("warning", f"'{name}' is decorated: its signature cannot be checked")
    return signature_problem(found.args)


def _binds(node: ast.stmt, name: str) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == name
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t))
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return any((a.asname or a.name.split(".")[0]) == name for a in node.names)
    return False


def signature_problem(args: ast.arguments) -> Problem | None:
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    required = len(positional) - len(args.defaults)
    shown = f"({', '.join(positional)})" if positional else "no positional parameters"
    if required > 2:
        return Problem("error", f"needs {required} positional arguments {shown}; plg calls it with {CALL}")
    if len(positional) < 2 and args.vararg is None:
        return Problem("error", f"takes {shown}; plg calls it with two arguments {CALL}")
    bare = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None]
    if bare:
        return Problem(
            "error", f"keyword-only parameter '{bare[0]}' has no default; plg passes only {CALL}"
        )
    if len(positional) >= 2 and positional[0] in _SWAPPED_FIRST and positional[1] in _SWAPPED_SECOND:
        return Problem(
            "warning", f"parameters ({positional[0]}, {positional[1]}) look swapped: plg passes {CALL}"
        )
    return None
