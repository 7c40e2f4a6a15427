"""A bundle: every prompt's version at one label, frozen into a JSON file an application can ship.

For deploys with neither git nor network (a container image, a lambda): `plg bundle` writes the file
from the registry, `Client(bundle=...)` serves from it without running git, and `plg bundle --check`
fails CI when a label has moved since the file was written, or when any entry differs from what git
holds. Each entry carries the prompt file's full text, its blob id and a digest over every field that is
served or logged (name, version, commit, label, blob, path, model, params, text), so a hand-edited entry
is refused rather than served. Only labels plg wrote are bundled (`registry.labels.untrusted_reason`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from plg.errors import BadInput, NotFound, PlgError, UntrustedLabel
from plg.registry.gitstore import blob_id
from plg.registry.versions import PromptVersion, Registry

FORMAT = 2
DEFAULT_PATH = "prompts.lock.json"


class BundledPrompt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: int | None
    commit: str
    label: str
    blob: str
    path: str
    model: str
    params: dict[str, Any]
    content: str
    digest: str = ""

    def covered(self) -> str:
        """The sha256 of every field but the digest itself, in one canonical JSON form."""
        fields = self.model_dump(mode="json", exclude={"digest"})
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Bundle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[2] = FORMAT
    label: str
    prompts: list[BundledPrompt]

    def by_name(self) -> dict[str, BundledPrompt]:
        return {p.name: p for p in self.prompts}


def build_bundle(registry: Registry, label: str) -> Bundle:
    names = sorted(name for name, labels in registry.all_labels().items() if label in labels)
    if not names:
        raise NotFound(f"no prompt has the label '{label}' (promote one first: plg promote NAME@N --label {label})")
    from plg.registry.labels import untrusted_reason

    prompts = []
    for name in names:
        problem = untrusted_reason(registry, name, label)
        if problem is not None:
            raise UntrustedLabel(f"{name}@{label} is not plg's label ({problem}): refusing to bundle it")
        pv = registry.get(name, label=label)
        entry = BundledPrompt(
            name=name,
            version=pv.version,
            commit=pv.commit or "",
            label=label,
            blob=pv.blob,
            path=pv.path,
            model=pv.model,
            params=pv.params,
            content=pv.file.source,
        )
        prompts.append(entry.model_copy(update={"digest": entry.covered()}))
    return Bundle(label=label, prompts=prompts)


def write_bundle(bundle: Bundle, path: Path) -> None:
    """Whole or not at all: a reader never sees half a bundle."""
    text = json.dumps(bundle.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        raise BadInput(f"{path}: cannot write the bundle: {err.strerror or err}") from None


def read_bundle(path: Path) -> Bundle:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise BadInput(f"{path}: cannot read the bundle: {err.strerror or err}") from None
    except ValueError as err:
        raise BadInput(f"{path}: not JSON: {err}") from None
    except RecursionError:
        raise BadInput(f"{path}: not a plg bundle: JSON nested too deeply") from None
    if isinstance(data, dict) and data.get("format") == 1:
        raise BadInput(f"{path}: a bundle written by an older plg (format 1): write it again with plg bundle")
    try:
        bundle = Bundle.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "(top level)"
        raise BadInput(f"{path}: not a plg bundle: {where}: {first['msg']}") from None
    for entry in bundle.prompts:
        if blob_id(entry.content.encode("utf-8")) != entry.blob:
            raise BadInput(f"{path}: {entry.name}'s content does not match its blob id (edited by hand?)")
        if entry.digest != entry.covered():
            raise BadInput(f"{path}: {entry.name}'s entry does not match its digest (edited by hand?)")
        if entry.label != bundle.label:
            raise BadInput(f"{path}: {entry.name} is at '{entry.label}' in a bundle of '{bundle.label}'")
    return bundle


def stale_entries(bundle: Bundle, registry: Registry, label: str | None = None) -> list[str]:
    """How the bundle differs from the registry's labels now; empty when it is current."""
    wanted = label or bundle.label
    if wanted != bundle.label:
        return [f"the bundle holds '{bundle.label}', not '{wanted}'"]
    try:
        current = build_bundle(registry, wanted).by_name()
    except NotFound:
        current = {}
    shipped = bundle.by_name()
    problems = []
    for name in sorted(current.keys() | shipped.keys()):
        now, then = current.get(name), shipped.get(name)
        if then is None:
            problems.append(f"{name}@{wanted} is missing from the bundle")
        elif now is None:
            problems.append(f"{name}@{wanted} no longer exists in the registry")
        elif (now.commit, now.blob) != (then.commit, then.blob):
            problems.append(f"{name}@{wanted} is v{now.version} now, v{then.version} in the bundle")
        else:
            differ = [k for k in ("version", "path", "model", "params", "content") if getattr(now, k) != getattr(then, k)]
            if differ:
                problems.append(f"{name}@{wanted}: the bundle's {', '.join(differ)} differ from git's")
    return problems


class BundleSource:
    """Serves a bundle file: no git, no network, nothing that can move while the process runs."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.bundle = read_bundle(self.path)
        self._entries = self.bundle.by_name()
        self._versions: dict[str, PromptVersion] = {}

    @property
    def root(self) -> Path:
        return Path.cwd()

    def resolve(self, name: str, label: str | None, version: int | None) -> PromptVersion:
        found = self._versions.get(name)
        if found is None:
            found = self._load(name)
        if label is not None and label != self.bundle.label:
            raise NotFound(f"{name}@{label}: the bundle {self.path} holds '{self.bundle.label}' versions only")
        if version is not None and version != found.version:
            raise NotFound(f"{name}@{version}: the bundle {self.path} holds {name}@{found.version} only")
        return found

    def _load(self, name: str) -> PromptVersion:
        entry = self._entries.get(name)
        if entry is None:
            held = ", ".join(sorted(self._entries)) or "nothing"
            raise NotFound(f"unknown prompt '{name}' in the bundle {self.path} (it holds: {held})")
        from plg.registry.prompt import parse_prompt

        try:
            file = parse_prompt(entry.content, f"{self.path}:{name}")
        except PlgError as err:
            raise BadInput(err.message) from None
        pv = PromptVersion(
            name=name,
            version=entry.version,
            commit=entry.commit,
            blob=entry.blob,
            path=entry.path,
            file=file,
            label=entry.label,
        )
        self._versions[name] = pv
        return pv

    def names(self, label: str | None = None) -> list[str]:
        return sorted(self._entries) if label in (None, self.bundle.label) else []

    def invalidate(self, name: str | None = None) -> None:
        pass

    def close(self) -> None:
        pass
