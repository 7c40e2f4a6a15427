"""Where plg keeps its local state and which defaults it runs with.

Each setting comes from, first to last: a command-line flag or an argument in code (the caller's), an
environment variable, the repository's settings file (`plg.toml` at its root, or `[tool.plg]` in its
`pyproject.toml`), a built-in default. Environment variables come before the file so CI and tests can move
everything without touching a user's checkout. Both files at once is refused rather than merged: two
places that disagree is a mistake nobody should have to debug. The file is read once per process and again
only when it changes (mtime and size); tomllib and pydantic load only when a file is there to read.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from plg.errors import BadInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONFIG_FILE = "plg.toml"
PYPROJECT = "pyproject.toml"
DEFAULT_LABEL_TTL = 5.0
SETTINGS_ENV = {
    "log": "PLG_LOG",
    "cache": "PLG_CACHE",
    "label_ttl": "PLG_LABEL_TTL",
    "judge_model": "PLG_JUDGE_MODEL",
    "concurrency": "PLG_CONCURRENCY",
    "git_connect_timeout": "PLG_GIT_CONNECT_TIMEOUT",
    "git_timeout": "PLG_GIT_TIMEOUT",
    "git_fetch_timeout": "PLG_GIT_FETCH_TIMEOUT",
}
"""Each settings-file key and the environment variable that overrides it."""


def state_dir(root: Path) -> Path:
    override = os.environ.get("PLG_DIR")
    return Path(override) if override else Path(root) / ".plg"


def cache_path(root: Path) -> Path:
    override = os.environ.get("PLG_CACHE")
    if override:
        return _a_file(Path(override), "PLG_CACHE", "cache.db")
    settings = load_settings(root)
    configured = settings.path("cache")
    if configured:
        return _a_file(Path(configured), f"{settings.source}: cache", "cache.db")
    return state_dir(root) / "cache.db"


def _a_file(path: Path, where: str, example: str) -> Path:
    """A database setting that names a directory is a mistake to say, not a file to fail opening."""
    if path.is_dir():
        raise BadInput(f"{where} = '{path}' is a directory: name a file in it (e.g. {path / example})")
    return path


def log_path(root: Path) -> Path:
    return Path(log_location(root))


def log_location(root: Path | None) -> str:
    """The request log: a SQLite file, or a `postgresql://` URL (PLG_LOG or the file may hold either).
    `root` None: no checkout (an SDK following a remote or a bundle), so no settings file either."""
    override = os.environ.get("PLG_LOG")
    if override:
        if "://" not in override:
            _a_file(Path(override), "PLG_LOG", "requests.db")
        return override
    settings = load_settings(root) if root is not None else None
    configured = settings.path("log") if settings is not None else None
    if configured and "://" not in configured and settings is not None:
        _a_file(Path(configured), f"{settings.source}: log", "requests.db")
    return configured or str(state_dir(root if root is not None else Path.cwd()) / "requests.db")


def label_ttl(root: Path | None) -> float:
    """Seconds the SDK reuses a label's answer before it reads the label again."""
    value = _env_number("PLG_LABEL_TTL", float, 0, 86_400)
    if value is None and root is not None:
        value = load_settings(root).settings.label_ttl
    return DEFAULT_LABEL_TTL if value is None else float(value)


def judge_model(root: Path | None) -> str | None:
    """The model an `llm_judge` without `model:` asks; None: the prompt's served model."""
    override = os.environ.get("PLG_JUDGE_MODEL", "").strip()
    if override:
        return override
    return load_settings(root).settings.judge_model if root is not None else None


def concurrency(root: Path | None) -> int | None:
    """Model calls in flight when neither `-j` nor the pipeline says; None: the command's own default."""
    value = _env_number("PLG_CONCURRENCY", int, 1, 1024)
    if value is None and root is not None:
        value = load_settings(root).settings.concurrency
    return None if value is None else int(value)


@dataclass(frozen=True)
class GitTimeouts:
    """Bounds on every git command that leaves the machine: a remote that accepts a connection and never
    answers would otherwise hold a request (or the SDK's refresher) forever, since git has no overall timeout.

    `connect` bounds the connection (ssh's ConnectTimeout) and a stalled transfer (http.lowSpeedTime);
    `ls_remote` the whole cheap check; `fetch` a fetch, clone or push."""

    connect: float = 3.0
    ls_remote: float = 5.0
    fetch: float = 60.0


def git_timeouts(root: Path | None) -> GitTimeouts:
    """PLG_GIT_CONNECT_TIMEOUT / PLG_GIT_TIMEOUT / PLG_GIT_FETCH_TIMEOUT, else the settings file's
    git_connect_timeout / git_timeout / git_fetch_timeout, else 3 s, 5 s and 60 s."""
    settings = load_settings(root).settings if root is not None else NO_SETTINGS
    default = GitTimeouts()
    values: list[float] = []
    for key, fallback in (("git_connect_timeout", default.connect), ("git_timeout", default.ls_remote),
                          ("git_fetch_timeout", default.fetch)):
        value = _env_number(SETTINGS_ENV[key], float, 0.1, 3_600)
        if value is None:
            value = getattr(settings, key)
        values.append(fallback if value is None else float(value))
    return GitTimeouts(*values)


def _env_number(name: str, kind: type, low: float, high: float) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise BadInput(f"{name}={raw!r}: expected {'a whole number' if kind is int else 'a number'}") from None
    if not low <= value <= high:
        raise BadInput(f"{name}={raw!r}: expected {low:g} to {high:g}")
    return float(value)


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


@cache
def _settings_model() -> Any:
    """The settings file's schema, built on first use so commands that need no setting never import pydantic."""
    from pydantic import BaseModel, ConfigDict, Field

    class Endpoints(BaseModel):
        """`[endpoints] allow = [...]`: the api bases a prompt's or pipeline's `api_base`/`base_url` may name."""

        model_config = ConfigDict(extra="forbid", frozen=True)

        allow: list[str] = Field(default_factory=list)

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        log: str | None = Field(default=None, min_length=1)
        cache: str | None = Field(default=None, min_length=1)
        label_ttl: float | None = Field(default=None, ge=0, le=86_400)
        judge_model: str | None = Field(default=None, min_length=1)
        concurrency: int | None = Field(default=None, ge=1, le=1024)
        endpoints: Endpoints | None = None
        # The allowed-signers file evidence is verified against, a path in the repository read as
        # committed at HEAD (`registry.evidence`); default .github/plg-allowed-signers.
        allowed_signers: str | None = Field(default=None, min_length=1)
        git_connect_timeout: float | None = Field(default=None, ge=0.1, le=3_600)
        git_timeout: float | None = Field(default=None, ge=0.1, le=3_600)
        git_fetch_timeout: float | None = Field(default=None, ge=0.1, le=3_600)

    return Settings


@dataclass(frozen=True)
class _NoSettings:
    """What a repository without a settings file holds: every key unset (no pydantic needed to say so)."""

    log: None = None
    cache: None = None
    label_ttl: None = None
    judge_model: None = None
    concurrency: None = None
    endpoints: None = None
    allowed_signers: None = None
    git_connect_timeout: None = None
    git_timeout: None = None
    git_fetch_timeout: None = None


NO_SETTINGS = _NoSettings()


class SettingsFile:
    """One repository's settings and the file they came from (None: no settings file)."""

    def __init__(self, settings: Any, source: Path | None, root: Path) -> None:
        self.settings = settings
        self.source = source
        self.root = root
        self._paths: dict[str, str | None] = {}

    def path(self, key: str) -> str | None:
        """A path-valued key, resolved against the repository root. A relative path must stay inside the
        repository (it comes from a file a pull request can change); only an absolute path, written as
        such, may point elsewhere. URLs (postgresql://) are returned as given."""
        if key not in self._paths:
            self._paths[key] = self._resolve(key)
        return self._paths[key]

    def _resolve(self, key: str) -> str | None:
        value = getattr(self.settings, key)
        if value is None or "://" in value:
            return value
        given = Path(value)
        if given.is_absolute():
            return str(given)
        root = self.root.resolve()
        resolved = (root / given).resolve()
        if resolved != root and root not in resolved.parents:
            raise BadInput(
                f"{self.source}: {key} = {value!r} leads outside the repository (write an absolute path to mean it)"
            )
        return str(resolved)


_loaded: dict[Path, tuple[tuple[Any, ...], SettingsFile]] = {}
_loaded_lock = threading.Lock()


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def load_settings(root: Path) -> SettingsFile:
    """The settings of the repository at `root`, read once per process and again when a file changes."""
    root = Path(root)
    own, pyproject = root / CONFIG_FILE, root / PYPROJECT
    stamp = (_stamp(own), _stamp(pyproject))
    with _loaded_lock:
        found = _loaded.get(root)
    if found is not None and found[0] == stamp:
        return found[1]
    loaded = _read_settings(root, own if stamp[0] else None, pyproject if stamp[1] else None)
    with _loaded_lock:
        _loaded[root] = (stamp, loaded)
    return loaded


def _read_settings(root: Path, own: Path | None, pyproject: Path | None) -> SettingsFile:
    table: Any = None
    if pyproject is not None:
        tool = _parse_toml(pyproject).get("tool")
        table = tool.get("plg") if isinstance(tool, dict) else None
        if table is not None and not isinstance(table, dict):
            raise BadInput(f"{pyproject}: tool.plg must be a table ([tool.plg])")
    if own is not None:
        if table is not None:
            raise BadInput(f"{own} and [tool.plg] in {pyproject} both hold plg settings: keep one of them")
        return _validate_settings(_parse_toml(own), own, root, "")
    if table is not None:
        assert pyproject is not None
        return _validate_settings(table, pyproject, root, "tool.plg.")
    return SettingsFile(NO_SETTINGS, None, root)


def _parse_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise BadInput(f"{path}: not valid TOML ({err})") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None
    except RecursionError:
        raise BadInput(f"{path}: not valid TOML (nested too deeply)") from None
    except OSError as err:
        raise BadInput(f"{path}: {err.strerror}") from None


def _validate_settings(data: dict[str, Any], path: Path, root: Path, prefix: str) -> SettingsFile:
    from pydantic import ValidationError

    model = _settings_model()
    try:
        return SettingsFile(model.model_validate(data), path, root)
    except ValidationError as err:
        first = err.errors()[0]
        key = prefix + ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            raise BadInput(f"{path}: unknown key '{key}' (known keys: {', '.join(model.model_fields)})") from None
        raise BadInput(f"{path}: {key}: {first['msg'].lower()}") from None


# -- provider endpoints, credentials and litellm controls: never prompt content -------------------------

ENDPOINT_KEYS = frozenset({"api_base", "base_url"})
"""Where a request goes: allowed in a prompt or pipeline only when `[endpoints] allow` lists the value."""

_CONTROL_KEYS = frozenset({
    # credentials and where they go (litellm's ProviderConnection and friends)
    "api_key", "api_version", "responses_api_version", "region_name", "headers", "extra_headers",
    "provider_specific_header", "organization", "client", "shared_session", "ssl_verify", "tenant_id",
    "client_id", "client_secret", "deployment_id", "model_list", "use_xai_oauth", "chatgpt_auth_file",
    "configurable_clientside_auth_params", "request_timeout", "force_timeout", "stream_timeout",
    "timeout_by_service_tier", "stream_timeout_by_service_tier", "fireworks_forward_user_id",
    # which provider answers (DispatchOptions, RoutingOptions)
    "custom_llm_provider", "azure", "use_chat_completions_api", "use_in_pass_through", "allowed_openai_params",
    "fallbacks", "context_window_fallback_dict", "retry_policy", "retry_strategy", "routing_strategy",
    "cooldown_time", "allowed_model_region", "enable_tag_filtering", "fastest_response",
    "provider_affinity_header", "search_tool_name", "proxy_server_request", "model_info", "base_model",
    # what litellm logs, prices or answers by itself
    "logger_fn", "verbose", "callbacks", "success_callback", "failure_callback", "input_cost_per_token",
    "output_cost_per_token", "input_cost_per_second", "output_cost_per_second", "cost_per_second",
    "caching", "cache", "preset_cache_key", "drop_params", "additional_drop_params", "custom_prompt_dict",
})
_CONTROL_PREFIXES = (
    "_", "aws_", "azure_", "vertex_", "bedrock_", "litellm_", "mock_", "s3_", "gigachat_", "watsonx_", "github_copilot_",
    "token_exchange_", "anthropic_federation", "anthropic_identity", "anthropic_issuer", "anthropic_keycloak",
    "anthropic_organization", "anthropic_service_account", "anthropic_disable_workload", "openai_identity",
    "openai_service_account", "auto_router_", "complexity_router_", "adaptive_router_", "quality_router_",
    "switchyard_", "use_litellm", "user_api_key",
)

ENDPOINT_REFUSAL = "set endpoints in plg.toml or the environment, not in a prompt"


def is_control_key(key: str) -> bool:
    """A litellm parameter that carries a credential, picks the provider or host, or answers in litellm's
    place (`mock_response`): never prompt content, whatever plg.toml says."""
    return key in _CONTROL_KEYS or key.startswith(_CONTROL_PREFIXES)


def allowed_endpoints(root: Path | None) -> frozenset[str]:
    """The api bases plg.toml's `[endpoints] allow` lists (trailing slashes ignored); none without a checkout."""
    if root is None:
        return frozenset()
    endpoints = load_settings(root).settings.endpoints
    return frozenset(str(url).rstrip("/") for url in endpoints.allow) if endpoints is not None else frozenset()


def endpoint_problems(params: Any, allowed: frozenset[str]) -> list[str]:
    """The keys of `params` a prompt file or pipeline may not hold: every control key, and an endpoint
    (`api_base`, `base_url`) whose value the allow-list does not name."""
    if not isinstance(params, dict):
        return []
    def refused(key: str, value: Any) -> bool:
        if is_control_key(key):
            return True
        return key in ENDPOINT_KEYS and not (isinstance(value, str) and value.rstrip("/") in allowed)

    return sorted(str(k) for k, v in params.items() if refused(str(k), v))


def check_request_params(params: Any, where: str, root: Path | None) -> None:
    """Refuse (BadInput, exit 2) params that route the request or carry credentials: a prompt file comes
    from a pull request, and litellm sends the environment's key to whatever `api_base` it is given."""
    if not isinstance(params, dict) or not params:
        return
    names_endpoint = any(k in ENDPOINT_KEYS for k in params)
    found = endpoint_problems(params, allowed_endpoints(root) if names_endpoint else frozenset())
    if found:
        raise BadInput(f"{where}: params {', '.join(found)}: {ENDPOINT_REFUSAL}")
