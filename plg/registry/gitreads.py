"""Git reads started before anyone asks for them, and the command line and environment every git call uses.

The first git reads of `plg log NAME`, `plg list` and `plg show NAME@REF` follow from those words alone.
Started before the rest of plg is imported (~25 ms of a ~60 ms command), git answers on another core in
the meantime, and `GitStore` takes the answer instead of running the same command again. Only reads are
started, for the work tree the command itself opens (`take` checks the root), and each answer is taken
once: within one short command, a read started a few milliseconds early sees the same repository.

Kept free of dataclasses and of plg's other modules: it is imported first, and its import is the wait.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PROMPTS_DIR = "prompts"
SUFFIX = ".prompt"
TAG_PREFIX = "refs/tags/prompts/"
NOTES_REF = "refs/notes/plg"

HEAD = ("rev-parse", "--verify", "-q", "HEAD")
NOTES = ("notes", f"--ref={NOTES_REF}", "list")
STATUS = ("status", "--porcelain", "-z", "--untracked-files=all", "--", PROMPTS_DIR)


def tags(prefix: str) -> tuple[str, ...]:
    """Every tag under `prefix` with its object, its peeled commit and its type, one per line."""
    return (
        "for-each-ref",
        "--format=%(refname)%00%(objectname)%00%(*objectname)%00%(objecttype)",
        prefix,
    )


def label_commit(name: str, label: str) -> tuple[str, ...]:
    """The commit `name@label`'s own tag points at (peeled through an annotated tag)."""
    return ("rev-parse", "--verify", "-q", f"{TAG_PREFIX}{name}@{label}^{{commit}}")


def git_command(args: list[str] | tuple[str, ...]) -> list[str]:
    return ["git", "-c", "core.quotePath=false", *args]


NO_SUBSTITUTIONS = {"GIT_NO_REPLACE_OBJECTS": "1", "GIT_GRAFT_FILE": os.devnull}
"""`refs/replace/*` and grafts make `git cat-file` answer with another object than the id names: what the
gate judged would not be what every other clone serves. plg reads objects as their ids say, always."""


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Never prompt for credentials, read git's messages in one language, and see no object substitutes."""
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(extra or {}), **NO_SUBSTITUTIONS}


def find_worktree(start: Path) -> Path | None:
    """The common case without a subprocess: the nearest parent holding `.git`. Anything unusual (env
    overrides, bare repos) is left to git."""
    if any(k in os.environ for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES")):
        return None
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def popen(args: list[str] | tuple[str, ...], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        git_command(args),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=git_env(),
        errors="replace",
    )


_ahead: dict[tuple[Path, tuple[str, ...]], subprocess.Popen[str]] = {}


def start_ahead(*reads: tuple[str, ...]) -> None:
    """Start `reads` in the work tree around the current directory; nothing when there is none (the
    command reports that itself) or git cannot be started."""
    try:
        root = find_worktree(Path.cwd())
    except OSError:  # the current directory is gone: the command itself says so
        return
    if root is None:
        return
    for args in reads:
        try:
            _ahead[(root, args)] = popen(args, root)
        except OSError:
            return


def take(root: Path, args: tuple[str, ...]) -> subprocess.Popen[str] | None:
    """The process `start_ahead` started for exactly this read in this work tree, once."""
    if not _ahead:
        return None
    return _ahead.pop((root, args), None)


def discard() -> None:
    """Forget the reads nobody took (an error ended the command first), so that a process that goes on
    (a test, an embedding program) never takes an answer from before its own later writes."""
    while _ahead:
        _, proc = _ahead.popitem()
        proc.kill()
        proc.communicate()


def reads_for(argv: list[str]) -> tuple[tuple[str, ...], ...]:
    """What `plg list`, `plg log NAME` and `plg show NAME[@REF]` read first."""
    if argv[0] == "list":
        return STATUS, HEAD, tags(TAG_PREFIX)
    if argv[0] == "log":
        return NOTES, HEAD, tags(TAG_PREFIX)
    name, _, ref = argv[1].partition("@")
    if ref and not ref.isdigit():
        return label_commit(name, ref), HEAD
    return (HEAD,)


def git_problem(stderr: str, returncode: int) -> str:
    """The line of git's stderr that says what went wrong. Its last line is often advice ("and the
    repository exists.") or a summary ("failed to push some refs"): the first fatal or error line says
    more, and what a remote's hook printed (`remote: ...`) says why a push was refused."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return f"exit {returncode}"
    said = [line.removeprefix("remote:").strip() for line in lines if line.startswith("remote:")]
    said = [line for line in said if line]
    first = next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1])
    if said:
        return f"{first} (the remote said: {' / '.join(said[:3])})"
    return first
