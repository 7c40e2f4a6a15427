"""plg: a Git-native prompt registry with a CI/CD gate.

Attributes load on first use so that `import plg` stays cheap for commands that need only part of it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # what type checkers see; at run time each name is imported on first use (below)
    from plg.errors import PlgError
    from plg.evals.api import evaluate
    from plg.promptlayer.async_client import AsyncPromptLayer
    from plg.promptlayer.errors import (
        EvaluationFailedError,
        PromptLayerAPIConnectionError,
        PromptLayerAPIError,
        PromptLayerAPIStatusError,
        PromptLayerAPITimeoutError,
        PromptLayerAuthenticationError,
        PromptLayerBadRequestError,
        PromptLayerConflictError,
        PromptLayerError,
        PromptLayerInternalServerError,
        PromptLayerNotFoundError,
        PromptLayerPermissionDeniedError,
        PromptLayerRateLimitError,
        PromptLayerUnprocessableEntityError,
        PromptLayerUnsupportedError,
        PromptLayerValidationError,
    )
    from plg.promptlayer.sync_client import PromptLayer
    from plg.registry.versions import PromptVersion, Registry
    from plg.runtime.client import Client
    from plg.tracing.spans import current_span

__all__ = [
    "Client",
    "Registry",
    "PromptVersion",
    "PlgError",
    "evaluate",
    "current_span",
    "PromptLayer",
    "AsyncPromptLayer",
    "PromptLayerError",
    "PromptLayerAPIError",
    "PromptLayerNotFoundError",
    "PromptLayerBadRequestError",
    "PromptLayerAuthenticationError",
    "PromptLayerPermissionDeniedError",
    "PromptLayerConflictError",
    "PromptLayerUnprocessableEntityError",
    "PromptLayerRateLimitError",
    "PromptLayerInternalServerError",
    "PromptLayerAPIStatusError",
    "PromptLayerValidationError",
    "PromptLayerAPIConnectionError",
    "PromptLayerAPITimeoutError",
    "PromptLayerUnsupportedError",
    "EvaluationFailedError",
]

_LAZY = {
    **{name: "plg.promptlayer.errors" for name in __all__ if name.startswith("PromptLayer")},
    "EvaluationFailedError": "plg.promptlayer.errors",
    "PromptLayer": "plg.promptlayer.sync_client",
    "AsyncPromptLayer": "plg.promptlayer.async_client",
    "evaluate": "plg.evals.api",
    "Client": "plg.runtime.client",
    "Registry": "plg.registry.versions",
    "PromptVersion": "plg.registry.versions",
    "PlgError": "plg.errors",
    "current_span": "plg.tracing.spans",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'plg' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
