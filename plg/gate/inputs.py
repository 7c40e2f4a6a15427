"""What a gate decision is computed from, and the refusal of any of it that is not committed.

The gate reads the pipeline, its datasets, the backtest history, python scorers (and what they import or
open), schema files and the settings from the work tree. A label move recorded as "gate passed" must mean
the repository's committed, reviewable files passed it, so `plg promote` (and `--dry-run`) first asks git
whether any of them differs from HEAD: modified, staged, untracked or ignored-but-read. git's own status
is the judge (it honours `core.autocrlf` and clean filters, which a byte comparison would not).

Design decision: the gate inputs are HEAD's committed files. A candidate older than HEAD (`NAME@2`) is
judged by HEAD's gate (the branch's current, reviewed pipeline and data), not by the gate as it stood in
the candidate's commit: tightening a bar or a dataset applies to every version promoted after it.
"""

from __future__ import annotations

from pathlib import Path

from plg.errors import BadInput, NoPipeline
from plg.registry.versions import PromptVersion, Registry

SETTINGS_FILES = ("plg.toml", "pyproject.toml")
ALLOWED_SIGNERS = ".github/plg-allowed-signers"


def _relative(root: Path, path: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def _first_inputs(registry: Registry, candidate: PromptVersion, with_prompt: bool) -> tuple[list[str], Path | None]:
    """The files that say where the rest is: settings, the prompt file (when the work tree's is the
    candidate), the pipeline."""
    from plg.evals.config import find_pipeline

    paths = [*SETTINGS_FILES, ALLOWED_SIGNERS]
    if with_prompt:
        paths.append(registry.prompt_path(candidate.name))
    try:
        pipeline = find_pipeline(registry.root, candidate.name, candidate.front.eval, None)
    except NoPipeline:
        return paths, None
    relative = _relative(registry.root, pipeline)
    if relative is not None:
        paths.append(relative)
    return paths, pipeline


def gate_inputs(registry: Registry, candidate: PromptVersion, label: str, *, with_prompt: bool = True) -> tuple[str, ...]:
    """Every repository file (relative, sorted) a gate decision for `candidate` on `label` may read."""
    from plg.evals.config import JsonConfig, PythonConfig, load_pipeline
    from plg.evals.pycheck import scorer_dependencies

    paths, pipeline = _first_inputs(registry, candidate, with_prompt)
    if pipeline is None:
        return tuple(sorted(set(paths)))
    root = registry.root
    loaded = load_pipeline(pipeline)
    found: set[Path] = set(loaded.datasets)
    for scorer in loaded.config.scorers:
        if isinstance(scorer, PythonConfig):
            code = loaded.resolve(scorer.function.rpartition(":")[0])
            found.add(code)
            found.update(scorer_dependencies(code, root))
        elif isinstance(scorer, JsonConfig) and scorer.schema_file:
            found.add(loaded.resolve(scorer.schema_file))
    gate = loaded.config.gate.get(label)
    if gate is not None and gate.backtest is not None:
        history = gate.backtest.history or f"evals/history/{candidate.name}.jsonl"
        found.add(root / history)
    paths += [r for r in (_relative(root, p) for p in found) if r is not None]
    return tuple(sorted(set(paths)))


def dirty_inputs(registry: Registry, paths: list[str] | tuple[str, ...]) -> list[str]:
    """The paths git reports as differing from HEAD: modified, staged, deleted, untracked or ignored."""
    if not paths:
        return []
    out = registry.store.run(
        "status", "--porcelain", "-z", "--untracked-files=all", "--ignored=matching", "--", *paths
    )
    entries = out.split("\0")
    dirty: list[str] = []
    skip = False
    for entry in entries:
        if skip:
            skip = False
            continue
        if len(entry) < 4:
            continue
        dirty.append(entry[3:])
        skip = entry[0] in "RC"  # a rename's or copy's entry is followed by its old path
    return sorted(set(dirty))


def require_committed_inputs(registry: Registry, candidate: PromptVersion, label: str, *, with_prompt: bool) -> None:
    """Refuse (exit 2, naming the files) a gate whose inputs are not all committed, before anything is
    judged. The files that locate the others are checked first, so a dirty pipeline is refused before
    its datasets are even listed from it."""
    first, _ = _first_inputs(registry, candidate, with_prompt)
    dirty = dirty_inputs(registry, first) or dirty_inputs(
        registry, gate_inputs(registry, candidate, label, with_prompt=with_prompt)
    )
    if dirty:
        raise BadInput(
            f"gate inputs not committed: {', '.join(dirty)}: the gate decides on committed files only "
            "(commit them, or stash them)"
        )
