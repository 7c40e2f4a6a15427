"""The pip requirement generated workflows install: this exact plg, and nothing else on any index.

A bare name resolves to whatever a public index holds under it (`plg` there is an unrelated package), so
`plg init` writes a direct reference to the code that is running: the git URL and commit it was installed
from (PEP 610's `direct_url.json`), or the checkout it runs from. Only a release installed from an index
is pinned by name, to its exact version.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

from plg.errors import BadInput, PlgError
from plg.registry.gitstore import GitStore

DISTRIBUTION = "plg-registry"
_SCP_LIKE = re.compile(r"^(?P<user>[\w.-]+)@(?P<host>[\w.-]+):(?P<path>.+)$")


@dataclass(frozen=True)
class Requirement:
    line: str
    note: str | None = None


def current_requirement() -> Requirement:
    dists = list(metadata.distributions(name=DISTRIBUTION))
    direct = next((d.read_text("direct_url.json") for d in dists if d.read_text("direct_url.json")), None)
    if direct is None:
        source = Path(__file__).resolve().parents[2]
        if (source / "pyproject.toml").exists() or not dists:
            return _from_checkout(source)
        return Requirement(f"{DISTRIBUTION}=={dists[0].version}")
    info = json.loads(direct)
    url = info.get("url", "")
    vcs = info.get("vcs_info")
    if vcs and vcs.get("vcs") == "git" and vcs.get("commit_id"):
        return Requirement(f"{DISTRIBUTION} @ git+{url}@{vcs['commit_id']}")
    if url.startswith("file://") and "dir_info" in info:
        return _from_checkout(Path(unquote(urlparse(url).path)))
    if url.startswith(("https://", "http://")):
        return Requirement(f"{DISTRIBUTION} @ {url}")
    version = metadata.version(DISTRIBUTION)
    return Requirement(f"{DISTRIBUTION}=={version}", f"installed from {url}: pinned by version")


def _from_checkout(path: Path) -> Requirement:
    try:
        store = GitStore(path)
        commit = store.resolve_commit("HEAD")
    except PlgError:
        raise BadInput(
            f"plg runs from {path}, which is not a git checkout: pass --install with the requirement "
            "your workflows should install"
        ) from None
    origin = _network_url(store.remote_url("origin"))
    dirty = " (it has uncommitted changes, which the workflows will not see)" if store.is_dirty("plg") else ""
    if origin:
        return Requirement(
            f"{DISTRIBUTION} @ git+{origin}@{commit}",
            f"pinned to commit {commit[:12]} of {origin}: push it before the workflows run{dirty}",
        )
    return Requirement(
        f"{DISTRIBUTION} @ git+file://{store.root}@{commit}",
        f"the checkout at {store.root} has no network remote, so the workflows' requirement points at this "
        f"machine: pass --install with your repository's URL for CI{dirty}",
    )


def _network_url(url: str | None) -> str | None:
    if not url:
        return None
    scp = _SCP_LIKE.match(url)
    if scp and "://" not in url:
        return f"ssh://{scp['user']}@{scp['host']}/{scp['path']}"
    if url.startswith(("https://", "http://", "ssh://", "git://")):
        return url
    return None
