"""PromptLayer's error classes, each also a `PlgError`, and how plg's errors become them.

Every class PromptLayer's SDK exports exists here, so `except PromptLayerRateLimitError:` keeps
importing; the ones for HTTP statuses of PromptLayer's server (401, 403, 409, 422, 429, 5xx) are never
raised, as there is no server. `PromptLayerUnsupportedError` is plg's own: a call that needs
PromptLayer's server, raised with the plg way to do the same thing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from plg.errors import BadInput, ModelCallError, NotFound, OutsideFailure, PlgError

logger = logging.getLogger("plg.promptlayer.sync_client")


class PromptLayerError(PlgError):
    """PromptLayer's base error; also a `PlgError`. Constructed as PromptLayer's are
    (`PromptLayerError(message, response=None, body=None)`); in process `response` and `body` stay None."""

    def __init__(self, message: str, response: Any = None, body: Any = None) -> None:
        super().__init__(message)
        self.response = response
        self.body = body


class PromptLayerAPIError(PromptLayerError):
    pass


class PromptLayerNotFoundError(PromptLayerAPIError, NotFound):
    pass


class PromptLayerBadRequestError(PromptLayerAPIError, BadInput):
    pass


class PromptLayerAuthenticationError(PromptLayerAPIError):
    pass


class PromptLayerPermissionDeniedError(PromptLayerAPIError):
    pass


class PromptLayerConflictError(PromptLayerAPIError):
    pass


class PromptLayerUnprocessableEntityError(PromptLayerAPIError, BadInput):
    pass


class PromptLayerRateLimitError(PromptLayerAPIError, OutsideFailure):
    pass


class PromptLayerInternalServerError(PromptLayerAPIError, OutsideFailure):
    pass


class PromptLayerAPIStatusError(PromptLayerAPIError):
    pass


class PromptLayerValidationError(PromptLayerError, BadInput):
    pass


class PromptLayerAPIConnectionError(PromptLayerError, OutsideFailure):
    pass


class PromptLayerAPITimeoutError(PromptLayerAPIConnectionError):
    pass


class EvaluationFailedError(PromptLayerError):
    """PromptLayer's failed-eval error, for `except EvaluationFailedError:`; plg's evals are `plg eval`,
    whose figures and exit code say the same, so plg itself never raises it."""

    def __init__(self, message: str, *, score: Any = None, passing_score: Any = None, result: Any = None,
                 failing_row_indices: Any = None, response: Any = None, body: Any = None) -> None:
        super().__init__(message, response=response, body=body)
        self.score = score
        self.passing_score = passing_score
        self.result = result
        self.failing_row_indices = failing_row_indices


class PromptLayerUnsupportedError(PromptLayerError, BadInput):
    """A PromptLayer call that needs PromptLayer's server; the message names plg's way instead."""


def unsupported(call: str, instead: str) -> PromptLayerUnsupportedError:
    return PromptLayerUnsupportedError(f"{call} needs PromptLayer's server, which plg does not use: {instead}")


def translate(err: PlgError) -> PlgError:
    if isinstance(err, (PromptLayerError, ModelCallError)):
        return err
    if isinstance(err, NotFound):
        return PromptLayerNotFoundError(err.message)
    if isinstance(err, BadInput):
        return PromptLayerValidationError(err.message)
    if isinstance(err, OutsideFailure):
        return PromptLayerAPIConnectionError(err.message)
    return PromptLayerError(err.message)


def guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """PromptLayer's errors, or with `throw_on_error=False` a warning and None."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except PlgError as err:
            translated = translate(err)
            if self._throw:
                raise translated from None
            logger.warning("PromptLayer %s: %s", method.__name__, translated.message)
            return None

    return wrapper

