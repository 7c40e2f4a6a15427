"""Writing a note without losing a concurrent writer's: the compare-and-swap half of the git door's notes.

`GitStore` inherits this; it stays apart because it is the one notes write, and it is the reason
`plg eval --record` run six times at once records six scores.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from plg.errors import GitError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ZERO_SHA = "0" * 40


class NotesGit:
    """The notes write of `GitStore` (it supplies `run`, `_raw`, `ref_value`, `read_note`, `_notes_ident`)."""

    _notes_ident: dict[str, str]

    def run(self, *args: str, input: str | None = None) -> str:  # pragma: no cover - GitStore's
        raise NotImplementedError

    def _raw(self, args: list[str], cwd: Any = None, input: str | None = None,
             extra_env: dict[str, str] | None = None) -> str:  # pragma: no cover - GitStore's
        raise NotImplementedError

    def ref_value(self, ref: str) -> str | None:  # pragma: no cover - GitStore's
        raise NotImplementedError

    def read_note(self, notes_ref: str, commit: str) -> str | None:  # pragma: no cover - GitStore's
        raise NotImplementedError

    def update_note(self, notes_ref: str, commit: str, change: Callable[[str], str], attempts: int = 50) -> None:
        """Rewrite `commit`'s note as `change(current text)` with a compare-and-swap on `notes_ref`.

        `git notes add` moves the ref without checking what it held, so two writers each read, each add,
        and the later loses the earlier's lines. Here the new notes commit is built on a private ref
        started at the value read, and `update-ref NEW OLD` moves the shared ref only if nobody moved it
        meanwhile; otherwise the note is read again and `change` applied to what is there now."""
        import uuid

        scratch = f"{notes_ref}-cas/{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            for _ in range(attempts):
                old = self.ref_value(notes_ref)
                if old is not None:
                    self.run("update-ref", scratch, old)
                else:
                    self._delete_ref(scratch)
                current = self.read_note(scratch, commit) if old is not None else None
                self._raw(
                    ["notes", f"--ref={scratch}", "add", "-f", "-F", "-", commit],
                    input=change(current or ""),
                    extra_env=self._notes_ident,
                )
                new = self.ref_value(scratch)
                assert new is not None
                try:
                    self.run("update-ref", "-m", "plg: record scores", notes_ref, new, old or ZERO_SHA)
                    return
                except GitError:
                    import random
                    import time

                    time.sleep(random.uniform(0.005, 0.05))  # another writer moved it: read, apply again
            raise GitError(f"{notes_ref} kept moving: the note was not written after {attempts} tries")
        finally:
            self._delete_ref(scratch)

    def _delete_ref(self, ref: str) -> None:
        import contextlib

        with contextlib.suppress(GitError):
            self.run("update-ref", "-d", ref)

