"""plg: a Git-native prompt registry with a CI/CD gate.

Attributes load on first use so that `import plg` stays cheap for commands that need only part of it.
"""

from __future__ import annotations

from typing import Any

_PROMPTLAYER = (
    "PromptLayer",
    "AsyncPromptLayer",
    "PromptLayerError",
    "PromptLayerAPIError",
    "PromptLayerNotFoundError",
    "PromptLayerBadRequestError",
    "PromptLayerValidationError",
    "PromptLayerAPIConnectionError",
    "PromptLayerAPITimeoutError",
)

__all__ = ["Client", "Registry", "PromptVersion", "PlgError", "evaluate", "current_span", *_PROMPTLAYER]

_LAZY = {
    **dict.fromkeys(_PROMPTLAYER, "plg.runtime.promptlayer"),
    "AsyncPromptLayer": "plg.runtime.promptlayer_async",
    "evaluate": "plg.evals.api",
    "Client": "plg.runtime.client",
    "Registry": "plg.registry.versions",
    "PromptVersion": "plg.registry.versions",
    "PlgError": "plg.errors",
    "current_span": "plg.tracing.spans",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'plg' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
