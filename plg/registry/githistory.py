"""The half of the git door that reads history: which first-parent commits changed a prompt file.

Version N of a prompt is the Nth first-parent commit that changed its content, renames followed; `GitStore`
inherits these walks. They refuse a shallow clone, where counting would silently renumber versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from plg.errors import GitError, ShallowHistory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class FileChange:
    """One first-parent commit that changed a file's content (a pure rename is not a change)."""

    commit: str
    blob: str
    path: str
    time: int
    author: str
    email: str
    subject: str


class HistoryGit:
    """History walks of `GitStore` (it supplies `run` and `has_commits`)."""

    root: Path

    def run(self, *args: str, input: str | None = None) -> str:  # pragma: no cover - GitStore's
        raise NotImplementedError

    @property
    def has_commits(self) -> bool:  # pragma: no cover - GitStore's
        raise NotImplementedError

    @cached_property
    def is_shallow(self) -> bool:
        try:
            return self.run("rev-parse", "--is-shallow-repository").strip() == "true"
        except GitError:
            return False

    def require_full_history(self) -> None:
        """Version N is the Nth change in the whole history: counted from a truncated clone it would name
        another version, so a shallow clone is refused rather than silently renumbered."""
        if self.is_shallow:
            raise ShallowHistory(
                f"{self.root} is a shallow clone: version numbers need the full history; run "
                "`git fetch --unshallow` (in GitHub Actions: actions/checkout with fetch-depth: 0)"
            )

    def file_history(self, path: str, rev: str = "HEAD") -> list[FileChange]:
        """First-parent commits of `rev` that changed the content at `path`, oldest first, following renames."""
        if not self.has_commits:
            return []
        self.require_full_history()
        out = self.run(
            "log",
            "--first-parent",
            "--follow",
            "--no-abbrev",
            "--raw",
            "--no-color",
            "--format=%x00%H%x1f%at%x1f%an%x1f%ae%x1f%s",
            rev,
            "--",
            path,
        )
        return _parse_raw_log(out)

    def tree_history(
        self, prefix: str, since: str | None = None, base: dict[str, list[FileChange]] | None = None
    ) -> dict[str, list[FileChange]]:
        """Histories of every file under `prefix` in one git call, renames followed, keyed by current path.
        With `since` (a first-parent ancestor of HEAD) and its histories as `base`, only the commits after
        it are walked."""
        if not self.has_commits:
            return {}
        self.require_full_history()
        out = self.run(
            "log",
            "--first-parent",
            "-M",
            "--no-abbrev",
            "--raw",
            "--no-color",
            "--reverse",
            "--format=%x00%H%x1f%at%x1f%an%x1f%ae%x1f%s",
            f"{since}..HEAD" if since else "HEAD",
            "--",
            prefix,
        )
        histories: dict[str, list[FileChange]] = dict(base or {})
        for header, entries in _iter_raw_log(out):
            for status, old_blob, new_blob, old_path, new_path in entries:
                if status.startswith("D"):
                    histories.pop(old_path, None)
                    continue
                chain = histories.pop(old_path, []) if status.startswith("R") else histories.get(new_path, [])
                if old_blob != new_blob or not chain:
                    chain = [*chain, FileChange(blob=new_blob, path=new_path, **header)]
                histories[new_path] = chain
        return histories

    def first_parent_ancestor(self, ancestor: str, head: str) -> bool:
        """Whether `ancestor` is on `head`'s first-parent chain: the condition for extending histories
        computed at `ancestor` by the commits after it (an ancestor reached through a merged branch is not:
        its branch commits are no versions of the first-parent history)."""
        if ancestor == head:
            return True
        try:
            out = self.run("rev-list", "--first-parent", "--reverse", "--parents", f"{ancestor}..{head}")
        except GitError:
            return False
        first = out.split("\n", 1)[0].split()
        return len(first) >= 2 and first[1] == ancestor


SYMLINK_MODE = "120000"


def _iter_raw_log(out: str):  # type: ignore[no-untyped-def]
    for record in out.split("\0"):
        if not record.strip():
            continue
        head, _, rest = record.partition("\n")
        commit, time, author, email, subject = head.split("\x1f")
        header = {"commit": commit, "time": int(time), "author": author, "email": email, "subject": subject}
        entries = []
        for line in rest.splitlines():
            if not line.startswith(":"):
                continue
            meta, *paths = line.split("\t")
            fields = meta[1:].split()
            if fields[1] == SYMLINK_MODE:
                continue  # git keeps a link's target path as its content: no prompt text, no version
            status = fields[4]
            old_path = paths[0]
            new_path = paths[1] if len(paths) > 1 else paths[0]
            entries.append((status, fields[2], fields[3], old_path, new_path))
        yield header, entries


def _parse_raw_log(out: str) -> list[FileChange]:
    """`--follow` also follows copies: a file created as a copy of another starts its own history there
    (the original's versions and labels are not its), so the walk stops at a copy."""
    changes: list[FileChange] = []
    for header, entries in _iter_raw_log(out):
        copied = False
        for status, old_blob, new_blob, _old_path, new_path in entries:
            if status.startswith("D"):
                continue
            if status.startswith("R") and old_blob == new_blob:
                continue
            if old_blob == new_blob and not status.startswith(("A", "C")):
                continue
            changes.append(FileChange(blob=new_blob, path=new_path, **header))
            copied = status.startswith("C")
            break
        if copied:
            break
    changes.reverse()
    return changes
