"""Where a running application's prompts come from: a local checkout, or a git remote it follows.

Both answer `resolve(name, label, version)` from memory on the hot path. Pinned versions are cached
forever (a version number never changes meaning); moving references (a label, or the latest version)
are re-checked:

- local checkout: at most every `label_ttl` seconds, with one `rev-parse` of the tag;
- remote: never on a request. A background thread compares the remote's refs with the cache clone's
  (`ls-remote`, cheap) at most every `label_ttl` seconds and fetches only when something moved, then
  re-resolves every reference the application asked for and swaps the answers in. A remote that cannot
  be reached leaves the last good answers serving (from memory, or from the cache clone after a restart),
  with one warning per outage.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from plg import config as plg_config
from plg.errors import BadInput, PlgError, UntrustedLabel
from plg.redact import mask_url
from plg.registry.gitstore import GitStore, clone_bare
from plg.registry.labels import untrusted_reason
from plg.registry.versions import TAG_PREFIX, PromptVersion, Registry, validate_name

logger = logging.getLogger("plg.runtime.sources")

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+:")
FIRST_SYNC_WAIT = 0.5
"""Seconds the first request of a client with a cache clone waits for the remote before serving the cache."""
MAX_BACKOFF = 60.0
"""The longest wait between two refresh rounds while the remote keeps failing."""
REMOTE_REFSPECS = ["+refs/heads/*:refs/heads/*", f"+{TAG_PREFIX}*:{TAG_PREFIX}*"]


def is_remote(repo: str | Path) -> bool:
    """A URL (`https://`, `ssh://`, `file://`, `git://`) or scp-like `user@host:path`; anything else
    is a local path."""
    text = str(repo)
    return bool(_URL.match(text) or _SCP.match(text))


def without_password(url: str) -> str:
    """The URL as plg may log or store it: a password or token in the URL is dropped (`plg.redact.mask_url`)."""
    return mask_url(url)


@dataclass(frozen=True)
class _Resolved:
    version: PromptVersion
    checked_at: float
    tag_value: str | None
    generation: int = 0


class LocalSource:
    """A checkout on this machine: labels re-read at most every `label_ttl` seconds."""

    has_checkout = True
    """A repository on this machine, whose settings file (plg.toml, [tool.plg]) applies."""

    def __init__(self, repo: str | Path, label_ttl: float | None) -> None:
        self._repo = repo
        self._ttl_given = label_ttl
        self._lock = threading.Lock()
        self._pinned: dict[tuple[str, int], PromptVersion] = {}
        self._moving: dict[tuple[str, str | None], _Resolved] = {}
        self._registry: Registry | None = None
        self._warned: dict[tuple[str, str | None], str] = {}

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(self._repo)
        return self._registry

    @property
    def root(self) -> Path:
        """Where the request log and response cache live by default."""
        return self.registry.root

    def resolve(self, name: str, label: str | None, version: int | None) -> PromptVersion:
        if version is not None:
            key = (name, version)
            found = self._pinned.get(key)
            if found is None:
                with self._lock:
                    found = self._pinned[key] = self.registry.get(name, version=version)
            return found
        return self._resolve_moving(name, label)

    def names(self, label: str | None = None) -> list[str]:
        """Prompt names (those carrying `label`, when given)."""
        registry = self.registry
        if label is None:
            return registry.list()
        return sorted(n for n, labels in registry.all_labels().items() if label in labels)

    def invalidate(self, name: str | None = None) -> None:
        """Forget moving answers (all, or one prompt's) so the next request re-reads them."""
        with self._lock:
            for key in [k for k in self._moving if name is None or k[0] == name]:
                del self._moving[key]

    def close(self) -> None:
        pass

    @property
    def _ttl(self) -> float:
        """The caller's label_ttl, else PLG_LABEL_TTL or the checkout's settings file, else 5 s."""
        if self._ttl_given is None:
            self._ttl_given = plg_config.label_ttl(self.root if self.has_checkout else None)
        return self._ttl_given

    def _fresh(self, cached: _Resolved, now: float) -> bool:
        return now - cached.checked_at < self._ttl

    def _resolve_moving(self, name: str, label: str | None) -> PromptVersion:
        key = (name, label)
        self._ttl  # noqa: B018 - settled at the first request, so the settings file is read once
        cached = self._moving.get(key)
        now = time.monotonic()
        if cached is not None and self._fresh(cached, now):
            return cached.version
        with self._lock:
            cached = self._moving.get(key)
            if cached is not None and self._fresh(cached, now):
                return cached.version
            try:
                fresh = self._lookup(name, label, cached)
            except PlgError as err:
                if cached is None:
                    raise
                if self._warned.get(key) != err.message:  # one warning per problem, not one per re-check
                    self._warned[key] = err.message
                    logger.warning(
                        "plg: cannot re-check %s@%s, serving v%s: %s",
                        name,
                        label or "latest",
                        cached.version.version,
                        err.message,
                    )
                fresh = _Resolved(cached.version, now, cached.tag_value, self._generation())
            except OSError as err:
                if cached is None:
                    raise BadInput(f"cannot read the prompt repository: {err}") from None
                logger.warning("plg: cannot read the repository, serving %s: %s", cached.version.ref, err)
                fresh = _Resolved(cached.version, now, cached.tag_value, self._generation())
            self._moving[key] = fresh
            return fresh.version

    def _generation(self) -> int:
        return 0

    def _lookup(self, name: str, label: str | None, cached: _Resolved | None) -> _Resolved:
        validate_name(name)
        if label:
            validate_name(label, "label")
        registry = self.registry
        tag_ref = f"{TAG_PREFIX}{name}@{label}" if label else "HEAD"
        tag_value = registry.store.ref_value(tag_ref)
        if cached is not None and tag_value is not None and tag_value == cached.tag_value:
            return _Resolved(cached.version, time.monotonic(), tag_value, self._generation())
        registry.forget_history()
        if label:
            _require_plgs_label(registry, name, label)
        version = registry.get(name, label=label) if label else registry.latest(name)
        self._warned.pop((name, label), None)
        return _Resolved(version, time.monotonic(), tag_value, self._generation())


class RemoteSource(LocalSource):
    """A git remote followed through a bare cache clone under `plg.config.sources_dir()`.

    Answers are valid for the generation of the cache clone they were read from; the background
    refresher moves the generation forward only after it has re-resolved every known reference, so a
    request never waits on git or the network once the first load has succeeded."""

    has_checkout = False

    def __init__(self, url: str, label_ttl: float | None, cache_dir: Path | None = None) -> None:
        super().__init__(url, label_ttl)
        self.url = url
        self.shown_url = without_password(url)
        digest = hashlib.sha256(self.shown_url.encode()).hexdigest()[:16]
        self.cache_path = (cache_dir or plg_config.sources_dir()) / f"{digest}.git"
        self._gen = 0
        self._started = False
        self._outage = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._load_lock = threading.Lock()
        self._first_round = threading.Event()

    @property
    def root(self) -> Path:
        return Path.cwd()

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            with self._load_lock:
                if self._registry is None:
                    self._registry = self._first_load()
        return self._registry

    def _generation(self) -> int:
        return self._gen

    def _fresh(self, cached: _Resolved, now: float) -> bool:
        return cached.generation == self._gen

    def resolve(self, name: str, label: str | None, version: int | None) -> PromptVersion:
        self._ensure_loaded()  # before any lock: the first load may wait (bounded) for the first sync
        return super().resolve(name, label, version)

    def _resolve_moving(self, name: str, label: str | None) -> PromptVersion:
        self._ensure_loaded()
        return super()._resolve_moving(name, label)

    def _ensure_loaded(self) -> Registry:
        return self.registry

    def _first_load(self) -> Registry:
        """Clone when there is no cache yet (the one wait on the network, bounded by the fetch timeout),
        else serve the cache: its first sync runs on the refresher thread, and the first request waits
        for it at most `FIRST_SYNC_WAIT` seconds (a reachable remote is usually done by then; a silent
        one is not waited for, and whatever it brings later is swapped in like any refresh)."""
        if (self.cache_path / "HEAD").is_file():
            registry = Registry(store=GitStore.open_bare(self.cache_path))
            self._start_refresher(registry, sync_first=True)
            self._first_round.wait(FIRST_SYNC_WAIT)
            return registry
        store = clone_bare(self.url, self.cache_path, self.shown_url)
        store.fetch_refspecs(self.url, REMOTE_REFSPECS)
        registry = Registry(store=store)
        self._start_refresher(registry, sync_first=False)
        return registry

    def _sync(self, store: GitStore) -> bool:
        """Fetch when the remote's refs differ from the cache's; True when something moved."""
        remote = store.remote_ref_values(self.url, ["refs/heads/*", f"{TAG_PREFIX}*"])
        local = store.ref_values(["refs/heads/", TAG_PREFIX])
        if remote == local:
            return False
        store.fetch_refspecs(self.url, REMOTE_REFSPECS)
        return True

    def refresh(self) -> bool:
        """One round of the refresher: check, fetch if needed, re-resolve, publish. True if moved."""
        return self._refresh(self.registry)

    def _refresh(self, registry: Registry) -> bool:
        try:
            moved = self._sync(registry.store)
        except PlgError as err:
            self._note_outage(err)
            return False
        if self._outage:
            logger.warning("plg: %s is reachable again", self.shown_url)
            self._outage = False
        if moved:
            self._republish(registry)
        return moved

    def _republish(self, registry: Registry) -> None:
        with self._lock:
            registry.forget_history()
            generation = self._gen + 1
            for key, cached in list(self._moving.items()):
                name, label = key
                try:
                    if label:
                        _require_plgs_label(registry, name, label)
                    version = registry.get(name, label=label) if label else registry.latest(name)
                except PlgError as err:
                    logger.warning(
                        "plg: %s@%s no longer resolves on %s, serving v%s: %s",
                        name,
                        label or "latest",
                        self.shown_url,
                        cached.version.version,
                        err.message,
                    )
                    version = cached.version
                self._moving[key] = _Resolved(version, time.monotonic(), None, generation)
            self._gen = generation

    def _note_outage(self, err: PlgError) -> None:
        if not self._outage:
            logger.warning(
                "plg: cannot reach %s, serving the last versions fetched: %s", self.shown_url, err.message
            )
            self._outage = True

    def _start_refresher(self, registry: Registry, sync_first: bool) -> None:
        if self._started:
            return
        self._started = True
        self._thread = threading.Thread(
            target=self._refresh_loop, args=(registry, sync_first), name="plg-remote-refresh", daemon=True
        )
        self._thread.start()

    def _refresh_loop(self, registry: Registry, sync_first: bool) -> None:
        """Every `label_ttl` seconds while the remote answers; after a failed round (unreachable, or
        killed at its timeout) the wait doubles, up to `MAX_BACKOFF`, and is back to `label_ttl` after
        the first round that succeeds."""
        interval = max(self._ttl, 0.05)
        delay = 0.0 if sync_first else interval
        failures = 0
        while not self._stop.wait(delay):
            try:
                self._refresh(registry)
            except Exception as err:  # noqa: BLE001 - the refresher must outlive any one bad round
                logger.warning("plg: refreshing %s failed: %s", self.shown_url, err)
                self._outage = True
            finally:
                self._first_round.set()
            failures = min(failures + 1, 16) if self._outage else 0
            delay = min(interval * 2**failures, max(MAX_BACKOFF, interval)) if failures else interval

    def close(self) -> None:
        self._stop.set()
        if self._registry is not None:
            self._registry.store.abort_remote_commands()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _require_plgs_label(registry: Registry, name: str, label: str) -> None:
    """Serve only labels plg wrote (`registry.labels.untrusted_reason`): a tag pushed past the gate is
    refused, and the last good version keeps serving."""
    problem = untrusted_reason(registry, name, label)
    if problem is not None:
        raise UntrustedLabel(f"{name}@{label} is not plg's label: {problem}")


def open_source(repo: str | Path, label_ttl: float | None) -> LocalSource:
    return RemoteSource(str(repo), label_ttl) if is_remote(repo) else LocalSource(repo, label_ttl)
