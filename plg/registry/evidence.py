"""Which recorded figures are evidence: signed by a key the repository trusts, or produced by this clone.

`refs/notes/plg` cannot be protected by any host's rules, so a line read from notes is a claim. A writer
holding `PLG_SIGNING_KEY` (an OpenSSH ed25519 private key file, or the key's text, as a CI secret holds
it) signs each line's `payload()` with `ssh-keygen -Y sign -n plg-evidence`, the scheme git uses for signed
commits; a reader checks it with `ssh-keygen -Y find-principals` and `-Y verify` against the allowed-signers
file as committed at HEAD (never the working tree). A line this clone wrote itself is trusted while its run
file is still here and this clone's own record of the line's bytes says it wrote exactly them. Everything
else is not evidence: the caller evaluates again and says why.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from plg import config as plg_config
from plg.errors import BadInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from plg.registry.gitstore import GitStore
    from plg.registry.scores import RecordedScore

SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"  # git uses the one on PATH too
NAMESPACE = "plg-evidence"
KEY_ENV = "PLG_SIGNING_KEY"
DEFAULT_ALLOWED_SIGNERS = ".github/plg-allowed-signers"
TIMEOUT = 10.0


@dataclass(frozen=True)
class Trust:
    """Whether one recorded line is evidence, and if not, the reason the caller prints."""

    trusted: bool
    why: str


def _ssh_keygen(args: list[str], data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            [SSH_KEYGEN, *args], input=data, capture_output=True, timeout=TIMEOUT, check=False,
            stdin=None if data is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise BadInput(f"{SSH_KEYGEN} is missing: install openssh-client to sign or verify evidence") from None
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess([SSH_KEYGEN, *args], 255, b"", b"ssh-keygen timed out")


def _temp_file(text: bytes, prefix: str) -> Path:
    """A 0600 file (mkstemp's mode) holding `text`; the caller deletes it."""
    fd, name = tempfile.mkstemp(prefix=prefix)
    with os.fdopen(fd, "wb") as handle:
        handle.write(text)
    return Path(name)


# -- signing ---------------------------------------------------------------------------------------


def sign_all(scores: list[RecordedScore]) -> list[RecordedScore]:
    """The lines signed with `PLG_SIGNING_KEY` when it is set; unchanged otherwise. A key that is set but
    cannot sign is refused rather than silently writing unsigned evidence."""
    given = os.environ.get(KEY_ENV, "").strip()
    if not given or not scores:
        return scores
    key_text = given if "PRIVATE KEY-----" in given else None
    key_path = None if key_text else Path(given).expanduser()
    if key_path is not None and not key_path.is_file():
        raise BadInput(f"{KEY_ENV}: {key_path} is not a file (give an OpenSSH private key file or its text)")
    temp = _temp_file(key_text.replace("\r\n", "\n").strip().encode() + b"\n", ".plg-key-") if key_text else None
    key = str(temp or key_path)
    try:
        listed = _ssh_keygen(["-l", "-f", key])
        if listed.returncode != 0:
            raise BadInput(f"{KEY_ENV}: not an OpenSSH private key ({_said(listed)})")
        fingerprint = listed.stdout.decode(errors="replace").split()[1]
        signed = []
        for score in scores:
            proc = _ssh_keygen(["-Y", "sign", "-q", "-n", NAMESPACE, "-f", key], score.payload())
            if proc.returncode != 0:
                raise BadInput(f"{KEY_ENV}: ssh-keygen could not sign ({_said(proc)})")
            signed.append(replace(score, signature=proc.stdout.decode(), signer=fingerprint))
        return signed
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)


def _said(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = [line.strip() for line in proc.stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else f"exit {proc.returncode}"


# -- verifying --------------------------------------------------------------------------------------

_verified: dict[tuple[str, str, str], Trust] = {}
"""(allowed-signers blob, payload digest, signature digest) -> verdict, for this process."""


def allowed_signers_path(root: Path) -> str:
    """The allowed-signers file's path inside the repository (plg.toml `allowed_signers`, else
    `.github/plg-allowed-signers`). It is read from a commit, so it must be a path inside the tree."""
    configured = getattr(plg_config.load_settings(root).settings, "allowed_signers", None)
    path = (configured or DEFAULT_ALLOWED_SIGNERS).replace("\\", "/")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/") or ".." in parts or not parts:
        raise BadInput(f"allowed_signers = {configured!r}: give a path inside the repository, as committed")
    return "/".join(parts)


_TRUSTED_AT: list[str] = []


@contextmanager
def signers_at(commit: str) -> Iterator[None]:
    """Trust the allowed signers committed at `commit` instead of HEAD's: `plg ci` on a change trusts its
    base's, so a pull request cannot bring the key that signs its own figures."""
    _TRUSTED_AT.append(commit)
    try:
        yield
    finally:
        _TRUSTED_AT.pop()


def _signers_blob(store: GitStore) -> str | None:
    """The allowed-signers blob committed at HEAD (the branch being promoted), or at the commit
    `signers_at` names, or None."""
    try:
        head = store.resolve_commit(_TRUSTED_AT[-1] if _TRUSTED_AT else "HEAD")
    except Exception:  # noqa: BLE001 - no commit, no trusted key
        return None
    return store.blob_at(head, allowed_signers_path(store.root))


def verify(store: GitStore, score: RecordedScore) -> Trust:
    """Whether the line's signature verifies against a signer allowed at HEAD."""
    if not score.signature:
        return Trust(False, "is unsigned")
    blob = _signers_blob(store)
    if blob is None:
        return Trust(False, f"is signed, but HEAD has no {allowed_signers_path(store.root)} to check it against")
    payload = score.payload()
    key = (blob, hashlib.sha256(payload).hexdigest(), hashlib.sha256(score.signature.encode()).hexdigest())
    if key not in _verified:
        _verified[key] = _check(store.read_blob(blob), payload, score.signature)
    return _verified[key]


def _check(allowed: bytes, payload: bytes, signature: str) -> Trust:
    signers = _temp_file(allowed, ".plg-signers-")
    sig = _temp_file(signature.encode(), ".plg-sig-")
    try:
        found = _ssh_keygen(["-Y", "find-principals", "-f", str(signers), "-s", str(sig)])
        principals = found.stdout.decode(errors="replace").split() if found.returncode == 0 else []
        if not principals:
            return Trust(False, "has a signer not in the allowed signers")
        for principal in principals:
            args = ["-Y", "verify", "-n", NAMESPACE, "-I", principal, "-f", str(signers), "-s", str(sig)]
            if _ssh_keygen(args, payload).returncode == 0:
                return Trust(True, f"signed by {principal}")
        return Trust(False, "has a signature that does not verify")
    finally:
        signers.unlink(missing_ok=True)
        sig.unlink(missing_ok=True)


# -- produced by this clone -------------------------------------------------------------------------


def _produced_dir(root: Path) -> Path:
    return plg_config.state_dir(root) / "evidence"


def remember_produced(root: Path, scores: list[RecordedScore]) -> None:
    """Note the exact bytes of lines this clone wrote, so it can trust them later without a signature."""
    folder = _produced_dir(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for score in scores:
            (folder / hashlib.sha256(score.payload()).hexdigest()).touch()
    except OSError:  # an unwritable state dir: the lines are simply not trusted unsigned later
        return


def produced_here(root: Path, score: RecordedScore) -> bool:
    """This clone wrote exactly this line, and the run it came from is still here, for the same version."""
    if not score.run_id or "/" in score.run_id or score.run_id.startswith("."):
        return False
    if not (_produced_dir(root) / hashlib.sha256(score.payload()).hexdigest()).is_file():
        return False
    import json

    try:
        with (plg_config.runs_dir(root) / f"{score.run_id}.jsonl").open(encoding="utf-8") as handle:
            header = json.loads(handle.readline())
    except (OSError, ValueError):
        return False
    return (
        isinstance(header, dict)
        and header.get("run_id") == score.run_id
        and header.get("blob") == score.blob
        and tuple(header.get("dataset_hashes") or ()) == tuple(score.dataset_hashes)
        and score.model in (header.get("models") or ())
    )


def trust(store: GitStore, score: RecordedScore) -> Trust:
    if produced_here(store.root, score):
        return Trust(True, "produced by this clone")
    return verify(store, score)


def choose(store: GitStore, lines: list[RecordedScore]) -> tuple[RecordedScore | None, str]:
    """Among the lines of one identity (notes merged from two clones keep both), the newest that is
    evidence; an unverifiable line never wins over a verified one and alone is not evidence. Returns
    the line (or None) and, when None, why the newest line was not taken."""
    why = ""
    for score in sorted(lines, key=lambda s: s.time, reverse=True):
        verdict = trust(store, score)
        if verdict.trusted:
            return score, ""
        why = why or verdict.why
    return None, why
