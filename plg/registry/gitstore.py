"""The one module that talks to git. Everything else sees commits, blobs and refs as plain values.

It runs git's plumbing commands directly instead of going through GitPython: every read plg needs is one
plumbing call, and importing GitPython alone costs ~130 ms of the 300 ms budget of `plg show`.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from plg.errors import (
    BadInput,
    GitDiskError,
    GitError,
    InvalidName,
    LabelMoved,
    NotARepository,
    NotFound,
    PushRejected,
)
from plg.registry import gitreads
from plg.registry.githistory import SYMLINK_MODE, FileChange, HistoryGit  # noqa: F401  (FileChange re-exported)
from plg.registry.gitnotes import NotesGit
from plg.registry.gitremote import RemoteGit, remote_auth_env, run_remote_command  # noqa: F401  (re-exported)

ZERO_SHA = "0" * 40
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class RefInfo:
    """A ref and what it points at: `object` is the tag object for an annotated tag, `commit` its target."""

    ref: str
    object: str
    commit: str


@dataclass(frozen=True)
class PathChange:
    """One path in a diff: status A/M/D/R/C/T, the path after, and the path before a rename or copy."""

    status: str
    path: str
    old_path: str | None




def _answer(args: list[str], proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise _failed(args, proc.returncode, err)
    return out


_DISK_TROUBLE = ("Read-only file system", "No space left on device", "Disk quota exceeded", "File too large",
                 "Permission denied")


def _failed(args: list[str], returncode: int, stderr: str, where: Path | None = None) -> GitError:
    """A git failure; one caused by the disk under the repository (read-only, full, size-limited,
    unwritable) is the environment's (exit 3) and names the repository."""
    problem = gitreads.git_problem(stderr, returncode)
    if any(trouble in stderr for trouble in _DISK_TROUBLE):
        return GitDiskError(f"{where or 'the repository'}: git {args[0]} failed: {problem}")
    return GitError(f"git {args[0]} failed: {problem}")


def blob_id(data: bytes) -> str:
    """The id git gives this content, without asking git."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class GitStore(NotesGit, RemoteGit, HistoryGit):
    bare = False

    def __init__(self, path: str | Path = ".") -> None:
        try:
            start = Path(path).resolve()
        except FileNotFoundError:
            raise NotARepository("the current directory no longer exists: cd into the repository again") from None
        if not start.exists():
            raise NotARepository(f"{start}: no such directory")
        self.root = gitreads.find_worktree(start) or self._ask_git_for_root(start)

    @classmethod
    def open_bare(cls, path: Path) -> GitStore:
        """A bare repository (the SDK's cache of a remote): commits and refs, no work tree."""
        store = cls.__new__(cls)
        store.root = Path(path)
        store.bare = True
        return store

    def _ask_git_for_root(self, start: Path) -> Path:
        try:
            out = self._raw(["rev-parse", "--show-toplevel"], cwd=start)
        except GitError:
            raise NotARepository(
                f"{start} is not inside a git repository (run `git init` or `plg init`)"
            ) from None
        if not out.strip():
            raise NotARepository(f"{start} is inside a bare repository: plg needs a work tree")
        return Path(out.strip())

    def _raw(
        self,
        args: list[str],
        cwd: Path | None = None,
        input: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> str:
        if input is None and extra_env is None and cwd is None:
            ahead = gitreads.take(self.root, tuple(args))
            if ahead is not None:
                return _answer(args, ahead)
        proc = subprocess.run(
            gitreads.git_command(args),
            cwd=cwd or self.root,
            input=input,
            capture_output=True,
            text=True,
            env=gitreads.git_env(extra_env),
            errors="replace",
        )
        if proc.returncode != 0:
            raise _failed(args, proc.returncode, proc.stderr, cwd or self.root)
        return proc.stdout

    def run(self, *args: str, input: str | None = None) -> str:
        return self._raw(list(args), input=input)

    def start(self, *args: str) -> Callable[[], str]:
        """Start a read-only git command now and return what waits for its output (as `run` gives it):
        a command that needs several independent answers pays for the slowest, not for their sum."""
        proc = gitreads.take(self.root, args) or gitreads.popen(args, self.root)
        return lambda: _answer(list(args), proc)


    @cached_property
    def _notes_ident(self) -> dict[str, str]:
        """Notes are commits, so writing one needs an identity; a fresh CI runner has none configured.
        Scores are machine-written, so a bot identity stands in rather than failing the run."""
        try:
            self.run("var", "GIT_COMMITTER_IDENT")
            return {}
        except GitError:
            pass
        if os.environ.get("GITHUB_ACTIONS") == "true":
            name, email = "github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com"
        else:
            name, email = "plg", "plg@localhost"
        return {
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
        }

    @cached_property
    def has_commits(self) -> bool:
        try:
            self.run("rev-parse", "--verify", "-q", "HEAD")
            return True
        except GitError:
            return False

    def resolve_commit(self, rev: str) -> str:
        if rev.startswith("-"):
            raise NotFound(f"unknown revision '{rev}'")
        try:
            return self.run("rev-parse", "--verify", "-q", "--end-of-options", f"{rev}^{{commit}}").strip()
        except GitError:
            raise NotFound(f"unknown revision '{rev}'") from None

    def ref_value(self, ref: str) -> str | None:
        """The object a ref points at (for an annotated tag: the tag object), or None when absent."""
        try:
            return self.run("rev-parse", "--verify", "-q", ref).strip() or None
        except GitError:
            return None

    def read_blob(self, blob: str) -> bytes:
        proc = subprocess.run(
            ["git", "cat-file", "blob", blob], cwd=self.root, capture_output=True, env=gitreads.git_env()
        )
        if proc.returncode != 0:
            raise NotFound(f"no blob {blob} in this repository")
        return proc.stdout

    def blob_at(self, commit: str, path: str) -> str | None:
        try:
            out = self.run("ls-tree", "--full-tree", commit, "--", path)
        except GitError:
            return None
        parts = out.split()
        if len(parts) < 3 or parts[1] != "blob" or parts[0] == SYMLINK_MODE:
            return None  # a committed symbolic link holds its target's path, not a prompt
        return parts[2]


    def is_dirty(self, path: str) -> bool:
        """Whether the working tree or index differs from HEAD at path (untracked counts as dirty)."""
        out = self.run("status", "--porcelain", "--untracked-files=all", "--", path)
        return bool(out.strip())

    def tags(self, prefix: str) -> list[RefInfo]:
        out = self.run(*gitreads.tags(prefix))
        refs = []
        for line in out.splitlines():
            ref, obj, peeled, kind = line.split("\0")
            refs.append(RefInfo(ref=ref, object=obj, commit=peeled if kind == "tag" else obj))
        return refs

    def tag_message(self, tag_object: str) -> str:
        raw = self.run("cat-file", "tag", tag_object)
        _, _, body = raw.partition("\n\n")
        return body

    def check_ref_format(self, ref: str) -> bool:
        proc = subprocess.run(["git", "check-ref-format", ref], capture_output=True)
        return proc.returncode == 0

    def identity(self) -> str:
        try:
            return self.run("var", "GIT_COMMITTER_IDENT").rsplit(" ", 2)[0]
        except GitError:
            raise BadInput("git does not know who you are: set user.name and user.email") from None

    def make_tag(self, ref: str, commit: str, message: str) -> str:
        """Write an annotated tag object for `commit` (not yet pointed to by any ref); return its id."""
        tag_name = ref.removeprefix("refs/tags/")
        ident = self.run("var", "GIT_COMMITTER_IDENT").strip()
        body = f"object {commit}\ntype commit\ntag {tag_name}\ntagger {ident}\n\n{message}"
        return self.run("mktag", input=body).strip()

    def compare_and_swap(self, ref: str, new: str, expected_old: str | None, reason: str) -> None:
        """Point `ref` at `new` only if it still points at `expected_old` (None: must not exist)."""
        old = expected_old or ZERO_SHA
        try:
            self.run("update-ref", "-m", reason, ref, new, old)
        except GitError as err:
            current = self.ref_value(ref)
            if current != expected_old:
                raise LabelMoved(
                    f"{ref.removeprefix('refs/tags/')} moved while this command ran "
                    f"(expected {(expected_old or 'absent')[:12]}, found {(current or 'absent')[:12]}); nothing changed"
                ) from None
            raise err


    def read_note(self, notes_ref: str, commit: str) -> str | None:
        try:
            return self.run("notes", f"--ref={notes_ref}", "show", commit)
        except GitError:
            return None

    def notes_map(self, notes_ref: str, listing: Callable[[], str] | None = None) -> dict[str, str]:
        """Annotated commit -> note blob, in one call (empty when the notes ref does not exist); `listing`:
        that call already started (`start("notes", f"--ref={notes_ref}", "list")`)."""
        out = listing() if listing is not None else self.run("notes", f"--ref={notes_ref}", "list")
        pairs = (line.split() for line in out.splitlines() if line.strip())
        return {commit: note for note, commit in pairs}

    def read_blobs(self, blobs: list[str]) -> dict[str, bytes]:
        """Many blobs through one `cat-file --batch` process."""
        if not blobs:
            return {}
        proc = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=self.root,
            input="\n".join(blobs).encode() + b"\n",
            capture_output=True,
            check=False,
            env=gitreads.git_env(),
        )
        data, result, pos = proc.stdout, {}, 0
        for blob in blobs:
            end = data.index(b"\n", pos)
            header = data[pos:end].split()
            pos = end + 1
            if len(header) < 3 or header[1] == b"missing":
                continue
            size = int(header[2])
            result[blob] = data[pos : pos + size]
            pos += size + 1
        return result

    def write_note(self, notes_ref: str, commit: str, text: str) -> None:
        self.update_note(notes_ref, commit, lambda _old: text)

    def merge_base(self, a: str, b: str) -> str | None:
        try:
            return self.run("merge-base", "--end-of-options", a, b).strip() or None
        except GitError:
            return None

    def changed_paths(self, base: str, head: str = "HEAD") -> list[PathChange]:
        """Paths that differ between two commits, renames detected, both sides of a rename reported."""
        out = self.run("diff", "--name-status", "-M", "-z", "--no-color", base, head, "--")
        fields = out.split("\0")
        changes: list[PathChange] = []
        i = 0
        while i < len(fields) - 1:
            status = fields[i]
            if status.startswith(("R", "C")):
                changes.append(PathChange(status[0], fields[i + 2], fields[i + 1]))
                i += 3
            else:
                changes.append(PathChange(status[:1], fields[i + 1], None))
                i += 2
        return changes


    def export_tree(self, commit: str, dest: Path) -> None:
        """Write the files of `commit` under `dest` (`git archive`; the repository, its index and work tree
        untouched): CI reads the base branch's pipeline, data and scorer code from there to judge a head."""
        import io
        import tarfile

        args = ["archive", "--format=tar", commit]
        proc = subprocess.run(
            gitreads.git_command(args), cwd=self.root, capture_output=True, env=gitreads.git_env(None)
        )
        if proc.returncode != 0:
            raise _failed(args, proc.returncode, proc.stderr.decode(errors="replace"))
        def safe(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
            try:  # a symlink leaving the tree (or an absolute one) is left out, as a pipeline may not use it
                return tarfile.data_filter(member, path)
            except tarfile.FilterError:
                return None

        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
            tar.extractall(dest, filter=safe)

    def diff_blobs(self, a: str, b: str, label_a: str, label_b: str) -> str:
        proc = subprocess.run(
            ["git", "diff", "--no-color", f"--src-prefix={label_a}:", f"--dst-prefix={label_b}:", a, b],
            cwd=self.root,
            capture_output=True,
            text=True,
            env=gitreads.git_env(),
        )
        return proc.stdout


    def list_tree(self, rev: str, prefix: str) -> list[str]:
        """Paths of the files under `prefix` at `rev` (what a bare repository has instead of a work tree)."""
        try:
            out = self.run("ls-tree", "-r", "--name-only", "--full-tree", rev, "--", prefix)
        except GitError:
            return []
        return out.splitlines()

    def ref_values(self, prefixes: list[str]) -> dict[str, str]:
        """Ref -> object for every ref under the prefixes, HEAD's target included, in one call."""
        out = self.run("for-each-ref", "--format=%(refname)%00%(objectname)", *prefixes)
        refs = dict(line.split("\0", 1) for line in out.splitlines() if line)
        head = self.ref_value("HEAD")
        if head is not None:
            refs["HEAD"] = head
        return refs


    # -- writing a prompt file from the SDK (PromptLayer's templates.publish) --------------------------
    def commit_paths(self, paths: list[str], message: str) -> str:
        """Commit exactly these paths (whatever else is staged stays staged); return the new commit."""
        self.identity()
        self.run("add", "--", *paths)
        self.run("commit", "--quiet", "--only", "-m", message, "--", *paths)
        return self.resolve_commit("HEAD")


def clone_bare(url: str, dest: Path, stored_url: str) -> GitStore:
    """Clone `url` into `dest` as a bare repository, atomically (a half-written clone is never left
    where a later start would take it for a good cache). `stored_url` is what the clone's config keeps:
    the URL without any password, so credentials stay with git's own helpers and environment."""
    import shutil
    import tempfile

    from plg import config

    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".clone-", dir=dest.parent))
    try:
        try:
            run_remote_command(
                ["clone", "--bare", "--quiet", "--no-tags", "--", url, str(staging / "repo.git")],
                dest.parent, config.git_timeouts(None),
            )
        except GitError as err:
            raise PushRejected(f"cannot clone {stored_url}: {err.message.removeprefix('git clone failed: ')}") from None
        store = GitStore.open_bare(staging / "repo.git")
        store.run("config", "remote.origin.url", stored_url)
        try:
            (staging / "repo.git").rename(dest)
        except OSError:
            if not dest.exists():
                raise
        return GitStore.open_bare(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)



def init_repository(directory: Path) -> bool:
    """`git init` unless `directory` is already inside a work tree; True when a repository was created."""
    inside = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=directory, capture_output=True)
    if inside.returncode == 0:
        return False
    subprocess.run(["git", "init", "-q"], cwd=directory, check=True, capture_output=True)
    return True


def default_branch(directory: Path) -> str | None:
    """The branch the remote calls its default (`origin/HEAD`), else the branch checked out (or about to
    be: a fresh repository's HEAD names one), else None."""
    asks = (
        (["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"], "origin/"),
        (["symbolic-ref", "--quiet", "--short", "HEAD"], ""),
    )
    for args, prefix in asks:
        proc = subprocess.run(
            gitreads.git_command(args), cwd=directory, capture_output=True, text=True, env=gitreads.git_env()
        )
        name = proc.stdout.strip()
        if proc.returncode == 0 and name.startswith(prefix):
            return name.removeprefix(prefix) or None
    return None


def is_sha(text: str) -> bool:
    return bool(_SHA_RE.match(text))


def require_valid_ref(store: GitStore, ref: str, what: str) -> None:
    if not store.check_ref_format(ref):
        raise InvalidName(f"{what} is not a name git accepts ({ref})")
