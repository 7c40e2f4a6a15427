"""The half of the git door that talks to remotes: fetch, push, ls-remote, with the CI token when there is one.

`GitStore` inherits these; they stay apart because they are the only git commands that leave the machine,
and every one of them goes through `remote()`, which alone sees the token and alone bounds the wait: git
has no overall timeout, so a server that accepts a connection and never answers would hold the caller
forever. `run_remote_command` runs each in its own process group under a total timeout (killing the whole
group, ssh or the http helper included, when it expires), with `http.lowSpeedLimit/lowSpeedTime` and
ssh's `ConnectTimeout` set so git itself gives up on a stalled connection first.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import subprocess
import threading

from plg import config as plg_config
from plg.errors import BadInput, GitError, NotFound, PushRejected
from plg.redact import mask_urls_in
from plg.registry import gitreads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


class RemoteGit:
    """Remote operations of `GitStore` (it supplies `run`, `_raw`, `ref_value`, `tags` and `_notes_ident`)."""

    root: Path
    _notes_ident: dict[str, str]

    def run(self, *args: str, input: str | None = None) -> str:  # pragma: no cover - GitStore's
        raise NotImplementedError

    def _raw(self, args: list[str], cwd: Any = None, input: str | None = None,
             extra_env: dict[str, str] | None = None) -> str:  # pragma: no cover - GitStore's
        raise NotImplementedError

    def ref_value(self, ref: str) -> str | None:  # pragma: no cover - GitStore's
        raise NotImplementedError

    def tags(self, prefix: str) -> list[Any]:  # pragma: no cover - GitStore's
        raise NotImplementedError

    def remote(self, *args: str, auth: bool = True) -> str:
        """A git command that talks to a remote (fetch, push, ls-remote), authenticated from the environment
        and bounded in time (`plg.config.git_timeouts`: ls-remote a few seconds, anything else tens).

        CI checks out with `persist-credentials: false`, so the repository keeps no token; a private
        repository then needs the job's token for exactly these commands, and only these see it."""
        root = None if getattr(self, "bare", False) else self.root
        return run_remote_command(
            list(args), self.root, plg_config.git_timeouts(root),
            extra_env=remote_auth_env() if auth else None, live=self._live_commands,
        )

    @property
    def _live_commands(self) -> set[subprocess.Popen[str]]:
        live = self.__dict__.get("_live")
        if live is None:
            live = self.__dict__.setdefault("_live", set())
        return live

    def abort_remote_commands(self) -> None:
        """Kill every network command still running for this store (a closing SDK client must not wait
        for a refresh that hangs)."""
        for proc in list(self._live_commands):
            _kill_group(proc)

    def remote_url(self, name: str) -> str | None:
        try:
            return self.run("remote", "get-url", name).strip() or None
        except GitError:
            return None

    def push_with_lease(self, remote: str, ref: str, expected_remote: str | None) -> None:
        self.require_remote(remote)
        lease = f"--force-with-lease={ref}:{expected_remote or ''}"
        try:
            self.remote("push", "--atomic", "--porcelain", lease, remote, f"{ref}:{ref}")
        except GitError as err:
            raise PushRejected(f"{remote} refused {ref.removeprefix('refs/tags/')}: {err.message}") from None

    def push_object_with_lease(self, remote: str, obj: str, ref: str, expected_remote: str | None) -> None:
        """Point the remote's `ref` at `obj` (a tag object no local ref names yet) if it still holds
        `expected_remote`: the remote moves first, so a refusal leaves nothing moved anywhere."""
        self.require_remote(remote)
        lease = f"--force-with-lease={ref}:{expected_remote or ''}"
        try:
            self.remote("push", "--atomic", "--porcelain", lease, remote, f"{obj}:{ref}")
        except GitError as err:
            raise PushRejected(f"{remote} refused {ref.removeprefix('refs/tags/')}: {err.message}") from None

    def fetch_object(self, remote: str, ref: str) -> bool:
        """Bring the object a remote ref names into this clone without moving any local ref."""
        try:
            self.remote("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, ref)
            return True
        except GitError:
            return False

    def require_remote(self, remote: str) -> None:
        """A name that is neither a configured remote nor a URL or path is a typo, not an outage: git's own
        answer ("does not appear to be a git repository") reads like a server that cannot be reached."""
        if remote.startswith("-"):
            raise BadInput(f"remote '{remote}' is not valid: it starts with '-'")
        if "/" in remote or ":" in remote or self.has_remote(remote):
            return
        known = self.run("remote").split()
        have = f"this repository's remotes: {', '.join(known)}" if known else "this repository has none"
        raise NotFound(f"no remote named '{remote}' ({have}; add it with `git remote add {remote} URL`)")

    def has_remote(self, remote: str) -> bool:
        try:
            self.run("remote", "get-url", "--", remote)
            return True
        except GitError:
            return False

    def fetch_tags(self, remote: str, prefix: str) -> dict[str, tuple[str | None, str | None]]:
        """Force-fetch every tag under `prefix` (a plain fetch keeps stale local tags); return the refs
        that changed, each with its (old, new) object."""
        self.require_remote(remote)
        before = {r.ref: r.object for r in self.tags(prefix)}
        spec = f"+{prefix}*:{prefix}*"
        try:
            self.remote("fetch", "--quiet", "--no-tags", remote, spec)
        except GitError as err:
            raise PushRejected(f"cannot fetch {prefix}* from {remote}: {err.message}") from None
        after = {r.ref: r.object for r in self.tags(prefix)}
        return {
            ref: (before.get(ref), after.get(ref))
            for ref in sorted(set(before) | set(after))
            if before.get(ref) != after.get(ref)
        }

    def remote_ref(self, remote: str, ref: str) -> str | None:
        self.require_remote(remote)
        try:
            out = self.remote("ls-remote", "--refs", remote, ref)
        except GitError as err:
            raise PushRejected(f"cannot read {remote}: {err.message}") from None
        for line in out.splitlines():
            sha, name = line.split("\t", 1)
            if name == ref:
                return sha
        return None

    def fetch_notes(self, remote: str, notes_ref: str) -> bool:
        """Bring the remote's notes in and merge them with ours (notes are not fetched by a clone).

        Returns False when the remote has no such notes ref yet."""
        self.require_remote(remote)
        tracking = _remote_notes_ref(remote, notes_ref)
        try:
            self.remote("fetch", "--quiet", "--no-tags", remote, f"+{notes_ref}:{tracking}")
        except GitError as err:
            if "couldn't find remote ref" in err.message:
                return False
            raise PushRejected(f"cannot fetch {notes_ref} from {remote}: {err.message}") from None
        if self.ref_value(notes_ref) is None:
            self.run("update-ref", notes_ref, tracking)
        else:
            short = notes_ref.removeprefix("refs/notes/")
            self._raw(
                ["notes", f"--ref={short}", "merge", "--quiet", "-s", "cat_sort_uniq", tracking],
                extra_env=self._notes_ident,
            )
        return True

    def push_notes(self, remote: str, notes_ref: str, attempts: int = 4) -> None:
        """Push notes, merging what others pushed meanwhile: concurrent CI jobs each add notes, and a
        plain push of the loser is rejected ("fetch first")."""
        self.require_remote(remote)
        last = ""
        for _ in range(attempts):
            try:
                self.remote("push", "--quiet", "--porcelain", remote, f"{notes_ref}:{notes_ref}")
                return
            except GitError as err:
                last = err.message
            if "(the remote said: " in last:  # its hook refused: merging and pushing again changes nothing
                raise PushRejected(f"{remote} refused {notes_ref}: {last}")
            self.fetch_notes(remote, notes_ref)
        raise PushRejected(f"{remote} refused {notes_ref} after {attempts} tries: {last}")

    def remote_ref_values(self, url: str, patterns: list[str]) -> dict[str, str]:
        """The remote's refs matching `patterns` (and HEAD), read with one `ls-remote`: the cheap check
        before a fetch. Peeled `^{}` lines are dropped so values compare with local tag objects."""
        try:
            out = self.remote("ls-remote", "--", url, "HEAD", *patterns, auth=False)
        except GitError as err:
            raise PushRejected(f"cannot read {url}: {err.message}") from None
        refs: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            if name and not name.endswith("^{}"):
                refs[name] = sha
        return refs

    def fetch_refspecs(self, url: str, refspecs: list[str]) -> None:
        """Fetch with forced refspecs and pruning: a plain fetch keeps a stale local tag (git >= 2.20),
        and a deleted remote label must disappear here too."""
        try:
            self.remote("fetch", "--quiet", "--no-tags", "--prune", "--no-write-fetch-head", "--", url, *refspecs,
                        auth=False)
        except GitError as err:
            raise PushRejected(f"cannot fetch from {url}: {err.message}") from None


_live_lock = threading.Lock()


def run_remote_command(
    args: list[str],
    cwd: Any,
    bounds: plg_config.GitTimeouts,
    *,
    extra_env: dict[str, str] | None = None,
    live: set[subprocess.Popen[str]] | None = None,
) -> str:
    """Run one git command that leaves the machine, bounded: `ls-remote` by `bounds.ls_remote`, anything
    else by `bounds.fetch`; git gives up on a stalled connection after `bounds.connect` by itself. A
    command past its bound is killed with its whole process group and raises GitError saying so."""
    limit = bounds.ls_remote if args[0] == "ls-remote" else bounds.fetch
    connect = f"{max(1, round(bounds.connect))}"
    command = gitreads.git_command(
        ["-c", "http.lowSpeedLimit=1000", "-c", f"http.lowSpeedTime={connect}", *args]
    )
    ssh = os.environ.get("GIT_SSH_COMMAND") or "ssh"
    env = gitreads.git_env({**(extra_env or {}), "GIT_SSH_COMMAND": f"{ssh} -o ConnectTimeout={connect}"})
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, errors="replace", start_new_session=True,
    )
    if live is not None:
        with _live_lock:
            live.add(proc)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        setting = "PLG_GIT_TIMEOUT" if args[0] == "ls-remote" else "PLG_GIT_FETCH_TIMEOUT"
        raise GitError(
            f"git {args[0]} got no answer from the remote within {limit:g} s (raise {setting} to wait longer)"
        ) from None
    finally:
        if live is not None:
            with _live_lock:
                live.discard(proc)
    if proc.returncode != 0:
        if proc.returncode < 0:
            raise GitError(f"git {args[0]} was stopped before the remote answered")
        raise GitError(f"git {args[0]} failed: {mask_urls_in(gitreads.git_problem(err, proc.returncode))}")
    return out


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _remote_notes_ref(remote: str, notes_ref: str) -> str:
    safe_remote = re.sub(r"[^A-Za-z0-9._-]", "_", remote)
    return f"refs/notes/remotes/{safe_remote}/{notes_ref.removeprefix('refs/notes/')}"


def remote_auth_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Git config, passed through the environment, that sends the CI token to the CI's own git server only.

    `PLG_GIT_TOKEN` (or GitHub's `GITHUB_TOKEN`) becomes an `http.<server>/.extraheader` scoped to
    `GITHUB_SERVER_URL` (default https://github.com), so git sends it to no other host. It travels in
    `GIT_CONFIG_*` variables, never on a command line another process could read, and is never written
    to `.git/config`."""
    env = os.environ if environ is None else environ
    token = env.get("PLG_GIT_TOKEN") or env.get("GITHUB_TOKEN")
    if not token:
        return {}
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/") + "/"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    index = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    return {
        "GIT_CONFIG_COUNT": str(index + 1),
        f"GIT_CONFIG_KEY_{index}": f"http.{server}.extraheader",
        f"GIT_CONFIG_VALUE_{index}": f"AUTHORIZATION: basic {basic}",
    }
