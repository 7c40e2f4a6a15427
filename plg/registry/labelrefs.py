"""Which commit a label names: a prompt's own `refs/tags/prompts/NAME@LABEL`, or a tag a former name left
behind (labels follow a prompt through a `git mv`; the next move writes the tag under the new name).

Part of `Registry` (it reads through the registry's git store and version history); moving labels is
`registry.labels`.
"""

from __future__ import annotations

from plg.registry import gitreads
from plg.registry.gitreads import PROMPTS_DIR, SUFFIX, TAG_PREFIX

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from plg.registry.gitstore import GitStore
    from plg.registry.versions import Version



class LabelLookup:
    store: GitStore
    root: Path

    if TYPE_CHECKING:

        def versions(self, name: str) -> list[Version]: ...

        def prompt_path(self, name: str) -> str: ...

    def _label_hint(self, name: str) -> str:
        labels = [r.ref.rsplit("@", 1)[1] for r in self.store.tags(f"{TAG_PREFIX}{name}@*")]
        return f" (labels: {', '.join(labels)})" if labels else ""

    def former_names(self, name: str) -> list[str]:
        """Names this prompt had before a `git mv`, most recent first, from its followed history."""
        names: list[str] = []
        for version in reversed(self.versions(name)):
            if version.path.startswith(f"{PROMPTS_DIR}/") and version.path.endswith(SUFFIX):
                old = version.path[len(PROMPTS_DIR) + 1 : -len(SUFFIX)]
                if old != name and old not in names:
                    names.append(old)
        return names

    def known_as(self, name: str) -> list[str]:
        """`name` and the names it had before a `git mv`: a pipeline's `prompt:` and a recorded score's
        prompt may name any of them (the score's identity holds the blob, so it is still this file's)."""
        return [name, *self.former_names(name)]

    def label_ref(self, name: str, label: str) -> str | None:
        """The tag that holds `name@label`: its own, or one a former name left behind (labels follow a
        prompt through a rename; the next move writes the tag under the new name)."""
        own = f"{TAG_PREFIX}{name}@{label}"
        if self.store.ref_value(own) is not None:
            return own
        return self._former_label_ref(name, label)

    def _label_commit(self, name: str, label: str) -> str | None:
        """The commit `name@label` is on: its own tag peeled in one git call (the read `plg show` starts
        ahead), else a tag a former name left behind."""
        commit = self.store.ref_value(gitreads.label_commit(name, label)[-1])
        if commit is not None:
            return commit
        found = self._former_label_ref(name, label)
        return self.store.ref_value(f"{found}^{{commit}}") if found else None

    def _former_label_ref(self, name: str, label: str) -> str | None:
        if not self.store.tags(f"{TAG_PREFIX}") or not self.store.has_commits:
            return None
        for old in self.former_names(name):
            ref = f"{TAG_PREFIX}{old}@{label}"
            if self.store.ref_value(ref) is not None:
                return ref
        return None

    def labels(self, name: str) -> dict[str, str]:
        """Label → commit for one prompt, including labels set under a name it had before a rename."""
        tags = self.all_labels()
        names = [name]
        if tags and (self.root / self.prompt_path(name)).is_file():
            names += self.former_names(name)
        found: dict[str, str] = {}
        for each in reversed(names):
            found.update(tags.get(each, {}))
        return found

    def all_labels(self) -> dict[str, dict[str, str]]:
        result: dict[str, dict[str, str]] = {}
        for ref in self.store.tags(TAG_PREFIX):
            name, _, label = ref.ref[len(TAG_PREFIX) :].rpartition("@")
            result.setdefault(name, {})[label] = ref.commit
        return result
