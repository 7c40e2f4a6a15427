"""The base judges the head: a pull request may change its prompt and its judge (pipeline, datasets, history,
scorer code, the prompt's `eval:` key, `plg.toml`) in one go, so CI also judges the head with the base
branch's pipeline and gate, read from the base commit's own tree, and lists every change to a judge input,
with the bounds it moves, at the top of the report.

The base tree is written to a temporary folder with `git archive` (the checkout is untouched); no git runs
inside it, and its pipeline's paths must stay inside it like any pipeline's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from plg.errors import BadInput, NoPipeline, PlgError
from plg.registry.versions import Registry

SETTINGS_FILES = ("plg.toml", "pyproject.toml")
_STATUS = {"A": "added", "D": "removed", "R": "renamed", "C": "added"}


@dataclass(frozen=True)
class Judge:
    """Which pipeline judges a prompt on one side, and the repository files it reads."""

    pipeline: Path | None
    relative: str | None
    files: dict[str, str]  # repository-relative path -> what it is (pipeline, dataset, history, scorer code)
    problem: str | None = None


@dataclass(frozen=True)
class InputChange:
    path: str
    change: str
    what: str
    prompts: tuple[str, ...]
    bounds: tuple[str, ...]


class BaseRooted:
    """The head's registry (versions, notes, labels) seen from the base tree: every file an eval or gate
    reads through `.root` (the backtest's history, settings, a default pipeline) is the base's, while
    versions still resolve in the head's history and scores are still recorded in its notes."""

    def __init__(self, registry: Registry, root: Path) -> None:
        self._registry = registry
        self.root = root

    def __getattr__(self, name: str) -> object:
        return getattr(self._registry, name)


@contextmanager
def base_tree(registry: Registry, sha: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="plg-base-") as tmp:
        root = Path(tmp) / "base"
        root.mkdir()
        registry.store.export_tree(sha, root)
        # marks the tree's root, so the base pipeline's paths resolve (and must stay) inside it
        (root / ".git").write_text("")
        yield root


def judge_of(root: Path, name: str, eval_key: str | None) -> Judge:
    """The pipeline `find_pipeline` picks in the tree at `root`, and what it reads."""
    from plg.evals.config import PythonConfig, find_pipeline, load_pipeline

    try:
        path = find_pipeline(root, name, eval_key, None)
        loaded = load_pipeline(path, root)
    except NoPipeline:
        return Judge(None, None, {})
    except PlgError as err:
        return Judge(None, None, {}, err.message)
    found: dict[Path, str] = {path: "pipeline"}
    for dataset in loaded.datasets:
        found[dataset] = "dataset"
    for scorer in loaded.config.scorers:
        try:
            if isinstance(scorer, PythonConfig):
                found[loaded.resolve(scorer.function.rpartition(":")[0])] = "scorer code"
            schema_file = getattr(scorer, "schema_file", None)
            if schema_file:
                found[loaded.resolve(schema_file)] = "scorer schema"
        except BadInput:
            continue
    found.setdefault(root / "evals" / "history" / f"{name}.jsonl", "history")
    for gate in loaded.config.gate.values():
        if gate.backtest is not None and gate.backtest.history:
            found.setdefault(root / gate.backtest.history, "history")
    files = {}
    for file, what in found.items():
        relative = _relative(root, file)
        if relative is not None:
            files.setdefault(relative, what)
    return Judge(path, _relative(root, path), files)


def head_judge(registry: Registry, name: str) -> Judge:
    try:
        eval_key = registry.resolve(name, "HEAD").front.eval
    except PlgError:
        eval_key = None
    return judge_of(registry.root, name, eval_key)


def base_judge(registry: Registry, name: str, base_sha: str, root: Path) -> Judge:
    """The base's pipeline for `name`: the one its base version's `eval:` names, else the default one."""
    try:
        eval_key = registry.resolve(name, base_sha).front.eval
    except PlgError:
        eval_key = None  # new in this change: the base's default pipeline for the name, if it has one
    return judge_of(root, name, eval_key)


def bounds_of(pipeline: Path | None, root: Path) -> dict[str, float]:
    """Every bound a pipeline sets, by the words the report uses ("production's min_score")."""
    from plg.evals.config import load_pipeline

    if pipeline is None or not pipeline.is_file():
        return {}
    try:
        config = load_pipeline(pipeline, root).config
    except PlgError:
        return {}
    out: dict[str, float] = {}
    if config.threshold is not None:
        for key in ("min_score", "min_pass_rate", "max_error_rate"):
            value = getattr(config.threshold, key)
            if value is not None:
                out[f"the threshold's {key}"] = value
    for label, gate in config.gate.items():
        for key in ("min_score", "min_pass_rate", "max_regression", "max_error_rate"):
            value = getattr(gate, key)
            if value is not None:
                out[f"{label}'s {key}"] = value
        if gate.backtest is not None:
            for key in ("min_similarity", "max_changed", "min_exact"):
                value = getattr(gate.backtest, key)
                if value is not None:
                    out[f"{label}'s backtest {key}"] = value
    return out


def describe_bounds(old: dict[str, float], new: dict[str, float]) -> tuple[str, ...]:
    """"this PR lowers production's min_score 0.6 → 0.0 (softer)", one line per bound that moved."""
    lines = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        is_floor = key.rsplit(" ", 1)[-1].rsplit("'s ", 1)[-1].startswith("min_")
        if after is None:
            lines.append(f"this PR removes {key} (was {_n(before)}) (softer)")
        elif before is None:
            lines.append(f"this PR adds {key} {_n(after)} (stricter)")
        else:
            lowered = after < before
            softer = lowered if is_floor else not lowered
            verb = "lowers" if lowered else "raises"
            lines.append(
                f"this PR {verb} {key} {_n(before)} → {_n(after)} ({'softer' if softer else 'stricter'})"
            )
    return tuple(lines)


def _n(value: float) -> str:
    shown = f"{value:g}"
    return shown if "." in shown or "e" in shown else f"{value:.1f}"


def input_changes(
    registry: Registry, base_sha: str, root: Path, judges: dict[str, tuple[Judge, Judge]]
) -> list[InputChange]:
    """Every changed file a changed prompt's judge reads, on either side, and every prompt whose pipeline
    is another file than the base's (a new pipeline the change adds and points the prompt at included)."""
    changes = {c.path: c for c in registry.store.changed_paths(base_sha, "HEAD")}
    for c in list(changes.values()):
        if c.old_path:
            changes.setdefault(c.old_path, c)
    readers: dict[str, tuple[str, set[str]]] = {}
    for name, (base, head) in judges.items():
        for files in (base.files, head.files):
            for path, what in files.items():
                readers.setdefault(path, (what, set()))[1].add(name)
    for settings in SETTINGS_FILES:
        readers.setdefault(settings, ("settings", set(judges)))
    out: list[InputChange] = []
    for name, (base, head) in sorted(judges.items()):
        if base.relative == head.relative:
            continue
        shown = f"`eval:` {base.relative or 'no pipeline'} → {head.relative or 'no pipeline'}"
        out.append(
            InputChange(
                path=registry.prompt_path(name),
                change="modified",
                what=f"{name}'s pipeline: {shown}",
                prompts=(name,),
                bounds=describe_bounds(bounds_of(base.pipeline, root), bounds_of(head.pipeline, registry.root)),
            )
        )
    pipelines_moved = {h.relative for b, h in judges.values() if b.relative != h.relative}
    for path in sorted(readers):
        change = changes.get(path)
        if change is None:
            continue
        what, prompts = readers[path]
        status = _STATUS.get(change.status, "modified")
        bounds: tuple[str, ...] = ()
        if what == "pipeline":
            if path in pipelines_moved:
                what = "new pipeline" if status == "added" else "pipeline (now judging it)"
                for b, h in judges.values():
                    if h.relative == path and b.relative != path:
                        bounds += describe_bounds(bounds_of(b.pipeline, root), bounds_of(h.pipeline, registry.root))
            else:
                bounds = describe_bounds(bounds_of(root / path, root), bounds_of(registry.root / path, registry.root))
        out.append(InputChange(path, status, what, tuple(sorted(prompts)), bounds))
    return out


def _relative(root: Path, path: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return None
