"""Streamed model calls: text deltas as the provider sends them, and the whole answer once it is done.

Retries follow `ModelClient`'s rules but only before the first chunk: once text has reached the caller
a retry would repeat it, so a failure mid-stream is final. The offline model streams its answer word by
word in-process, so streaming code paths are testable without a provider. Streams bypass the response
cache (a cached answer has no chunks to replay).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from plg.errors import ModelCallError
from plg.llm.offline import OFFLINE_MODEL, offline_reply, token_count
from plg.llm.provider import Completion, ModelClient, litellm_module


@dataclass(frozen=True)
class Piece:
    """One chunk: the new text (possibly empty: role or usage chunks) and the provider's chunk object."""

    text: str
    raw: Any


@dataclass
class StreamResult:
    """Filled in while the stream is consumed; `completion` is set once it ended normally."""

    parts: list[str] = field(default_factory=list)
    chunks: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    completion: Completion | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _offline_chunks(messages: list[dict[str, Any]]) -> list[Piece]:
    words = offline_reply(messages).split(" ")
    pieces = []
    for i, word in enumerate(words):
        text = word if i == 0 else " " + word
        raw = {"object": "chat.completion.chunk", "model": OFFLINE_MODEL,
               "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
        pieces.append(Piece(text, raw))
    return pieces


def _delta_text(chunk: Any) -> str:
    try:
        return chunk.choices[0].delta.content or ""
    except (AttributeError, IndexError, TypeError):
        return ""


def _note(result: StreamResult, piece: Piece) -> None:
    result.parts.append(piece.text)
    result.chunks += 1
    usage = getattr(piece.raw, "usage", None)
    if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
        result.prompt_tokens = usage.prompt_tokens
        result.completion_tokens = usage.completion_tokens


def _finish(result: StreamResult, model: str, messages: list[dict[str, Any]], started: float, attempts: int) -> None:
    text = result.text
    prompt_tokens = result.prompt_tokens
    if prompt_tokens is None and model == OFFLINE_MODEL:
        prompt_tokens = sum(token_count(str(m.get("content", ""))) for m in messages)
        result.completion_tokens = token_count(text)
    cost = 0.0 if model == OFFLINE_MODEL else None
    result.completion = Completion(
        text, model, prompt_tokens, result.completion_tokens, cost, time.perf_counter() - started, attempts=attempts
    )


def _kwargs(client: ModelClient, model: str, messages: list[dict[str, Any]], params: dict[str, Any] | None) -> dict[str, Any]:
    kwargs = client._kwargs(model, messages, dict(params or {}))
    kwargs["stream"] = True
    kwargs["stream_options"] = {"include_usage": True}
    return kwargs


def stream(
    client: ModelClient, model: str, messages: list[dict[str, Any]], params: dict[str, Any] | None, result: StreamResult
) -> Iterator[Piece]:
    started = time.perf_counter()
    if model == OFFLINE_MODEL:
        for piece in _offline_chunks(messages):
            _note(result, piece)
            yield piece
        _finish(result, model, messages, started, 1)
        return
    litellm = litellm_module()
    kwargs = _kwargs(client, model, messages, params)
    attempt = 0
    while True:
        attempt += 1
        try:
            with client._thread_slots:
                for chunk in litellm.completion(**kwargs):
                    piece = Piece(_delta_text(chunk), chunk)
                    _note(result, piece)
                    yield piece
            break
        except ModelCallError:
            raise
        except Exception as err:  # noqa: BLE001 - classified below
            if result.chunks:
                raise _mid_stream(model, err, result.chunks) from None
            time.sleep(client._wait_before_retry(model, err, attempt))
    _finish(result, model, messages, started, attempt)


async def astream(
    client: ModelClient, model: str, messages: list[dict[str, Any]], params: dict[str, Any] | None, result: StreamResult
) -> AsyncIterator[Piece]:
    started = time.perf_counter()
    if model == OFFLINE_MODEL:
        for piece in _offline_chunks(messages):
            _note(result, piece)
            yield piece
        _finish(result, model, messages, started, 1)
        return
    litellm = litellm_module()
    kwargs = _kwargs(client, model, messages, params)
    attempt = 0
    while True:
        attempt += 1
        try:
            async with client._slots():
                response = await litellm.acompletion(**kwargs)
                async for chunk in response:
                    piece = Piece(_delta_text(chunk), chunk)
                    _note(result, piece)
                    yield piece
            break
        except ModelCallError:
            raise
        except Exception as err:  # noqa: BLE001 - classified below
            if result.chunks:
                raise _mid_stream(model, err, result.chunks) from None
            await asyncio.sleep(client._wait_before_retry(model, err, attempt))
    _finish(result, model, messages, started, attempt)


def _mid_stream(model: str, err: BaseException, chunks: int) -> ModelCallError:
    from plg.redact import scrub_secrets

    first_line = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
    return ModelCallError(
        scrub_secrets(f"{model}: the stream broke after {chunks} chunk(s): {type(err).__name__}: {first_line}"),
        error_class=type(err).__name__,
    )
