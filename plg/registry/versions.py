"""Prompts in a tree: names, versions from first-parent history, and `name@ref` resolution."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from plg.errors import InvalidName, NotFound
from plg.registry.gitreads import PROMPTS_DIR, SUFFIX, TAG_PREFIX  # noqa: F401  (TAG_PREFIX re-exported)
from plg.registry.gitstore import FileChange, GitStore, blob_id, is_sha
from plg.registry.labelrefs import LabelLookup
from plg.registry.prompttext import prompt_text, working_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from plg.registry.prompt import FrontMatter, Message, PromptFile
    from plg.registry.summaries import PromptSummary

_NAME_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_VERSION_REF = re.compile(r"^v?(\d+)$")
_RESERVED_NAME = re.compile(r"^(v?\d+|head)$", re.IGNORECASE)
MAX_NAME_CHARS = 100
WORKING_TREE = "working tree"


@dataclass(frozen=True)
class Version:
    """One entry of a prompt's history: version N is the Nth first-parent commit changing its content."""

    number: int
    commit: str
    blob: str
    path: str
    time: datetime
    author: str
    subject: str

    @classmethod
    def from_change(cls, number: int, change: FileChange) -> Version:
        return cls(
            number=number,
            commit=change.commit,
            blob=change.blob,
            path=change.path,
            time=datetime.fromtimestamp(change.time, tz=timezone.utc),
            author=change.author,
            subject=change.subject,
        )


@dataclass(frozen=True)
class Location:
    """Which file `name@ref` means (its blob), before anything reads or parses it."""

    name: str
    version: int | None
    commit: str | None
    blob: str
    path: str
    where: str
    label: str | None = None
    data: bytes | None = None  # the working-tree file's content, already read


@dataclass(frozen=True)
class PromptVersion:
    """A resolved prompt: what `name@ref` means, with everything needed to render and call it."""

    name: str
    version: int | None
    commit: str | None
    blob: str
    path: str
    file: PromptFile
    label: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}" if self.version is not None else f"{self.name} ({WORKING_TREE})"

    @property
    def front(self) -> FrontMatter:
        return self.file.front

    @property
    def model(self) -> str:
        return self.file.front.model

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.file.front.params)

    @property
    def inputs(self) -> dict[str, Any]:
        return dict(self.file.front.inputs)

    @property
    def template(self) -> str:
        return self.file.template

    def render(self, variables: dict[str, Any] | None = None, /, **kwargs: Any) -> list[Message]:
        return self.file.render({**(variables or {}), **kwargs}, where=self.ref)


def validate_name(name: str, what: str = "prompt name") -> str:
    """The one rule for prompt and label names, stricter than git's ref rules so git never sees a name it
    refuses: '/'-separated parts of ASCII letters, digits, '_', '-', '.', at most 100 characters, not read
    as a version or HEAD. A name becomes a file path and a tag (`prompts/<name>@<label>`)."""
    if not isinstance(name, str) or not name:
        raise InvalidName(f"{what} is empty")
    shown = repr(name[:60] + ("..." if len(name) > 60 else ""))
    if len(name) > MAX_NAME_CHARS:
        raise InvalidName(f"{what} {shown} is {len(name)} characters long (at most {MAX_NAME_CHARS})")
    for segment in name.split("/"):
        if not _NAME_SEGMENT.match(segment):
            raise InvalidName(
                f"{what} {shown} is not valid: use ASCII letters, digits, '_', '-', '.' and '/' "
                "(each part starting with a letter, digit or '_')"
            )
        if ".." in segment or segment.endswith((".lock", ".")):
            raise InvalidName(
                f"{what} {shown} is not valid: a part may not contain '..' or end in '.' or '.lock'"
            )
    if _RESERVED_NAME.match(name):
        raise InvalidName(f"{what} {shown} is reserved: it would be read as a version number or HEAD")
    return name


def _prompt_name(path: str) -> str:
    return path[len(PROMPTS_DIR) + 1 : -len(SUFFIX)]


def split_ref(spec: str) -> tuple[str, str | None]:
    name, sep, ref = spec.partition("@")
    if sep and not ref:
        raise NotFound(f"'{spec}': empty reference after '@'")
    return name, (ref if sep else None)


class Registry(LabelLookup):
    def __init__(self, path: str | Path = ".", store: GitStore | None = None) -> None:
        self.store = store or GitStore(path)
        self.root = self.store.root
        self._parsed: dict[str, PromptFile] = {}
        self._histories: dict[str, list[Version]] = {}

    def forget_history(self) -> None:
        """Version lists are cached per Registry; a long-lived owner (the SDK) drops them when HEAD moves."""
        self._histories.clear()

    def prompt_path(self, name: str) -> str:
        return f"{PROMPTS_DIR}/{validate_name(name)}{SUFFIX}"

    def list(self) -> list[str]:
        if self.store.bare:
            paths = self.store.list_tree("HEAD", PROMPTS_DIR)
            return sorted(p[len(PROMPTS_DIR) + 1 : -len(SUFFIX)] for p in paths if p.endswith(SUFFIX))
        base = self.root / PROMPTS_DIR
        if not base.is_dir():
            return []
        # a folder or a FIFO named x.prompt is no prompt (reading a FIFO would wait forever)
        found = (p for p in base.rglob(f"*{SUFFIX}") if p.is_file())
        return sorted(p.relative_to(base).as_posix()[: -len(SUFFIX)] for p in found)

    def all_versions(self) -> dict[str, list[Version]]:
        """Every prompt's history from a single git call (none when HEAD has not moved, only the new
        commits when it moved forward): what `plg list` needs for 200 prompts."""
        head = self.store.ref_value("HEAD")
        if head is None:
            return {}
        return {
            _prompt_name(path): [Version.from_change(i, c) for i, c in enumerate(changes, 1)]
            for path, changes in self._tree_histories(head).items()
            if path.endswith(SUFFIX)
        }

    def version_commits(self) -> dict[str, list[str]]:
        """Each prompt's version commits, oldest first: what `plg list` needs, read straight from the
        cache when HEAD has not moved (no Version objects built)."""
        from plg.registry import versioncache

        head = self.store.ref_value("HEAD")
        if head is None:
            return {}
        found = versioncache.load_tree_commits(self._versions_cache(), PROMPTS_DIR, head)
        if found is None:
            found = {path: [c.commit for c in changes] for path, changes in self._tree_histories(head).items()}
        return {_prompt_name(path): commits for path, commits in found.items() if path.endswith(SUFFIX)}

    def _versions_cache(self) -> Path:
        from plg import config

        return config.state_dir(self.root) / "versions"

    def _tree_histories(self, head: str) -> dict[str, list[FileChange]]:
        """Every file's history under prompts/ at `head`: cached, extended from a cached first-parent
        ancestor, or walked whole."""
        from plg.registry import versioncache

        cache_dir = self._versions_cache()
        cached = versioncache.load_tree(cache_dir, PROMPTS_DIR)
        if cached is not None and cached[0] == head:
            return cached[1]
        if cached is not None and self.store.first_parent_ancestor(cached[0], head):
            histories = self.store.tree_history(PROMPTS_DIR, since=cached[0], base=cached[1])
        else:
            histories = self.store.tree_history(PROMPTS_DIR)
        versioncache.save_tree(cache_dir, PROMPTS_DIR, head, histories)
        return histories

    def versions(self, name: str) -> list[Version]:
        path = self.prompt_path(name)
        if path not in self._histories:
            self._histories[path] = [Version.from_change(i, c) for i, c in enumerate(self._changes(path), 1)]
        return self._histories[path]

    def _changes(self, path: str) -> list[FileChange]:
        from plg.registry import versioncache

        head = self.store.ref_value("HEAD")
        if head is None:
            return []
        cache_dir = self._versions_cache()
        changes = versioncache.load(cache_dir, path, head)
        if changes is None:
            changes = self.store.file_history(path, head)
            versioncache.save(cache_dir, path, head, changes)
        return changes

    def parse_blob(self, blob: str, where: str) -> PromptFile:
        """Parsed files are cached by blob id: the same content is read from git and parsed once."""
        cached = self._parsed.get(blob)
        if cached is None:
            from plg.registry.prompt import parse_prompt

            text = prompt_text(self.store.read_blob(blob), where)
            cached = self._parsed[blob] = parse_prompt(text, where)
        return cached

    def get(
        self,
        name: str,
        version: int | str | None = None,
        label: str | None = None,
        ref: str | None = None,
    ) -> PromptVersion:
        if sum(x is not None for x in (version, label, ref)) > 1:
            raise NotFound("give at most one of version, label and ref")
        if version is not None:
            return self.resolve(name, f"v{version}" if isinstance(version, int) else version)
        if label is not None:
            return self._version(self._by_label(name, label))
        return self.resolve(name, ref)

    def resolve(self, name: str, ref: str | None) -> PromptVersion:
        return self._version(self.locate(name, ref))

    def locate(self, name: str, ref: str | None) -> Location:
        """Where `name@ref` is, without reading the file: what `plg show` needs before the summary."""
        validate_name(name)
        if ref is None:
            return self._working_tree(name)
        match = _VERSION_REF.match(ref)
        if match:
            digits = match.group(1).lstrip("0") or "0"
            if len(digits) > 18:  # no file has that many versions, and int() refuses 4300+ digits
                raise NotFound(f"{name}@{ref[:24]}...: no such version (a {len(digits)}-digit number)")
            return self._by_number(name, int(digits))
        commit = self._label_commit(name, ref)
        if commit is not None:
            return self._by_label(name, ref, commit)
        try:
            commit = self.store.resolve_commit(ref)
        except NotFound:
            raise NotFound(
                f"{name}@{ref}: no such version, label or commit{self._label_hint(name)}"
            ) from None
        return self._by_commit(name, commit, ref)

    def summary(self, found: Location) -> PromptSummary:
        """The located file's model, inputs and template from the blob-keyed cache (parsed on a miss)."""
        from plg import config
        from plg.registry.summaries import summary

        def text() -> str:
            data = found.data if found.data is not None else self.store.read_blob(found.blob)
            return prompt_text(data, found.where)

        return summary(config.state_dir(self.root) / "summaries", found.blob, text, found.where)

    def latest(self, name: str) -> PromptVersion:
        history = self.versions(name)
        if not history:
            self.require_exists(name)
            raise NotFound(f"{name} has no committed version yet (commit prompts/{name}{SUFFIX} first)")
        return self._version(self._at(name, history[-1]))

    def _version(self, found: Location) -> PromptVersion:
        if found.data is not None:
            from plg.registry.prompt import parse_prompt

            file = self._parsed.get(found.blob) or parse_prompt(
                prompt_text(found.data, found.where), found.where
            )
            self._parsed[found.blob] = file
        else:
            file = self.parse_blob(found.blob, found.where)
        return PromptVersion(
            name=found.name,
            version=found.version,
            commit=found.commit,
            blob=found.blob,
            path=found.path,
            file=file,
            label=found.label,
        )

    def _at(self, name: str, version: Version, label: str | None = None) -> Location:
        where = f"{name}@{version.number}"
        return Location(name, version.number, version.commit, version.blob, version.path, where, label)

    def _working_tree(self, name: str) -> Location:
        path = self.prompt_path(name)
        file_path = self.root / path
        if not file_path.is_file():
            self.require_exists(name)
            raise NotFound(
                f"{path} is not in the working tree (deleted?): name a committed version, {name}@<version>"
            )
        data = working_bytes(self.root, path)
        blob = blob_id(data)
        history = self.versions(name)
        current = history[-1] if history and history[-1].blob == blob else None
        if current is None and history and not self.store.is_dirty(path):
            # the bytes differ but git calls the file clean: a checkout filter (core.autocrlf, eol, a clean
            # filter) rewrote it. git's own clean state decides, and the committed bytes are what runs.
            current = history[-1]
            blob = current.blob
            data = self.store.read_blob(blob)
        return Location(
            name,
            current.number if current else None,
            current.commit if current else None,
            blob,
            path,
            path,
            data=data,
        )

    def _by_number(self, name: str, number: int) -> Location:
        history = self.versions(name)
        if not history:
            self.require_exists(name)
            raise NotFound(f"{name}@{number}: {name} has no committed version yet (commit {self.prompt_path(name)} first)")
        if not 1 <= number <= len(history):
            raise NotFound(f"{name}@{number}: no such version ({name} has versions 1..{len(history)})")
        return self._at(name, history[number - 1])

    def _by_label(self, name: str, label: str, commit: str | None = None) -> Location:
        validate_name(name)
        validate_name(label, "label")
        commit = commit or self._label_commit(name, label)
        if commit is None:
            self.require_exists(name)
            raise NotFound(f"{name}@{label}: no such label{self._label_hint(name)}")
        return replace(self._by_commit(name, commit, label), label=label)

    def at_commit(self, name: str, commit: str) -> PromptVersion:
        return self._version(self._by_commit(name, commit, commit[:10]))

    def _by_commit(self, name: str, commit: str, ref: str) -> Location:
        history = self.versions(name)
        for version in reversed(history):
            if version.commit == commit:
                return self._at(name, version)
        path = self.prompt_path(name)
        paths = [path] + [v.path for v in reversed(history) if v.path != path]
        for candidate in paths:
            blob = self.store.blob_at(commit, candidate)
            if blob is None:
                continue
            for version in reversed(history):
                if version.blob == blob:
                    return self._at(name, version)
            return Location(name, None, commit, blob, candidate, f"{name}@{ref}")
        self.require_exists(name)
        raise NotFound(f"{name}@{ref}: the prompt does not exist at commit {commit[:12]}")

    def require_exists(self, name: str) -> None:
        if (self.root / self.prompt_path(name)).is_file() or self.versions(name):
            return
        known = self.list()
        import difflib

        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise NotFound(f"unknown prompt '{name}'{hint}")

    def version_of_commit(self, name: str, commit: str) -> int | None:
        for version in self.versions(name):
            if version.commit == commit:
                return version.number
        return None


__all__ = ["PromptVersion", "Registry", "Version", "is_sha", "split_ref", "validate_name"]
