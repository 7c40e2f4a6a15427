"""The model layer: every model call plg makes, through litellm (imported and configured in `llm.door`).

Every call gets a timeout (litellm's default is 6,000 s), our own retries with backoff and jitter on
408/429/5xx/timeouts/connection errors honouring Retry-After (litellm's retries are switched off so they
do not multiply), a bound on calls in flight, the response cache, and errors scrubbed of anything that
looks like a credential before they are stored or shown.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from plg.errors import ModelCallError
from plg.llm.cache import CachedAnswer, ResponseCache, cache_key, provider_environment
from plg.llm.door import litellm_loaded, litellm_module, litellm_ready, prewarm, quiet_call
from plg.llm.failures import Failure, classify
from plg.llm.offline import (
    OFFLINE_EMBEDDING_MODEL,
    OFFLINE_MODEL,
    offline_embedding,
    offline_reply,
    token_count,
)
from plg.llm.pricing import PriceBook
from plg.redact import scrub_secrets
from plg.tracing import spans as tracing

_prices = PriceBook()


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None
    latency_s: float
    cached: bool = False
    attempts: int = 1
    raw: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CallOptions:
    timeout: float = 60.0
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0


class ModelClient:
    """One per run or per SDK client: shares the cache, the in-flight bound and litellm's HTTP clients."""

    def __init__(
        self, cache: ResponseCache | None = None, options: CallOptions | None = None, max_in_flight: int = 16,
        *, refresh: bool = False,
    ) -> None:
        self.cache = cache
        self.refresh = refresh
        """Refresh the cache: never answer from it, but store each new answer (`--no-cache`)."""
        self.options = options or CallOptions()
        self.max_in_flight = max(1, max_in_flight)
        self._thread_slots = threading.BoundedSemaphore(self.max_in_flight)
        self._async_slots: dict[int, asyncio.Semaphore] = {}

    def _wait_before_retry(self, model: str, err: BaseException, attempt: int) -> float:
        """Seconds to wait before the next attempt, or the final ModelCallError when there is none."""
        failure = classify(err)
        if not failure.retryable or attempt >= self.options.max_attempts:
            raise self._final(model, failure, attempt) from None
        return self._delay(attempt, failure)

    def _delay(self, attempt: int, failure: Failure) -> float:
        backoff = min(self.options.backoff_max, self.options.backoff_base * 2 ** (attempt - 1))
        delay = random.uniform(backoff / 2, backoff)
        if failure.retry_after is not None:
            delay = max(delay, min(failure.retry_after, self.options.retry_after_max))
        return delay

    def _kwargs(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        kwargs = {
            **params,
            "model": model,
            "messages": messages,
            "timeout": self.options.timeout,
            "num_retries": 0,
            "max_retries": 0,
        }
        if model.startswith("openai/") and "api_base" not in kwargs:
            base = os.environ.get("OPENAI_API_BASE") or os.environ.get("OPENAI_BASE_URL")
            if base:
                kwargs["api_base"] = base
        return kwargs

    def _cached(self, model: str, kwargs: dict[str, Any], variant: int) -> tuple[str | None, Completion | None]:
        """The cache key covers the request as it goes out (`kwargs`, the endpoint included), so switching
        OPENAI_API_BASE to another server is a miss, never the old server's answer."""
        if self.cache is None:
            return None, None
        key = cache_key(model, kwargs, variant, provider_environment(model))
        if self.refresh:
            return key, None
        hit = self.cache.get(key)
        if hit is None:
            return key, None
        return key, Completion(
            hit.text, model, hit.prompt_tokens, hit.completion_tokens, hit.cost, 0.0, cached=True, attempts=0
        )

    def _store(self, key: str | None, completion: Completion) -> None:
        if key is not None and self.cache is not None:
            self.cache.put(
                key,
                completion.model,
                CachedAnswer(
                    completion.text, completion.prompt_tokens, completion.completion_tokens, completion.cost
                ),
            )

    @staticmethod
    def _to_completion(litellm: Any, model: str, response: Any, latency: float, attempts: int) -> Completion:
        try:
            text = response.choices[0].message.content or ""
        except (AttributeError, IndexError, KeyError, TypeError):
            raise ModelCallError(
                f"{model}: malformed response (no message content)", error_class="MalformedResponse"
            ) from None
        usage = getattr(response, "usage", None)
        cost = _prices.cost(litellm, model, usage)
        return Completion(
            text=text,
            model=model,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            cost=cost,
            latency_s=latency,
            attempts=attempts,
            raw=response,
        )

    @staticmethod
    def _offline(model: str, messages: list[dict[str, Any]]) -> Completion | None:
        """plg's own stand-in is answered in-process: the same answer litellm's registered provider gives,
        without litellm's import (seconds) and per-call dispatch (~3 ms)."""
        if model != OFFLINE_MODEL:
            return None
        started = time.perf_counter()
        text = offline_reply(messages)
        prompt_tokens = sum(token_count(str(m.get("content", ""))) for m in messages)
        return Completion(text, model, prompt_tokens, token_count(text), 0.0, time.perf_counter() - started)

    def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        variant: int = 0,
    ) -> Completion:
        if self._needs_import(model, messages, params, variant):
            litellm_module()  # before the span: the call's span times the call, not litellm's import
        with tracing.model_call_span(model) as note:
            return note(self._complete(model, messages, params, variant))

    async def acomplete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        variant: int = 0,
    ) -> Completion:
        if self._needs_import(model, messages, params, variant):
            await litellm_ready()  # before the span (seconds, once): it times the call, not the import
        with tracing.model_call_span(model) as note:
            return note(await self._acomplete(model, messages, params, variant))

    def _needs_import(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any] | None, variant: int
    ) -> bool:
        """The call will wait for litellm's import (a cached or offline answer never does)."""
        if litellm_loaded() or model == OFFLINE_MODEL:
            return False
        return self._cached(model, self._kwargs(model, messages, dict(params or {})), variant)[1] is None

    def _complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        variant: int = 0,
    ) -> Completion:
        offline = self._offline(model, messages)
        if offline is not None:
            return offline
        kwargs = self._kwargs(model, messages, dict(params or {}))
        key, hit = self._cached(model, kwargs, variant)
        if hit is not None:
            return hit
        litellm = litellm_module()
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                with self._thread_slots, quiet_call():
                    response = litellm.completion(**kwargs)
                completion = self._to_completion(
                    litellm, model, response, time.perf_counter() - started, attempt
                )
                break
            except ModelCallError:
                raise
            except Exception as err:  # noqa: BLE001 - classified by _wait_before_retry
                time.sleep(self._wait_before_retry(model, err, attempt))
        self._store(key, completion)
        return completion

    async def _acomplete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        variant: int = 0,
    ) -> Completion:
        offline = self._offline(model, messages)
        if offline is not None:
            return offline
        kwargs = self._kwargs(model, messages, dict(params or {}))
        key, hit = self._cached(model, kwargs, variant)
        if hit is not None:
            return hit
        litellm = await litellm_ready()
        slots = self._slots()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with slots:
                    started = time.perf_counter()
                    with quiet_call(model):
                        response = await litellm.acompletion(**kwargs)
                    latency = time.perf_counter() - started
                completion = self._to_completion(litellm, model, response, latency, attempt)
                break
            except ModelCallError:
                raise
            except Exception as err:  # noqa: BLE001 - classified by _wait_before_retry
                await asyncio.sleep(self._wait_before_retry(model, err, attempt))
        self._store(key, completion)
        return completion

    def _slots(self) -> asyncio.Semaphore:
        loop_id = id(asyncio.get_running_loop())
        slots = self._async_slots.get(loop_id)
        if slots is None:
            slots = self._async_slots[loop_id] = asyncio.Semaphore(self.max_in_flight)
        return slots

    @staticmethod
    def _final(model: str, failure: Failure, attempts: int) -> ModelCallError:
        tries = f" after {attempts} attempt{'s' if attempts > 1 else ''}"
        err = ModelCallError(
            f"{model}: {failure.message}{tries}", status_code=failure.status, error_class=failure.error_class
        )
        err.attempts = attempts  # type: ignore[attr-defined]
        return err

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        if model == OFFLINE_EMBEDDING_MODEL:
            return [offline_embedding(t) for t in texts]
        litellm = litellm_module()
        try:
            with quiet_call():
                response = litellm.embedding(
                    model=model, input=texts, timeout=self.options.timeout, **self._embed_base(model)
                )
        except Exception as err:  # noqa: BLE001
            raise self._final(model, classify(err), 1) from None
        return [list(item["embedding"]) for item in response.data]

    async def aembed(self, model: str, texts: list[str]) -> list[list[float]]:
        if model == OFFLINE_EMBEDDING_MODEL:
            return [offline_embedding(t) for t in texts]
        litellm = await litellm_ready()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._slots():
                    with quiet_call():
                        response = await litellm.aembedding(
                            model=model, input=texts, timeout=self.options.timeout, **self._embed_base(model)
                        )
                return [list(item["embedding"]) for item in response.data]
            except Exception as err:  # noqa: BLE001 - classified by _wait_before_retry
                await asyncio.sleep(self._wait_before_retry(model, err, attempt))

    @staticmethod
    def _embed_base(model: str) -> dict[str, Any]:
        base = os.environ.get("OPENAI_API_BASE") or os.environ.get("OPENAI_BASE_URL")
        return {"api_base": base} if model.startswith("openai/") and base else {}

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


def open_client(
    root: Path, concurrency: int = 16, *, use_cache: bool = True, timeout: float | None = None,
    max_attempts: int | None = None, refresh: bool = False,
) -> ModelClient:
    """A client with the repository's response cache: what every model-calling command and the SDK share.
    `use_cache=False, refresh=True` (`--no-cache`): ask the provider every time and store what it says."""
    from plg import config as plg_config

    cache = ResponseCache(plg_config.cache_path(root)) if use_cache or refresh else None
    overrides: dict[str, Any] = {}
    if timeout:
        overrides["timeout"] = timeout
    if max_attempts:
        overrides["max_attempts"] = max_attempts
    return ModelClient(
        cache=cache, options=replace(CallOptions(), **overrides), max_in_flight=max(concurrency, 1),
        refresh=refresh and not use_cache,
    )


__all__ = [
    "CallOptions",
    "prewarm",
    "Completion",
    "ModelClient",
    "OFFLINE_EMBEDDING_MODEL",
    "OFFLINE_MODEL",
    "scrub_secrets",
]
