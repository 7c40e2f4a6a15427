"""Which prompts a push or pull request changed.

A prompt's result depends on more than its own file: its eval pipeline, the datasets and history it
reads, the code evaluators and schemas its scorers load. A change to any of them changes the prompt's
scores, so CI must evaluate it; a change to none of them must cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from plg.errors import BadInput, NoPipeline, PlgError
from plg.registry.gitstore import PathChange
from plg.registry.versions import PROMPTS_DIR, SUFFIX, Registry


@dataclass(frozen=True)
class Dependencies:
    """Repository-relative paths a prompt's scores are computed from."""

    prompt: str
    pipeline: str | None
    files: frozenset[str]
    problem: str | None = None


@dataclass(frozen=True)
class ChangedPrompt:
    name: str
    status: str  # added | modified | removed | renamed | inputs
    paths: tuple[str, ...]
    prompt_path: str
    problem: str | None = None


def prompt_name(path: str) -> str | None:
    if path.startswith(f"{PROMPTS_DIR}/") and path.endswith(SUFFIX):
        return path[len(PROMPTS_DIR) + 1 : -len(SUFFIX)]
    return None


def dependencies(registry: Registry, name: str) -> Dependencies:
    """The files in the working tree that feed this prompt's eval, backtest and gate."""
    from plg.evals.config import PythonConfig, find_pipeline, load_pipeline
    from plg.evals.pycheck import scorer_dependencies

    prompt = registry.prompt_path(name)
    root = registry.root
    try:
        front = registry.resolve(name, None).front
        pipeline_path = find_pipeline(root, name, front.eval, None)
        loaded = load_pipeline(pipeline_path)
    except NoPipeline:
        return Dependencies(prompt, None, frozenset({prompt}))
    except PlgError as err:
        return Dependencies(prompt, None, frozenset({prompt}), problem=err.message)
    config = loaded.config
    found: set[Path] = {pipeline_path, *loaded.datasets}
    for scorer in config.scorers:
        if isinstance(scorer, PythonConfig):
            code = loaded.resolve(scorer.function.rpartition(":")[0])
            found.add(code)
            found.update(scorer_dependencies(code, root))  # what it imports or opens is its code too
        schema_file = getattr(scorer, "schema_file", None)
        if schema_file:
            found.add(loaded.resolve(schema_file))
    found.add(root / "evals" / "history" / f"{name}.jsonl")
    for gate in config.gate.values():
        if gate.backtest is not None and gate.backtest.history:
            found.add(root / gate.backtest.history)
    files = {prompt}
    for path in found:
        relative = _relative(root, path)
        if relative is not None:
            files.add(relative)
    return Dependencies(prompt, _relative(root, pipeline_path), frozenset(files))


def changed_prompts(registry: Registry, base: str, head: str = "HEAD") -> list[ChangedPrompt]:
    """Prompts whose file or any of its inputs differs between `base` and `head`, sorted by name."""
    changes = registry.store.changed_paths(base, head)
    touched = {c.path for c in changes} | {c.old_path for c in changes if c.old_path}
    if not touched:
        return []
    result: dict[str, ChangedPrompt] = {}
    for change in changes:
        _from_prompt_file(change, result)
    if any(prompt_name(p) is None for p in touched):
        for name in registry.list():
            if name in result:
                continue
            deps = dependencies(registry, name)
            hit = sorted(deps.files & touched)
            if hit:
                result[name] = ChangedPrompt(name, "inputs", tuple(hit), deps.prompt, deps.problem)
    return [result[n] for n in sorted(result)]


def all_prompts(registry: Registry) -> list[ChangedPrompt]:
    """Every prompt, for a first push or a run with no base to compare with."""
    return [
        ChangedPrompt(name, "added", (registry.prompt_path(name),), registry.prompt_path(name))
        for name in registry.list()
    ]


def _from_prompt_file(change: PathChange, result: dict[str, ChangedPrompt]) -> None:
    name = prompt_name(change.path)
    old_name = prompt_name(change.old_path) if change.old_path else None
    if name is None:
        if old_name is not None and change.status == "R":
            result[old_name] = ChangedPrompt(
                old_name, "removed", (change.old_path or "",), change.old_path or ""
            )
        return
    status = {"A": "added", "D": "removed", "R": "renamed", "C": "added"}.get(change.status, "modified")
    paths = tuple(p for p in (change.old_path, change.path) if p)
    result[name] = ChangedPrompt(name, status, paths, change.path)


def _relative(root: Path, path: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def resolve_base(registry: Registry, base: str) -> str:
    try:
        return registry.store.resolve_commit(base)
    except PlgError:
        raise BadInput(
            f"base {base!r} is not a commit in this clone (check out with fetch-depth: 0, or fetch it)"
        ) from None
