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
    if "LLM Provider NOT provided" in str(err):
        # litellm's 400 for a model string naming no provider it knows: nothing was sent, so it says
        # nothing about the prompt (a misspelled model is not a judgement of every row).
        return Failure(
            "UnknownProvider: litellm knows no provider for this model name (write provider/model, "
            "e.g. openai/gpt-4o-mini; a misspelling?)",
            None,
            "UnknownProvider",
            False,
            None,
        )
    refused = _connection_failure(err)
    if refused is not None:
        return Failure(scrub_secrets(refused), None, "ConnectionError", True, None)
    first_line = (str(err).strip().splitlines() or [name])[0][:300]
    message = scrub_secrets(f"{name}{f' ({status})' if status else ''}: {first_line}")
    return Failure(message, status, name, retryable, retry_after)


_CONNECT_ERRORS = ("ConnectError", "APIConnectionError", "ConnectionRefusedError", "ConnectionResetError")


def _connection_failure(err: BaseException) -> str | None:
    """litellm reports a refused connection as `InternalServerError (500)`; the cause chain holds the truth
    (httpx.ConnectError, ConnectionRefusedError) and the URL it tried."""
    chain: list[BaseException] = []
    seen: BaseException | None = err
    while seen is not None and seen not in chain and len(chain) < 12:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if not any(type(e).__name__ in _CONNECT_ERRORS for e in chain):
        return None
    where = None
    for link in reversed(chain):  # the innermost request is the one that was sent (litellm's is a stand-in)
        try:
            url = link.request.url  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):
            continue
        if url:
            where = str(url)
            break
    reason = (str(chain[-1]).strip().splitlines() or ["connection failed"])[0][:200]
    return f"could not connect to {where or 'the model endpoint'} ({reason})"
