"""Python evaluators checked without running them: a pipeline and its evaluator files come from pull
requests, so `plg lint` reads the file with `ast` (never imports it) and asks whether plg's call,
`function(output, row)` with two positional arguments, can bind to the function as written."""

from __future__ import annotations

import ast
import hashlib
import os
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


MAX_DEPENDENCIES = 5_000
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})


def scorer_dependencies(path: Path, root: Path) -> tuple[Path, ...]:
    """Every repository file a python scorer can read without naming it in the pipeline: the files under
    its own folder (data it opens beside itself) and, transitively, the repository modules it imports
    (resolved with `ast` against the importing file's folder, the scorer's folder and the repository root;
    never by importing). Their content is part of the scorer's identity and of the gate's inputs, so
    tightening `rules.py`, which `checks.py` imports, is a new eval. Sorted, inside `root`, without the
    scorer itself; hidden folders (`.git`, `.plg`) and `__pycache__` are not repository content."""
    root = root.resolve()
    path = path.resolve()
    found: set[Path] = set(_files_under(path.parent, root))
    queue = [path, *(p for p in found if p.suffix == ".py")]
    seen: set[Path] = set()
    while queue and len(seen) < MAX_DEPENDENCIES:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        for imported in _imported_files(module, path.parent, root):
            if imported not in found:
                found.add(imported)
                queue.append(imported)
    found.discard(path)
    return tuple(sorted(found))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _files_under(folder: Path, root: Path) -> list[Path]:
    if not _inside(folder, root):
        return []
    files: list[Path] = []
    for current, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        files += [
            (Path(current) / n).resolve() for n in sorted(names) if not n.startswith(".") and not n.endswith(".pyc")
        ]
        if len(files) >= MAX_DEPENDENCIES:
            break
    return [f for f in files[:MAX_DEPENDENCIES] if f.is_file() and _inside(f, root)]


def _imported_files(module: Path, scorer_dir: Path, root: Path) -> list[Path]:
    try:
        tree = ast.parse(module.read_bytes(), filename=str(module))
    except (SyntaxError, ValueError, OSError):
        return []
    names: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(0, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names.append((node.level, base))
            names += [(node.level, f"{base}.{a.name}" if base else a.name) for a in node.names if a.name != "*"]
    files = []
    for level, name in names:
        if level:
            anchor = module.parent
            for _ in range(level - 1):
                anchor = anchor.parent
            bases = [anchor]
        else:
            bases = [module.parent, scorer_dir, root]
        for base in bases:
            target = _module_file(base, name)
            if target is not None and _inside(target, root):
                files.append(target)
                break
    return files


def _module_file(base: Path, dotted: str) -> Path | None:
    parts = [p for p in dotted.split(".") if p]
    stem = base.joinpath(*parts) if parts else base
    for candidate in (stem.with_suffix(".py") if parts else None, stem / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate.resolve()
    return None


def dependencies_hash(path: Path, root: Path) -> str:
    """One digest of the repository-relative path and content of each of `scorer_dependencies`."""
    digest = hashlib.sha256()
    for dependency in scorer_dependencies(path, root):
        try:
            content = dependency.read_bytes()
        except OSError:
            content = b"\0missing"
        digest.update(dependency.relative_to(root.resolve()).as_posix().encode() + b"\0" + content + b"\0")
    return digest.hexdigest()
