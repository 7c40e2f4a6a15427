"""Where plg keeps its local, git-ignored state. Every path can be redirected by environment so tests and
CI never write into a user's checkout by accident."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def state_dir(root: Path) -> Path:
    override = os.environ.get("PLG_DIR")
    return Path(override) if override else Path(root) / ".plg"


def cache_path(root: Path) -> Path:
    override = os.environ.get("PLG_CACHE")
    return Path(override) if override else state_dir(root) / "cache.db"


def log_path(root: Path) -> Path:
    override = os.environ.get("PLG_LOG")
    return Path(override) if override else state_dir(root) / "requests.db"


def log_location(root: Path) -> str:
    """The request log: a SQLite file, or a `postgresql://` URL (PLG_LOG may hold either)."""
    return os.environ.get("PLG_LOG") or str(state_dir(root) / "requests.db")


def spill_path(root: Path) -> Path:
    """Where log rows wait, on this host, while the PostgreSQL log cannot be reached."""
    override = os.environ.get("PLG_LOG_SPILL")
    return Path(override) if override else state_dir(root) / "log-spill.db"


def runs_dir(root: Path) -> Path:
    override = os.environ.get("PLG_RUNS")
    return Path(override) if override else state_dir(root) / "runs"


def sources_dir() -> Path:
    """Where the SDK keeps its cache clones of remote registries: machine-wide, not per checkout, since
    a deployed application following a remote has no checkout at all."""
    override = os.environ.get("PLG_DIR")
    if override:
        return Path(override) / "sources"
    cache_home = os.environ.get("XDG_CACHE_HOME")
    return (Path(cache_home) if cache_home else Path.home() / ".cache") / "plg" / "sources"


def load_yaml(text: str) -> Any:
    """YAML as plain data with libyaml's C loader when PyYAML was built with it (~10x the pure-Python
    loader, which `plg list` spent most of its time in). Raises yaml.YAMLError."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
