"""What a failed model call means: its status, whether another attempt may succeed, and how long the
provider asked us to wait, with anything that looks like a credential scrubbed from the message."""

from __future__ import annotations

from dataclasses import dataclass

from plg.redact import scrub_secrets

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}


@dataclass(frozen=True)
class Failure:
    message: str
    status: int | None
    error_class: str
    retryable: bool
    retry_after: float | None


def classify(err: BaseException) -> Failure:
    status = getattr(err, "status_code", None)
    if not isinstance(status, int):
        status = None
    name = type(err).__name__
    retry_after = None
    response = getattr(err, "response", None)
    headers = getattr(response, "headers", None) or getattr(err, "litellm_response_headers", None) or {}
    try:
        value = headers.get("retry-after") if headers else None
        retry_after = float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        retry_after = None
    transient_names = (
        "Timeout",
        "APIConnectionError",
        "ServiceUnavailable",
        "InternalServerError",
        "RateLimit",
        "ConnectError",
        "ReadTimeout",
        "RemoteProtocolError",
        "APIError",
    )
    if status is not None:
        retryable = status in RETRY_STATUS or status >= 500
    else:
        retryable = any(t in name for t in transient_names) or isinstance(
            err, (TimeoutError, ConnectionError)
        )
    if name in (
        "BadRequestError",
        "AuthenticationError",
        "NotFoundError",
        "PermissionDeniedError",
        "ContextWindowExceededError",
        "ContentPolicyViolationError",
        "UnsupportedParamsError",
    ):
        retryable = False
    first_line = (str(err).strip().splitlines() or [name])[0][:300]
    message = scrub_secrets(f"{name}{f' ({status})' if status else ''}: {first_line}")
    return Failure(message, status, name, retryable, retry_after)
