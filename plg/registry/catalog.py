"""Read-only views over the registry that the CLI prints: the prompt list, a version log, a diff."""

from __future__ import annotations

from dataclasses import dataclass

from plg.errors import BadInput, PlgError
from plg.registry.gitreads import STATUS
from plg.registry.prompttext import prompt_text, working_bytes
from plg.registry.versions import PROMPTS_DIR, SUFFIX, Registry, Version, split_ref, validate_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class CatalogEntry:
    """One prompt as `plg list` shows it; `problem` names a file that does not parse."""

    name: str
    latest: int | None
    dirty: bool
    labels: dict[str, int | None]
    model: str
    description: str | None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "problem": self.problem,
            "latest_version": self.latest,
            "modified": self.dirty,
            "labels": self.labels,
            "model": self.model,
            "description": self.description,
        }


@dataclass(frozen=True)
class LogEntry:
    """One version as `plg log` shows it: its labels and its headline recorded score."""

    version: Version
    labels: tuple[str, ...]
    score: str | None = None

    def to_json(self) -> dict[str, Any]:
        v = self.version
        return {
            "version": v.number,
            "commit": v.commit,
            "blob": v.blob,
            "path": v.path,
            "time": v.time.isoformat(),
            "author": v.author,
            "subject": v.subject,
            "labels": list(self.labels),
            "score": self.score,
        }


def catalog(registry: Registry) -> list[CatalogEntry]:
    """Three git calls whatever the number of prompts: histories, labels, working-tree status."""
    from plg import config
    from plg.registry.gitstore import blob_id
    from plg.registry.summaries import summary

    cache_dir = config.state_dir(registry.root) / "summaries"
    status = registry.store.start(*STATUS)
    names = registry.list()
    histories = registry.version_commits()
    all_labels = registry.all_labels()
    dirty = _dirty_names(status())
    if set(all_labels) - set(names):  # a label left under a former name: it follows the prompt's `git mv`
        all_labels = {**all_labels, **{n: registry.labels(n) for n in names if n not in all_labels}}
    entries = []
    real_dirs: dict[str, str] = {}
    for name in names:
        history = histories.get(name, [])
        by_commit = {commit: number for number, commit in enumerate(history, 1)}
        where = f"{PROMPTS_DIR}/{name}{SUFFIX}"
        problem = None
        try:
            validate_name(name)
            data = working_bytes(registry.root, where, real_dirs)
            text = prompt_text(data, where)
            about = summary(cache_dir, blob_id(data), lambda text=text: text, where)  # type: ignore[misc]
            model, description = about.model, about.description
        except PlgError as err:
            problem = err.message.removeprefix(f"{PROMPTS_DIR}/{name}{SUFFIX}: ")
            model, description = "?", f"(invalid: {problem})"
        except OSError as err:
            problem = f"cannot read it ({err.strerror})"
            model, description = "?", f"(invalid: {problem})"
        entries.append(
            CatalogEntry(
                name=name,
                latest=len(history) or None,
                dirty=name in dirty,
                labels={
                    label: by_commit.get(commit) for label, commit in sorted(all_labels.get(name, {}).items())
                },
                model=model,
                description=description,
                problem=problem,
            )
        )
    return entries


def _dirty_names(out: str) -> set[str]:
    names = set()
    fields = iter(out.split("\0"))
    for entry in fields:
        if entry[:1] in ("R", "C"):
            next(fields, None)
        path = entry[3:]
        if path.endswith(SUFFIX):
            names.add(path[len(PROMPTS_DIR) + 1 : -len(SUFFIX)])
    return names


def version_log(registry: Registry, name: str) -> list[LogEntry]:
    from plg.registry.scores import headline, list_notes, own_pipeline, scores_by_commit

    notes = list_notes(registry.store)
    history = registry.versions(name)
    if not history:
        registry.require_exists(name)
    labels_by_commit: dict[str, list[str]] = {}
    for label, commit in registry.labels(name).items():
        labels_by_commit.setdefault(commit, []).append(label)
    recorded = scores_by_commit(registry.store, [v.commit for v in history], notes)
    names = set(registry.known_as(name))  # scores recorded before a `git mv` are this file's too
    own = own_pipeline(registry.root, name, former=names)  # by file name: the front matter is not parsed here
    scores = {commit: headline([s for s in found if s.prompt in names], own) for commit, found in recorded.items()}
    return [
        LogEntry(
            version=v, labels=tuple(sorted(labels_by_commit.get(v.commit, []))), score=scores.get(v.commit)
        )
        for v in reversed(history)
    ]


def diff_versions(registry: Registry, a: str, b: str | None) -> str:
    name_a, ref_a = split_ref(a)
    if b is None:
        name_b, ref_b = name_a, None
    elif "@" in b or b in registry.list():
        name_b, ref_b = split_ref(b)
    else:
        name_b, ref_b = name_a, b
    if ref_a is None and ref_b is None:
        raise BadInput("plg diff needs at least one NAME@REF")
    left = registry.resolve(name_a, ref_a)
    right = registry.resolve(name_b, ref_b)
    import difflib

    lines = difflib.unified_diff(
        left.file.source.splitlines(keepends=True),
        right.file.source.splitlines(keepends=True),
        fromfile=left.ref,
        tofile=right.ref,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
