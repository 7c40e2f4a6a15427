"""litellm's door: the one module that imports litellm, configures it and warms it for plg's calls.

Importing litellm costs seconds of CPU and ~200 MB, so commands that call no model never do, and
model-calling commands start it in a background thread (`prewarm`) while they read git, datasets and
caches. Inside plg's own calls (`quiet_call`) litellm neither prices responses nor runs its logging:
plg prices tokens itself (`llm.pricing`) and registers no litellm callbacks.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from plg.llm.loop import inline_preparation, prepares_inline
from plg.llm.offline import OFFLINE_EMBEDDING_MODEL, OFFLINE_MODEL, litellm_handler

_litellm: Any = None
_import_lock = threading.Lock()
_prewarm_lock = threading.Lock()
_prewarm_thread: threading.Thread | None = None
_to_warm: list[str] = []
_asked: set[str] = set()
_warming = False
_plg_call: contextvars.ContextVar[bool] = contextvars.ContextVar("plg_model_call", default=False)


def litellm_module() -> Any:
    """Import litellm once, quietly, offline-safe, with plg's offline model registered, and warmed for
    the models `prewarm` was asked for (see `_warm_up`). Waits for a background import or warm-up
    `prewarm` started instead of starting a second one.

    Its ~400,000 objects live as long as the process: the cyclic collector stays off while they are
    created (a quarter of the import's CPU went to collections that found nothing) and then they are
    moved out of its reach (`gc.freeze`): otherwise every full collection walks them all, ~0.3 ms of CPU
    per model call spread over a run. What is frozen is never collected as a cycle; garbage already in a
    cycle at that moment stays, once."""
    if _litellm is None or _warming:
        with _import_lock:
            if _litellm is None:
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                collecting = gc.isenabled()
                gc.disable()
                try:
                    import litellm

                    litellm.telemetry = False
                    litellm.suppress_debug_info = True
                    litellm.drop_params = True
                    litellm.set_verbose = False
                    litellm.custom_provider_map = [
                        *[p for p in (litellm.custom_provider_map or []) if p.get("provider") != "plg"],
                        {"provider": "plg", "custom_handler": litellm_handler(litellm)},
                    ]
                    _skip_unused_work(litellm)
                    _warm_asked(litellm)
                finally:
                    if collecting:
                        gc.enable()
                gc.freeze()
            elif _warming:
                _warm_asked(_litellm)
    return _litellm


def prewarm(models: Iterable[str] | None = None) -> None:
    """Start importing litellm (seconds of CPU) in a background thread, so that the command reads git,
    datasets and caches meanwhile and its first model call waits only for what is left of the import.
    Nothing starts when every model named is plg's own, which litellm never answers. Models named by a
    later call (`plg ci` starts the import before it knows which prompts changed) are warmed too, before
    the first model call goes ahead."""
    global _prewarm_thread, _warming
    models = list(models) if models is not None else None
    if models is not None and all(is_plg_model(m) for m in models):
        return
    with _prewarm_lock:
        fresh = [m for m in dict.fromkeys(models or ()) if not is_plg_model(m) and m not in _asked]
        _asked.update(fresh)
        _to_warm.extend(fresh)
        if _litellm is not None:
            if not fresh:
                return
            _warming = True
        if _prewarm_thread is None:
            _prewarm_thread = threading.Thread(target=_import_in_background, name="plg-litellm-import", daemon=True)
            _prewarm_thread.start()


def _import_in_background() -> None:
    global _prewarm_thread, _warming
    try:
        litellm = litellm_module()
    except Exception:  # the first model call imports again and reports the error
        with _prewarm_lock:
            _prewarm_thread, _warming = None, False
        return
    with _import_lock:  # a model call arriving meanwhile waits here, not on the event loop
        _warm_asked(litellm, leaving=True)


def _warm_asked(litellm: Any, leaving: bool = False) -> None:
    """Warm every queued model, then publish litellm. The last look at the queue and the publishing (and
    the background thread's leaving) happen under one hold of `_prewarm_lock`, so a model queued at any
    moment is either warmed here or finds no thread and starts one: never forgotten."""
    global _litellm, _warming, _prewarm_thread
    while True:
        with _prewarm_lock:
            batch, _to_warm[:] = list(_to_warm), []
            if not batch:
                _litellm, _warming = litellm, False
                if leaving:
                    _prewarm_thread = None
                return
        _warm_up(litellm, batch)


def _warm_up(litellm: Any, models: list[str]) -> None:
    """litellm's first call imports ~40 more of its modules (~0.25 s of CPU); on plg's event loop that
    stalls every row in flight. A mock completion per model (litellm answers it itself: nothing is
    sent, priced, cached or logged) pays for them in the import thread, before any row waits."""
    for model in models:  # `prewarm` queued each provider model once
        with suppress(Exception), quiet_call():
            litellm.completion(model=model, messages=[{"role": "user", "content": "warm-up"}], mock_response="ok")


def is_plg_model(model: str | None) -> bool:
    return model in (OFFLINE_MODEL, OFFLINE_EMBEDDING_MODEL) or (model or "").startswith("outputs:")


def _skip_unused_work(litellm: Any) -> None:
    """Inside plg's own calls, litellm neither prices the response (plg multiplies tokens by prices it
    looked up once per model) nor runs its success/failure logging (plg has no litellm callbacks):
    together most of litellm's CPU per call. Scoped by a context variable, so code in the same process
    that calls litellm directly keeps litellm's behaviour. Missing internals on another litellm
    version only cost speed."""
    try:
        from litellm.litellm_core_utils.litellm_logging import Logging
    except ImportError:
        return
    priced = getattr(Logging, "response_cost_calculator", None)
    if priced is None or getattr(priced, "_plg_skip", False):
        return

    def response_cost_calculator(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _plg_call.get():
            return None
        return priced(self, *args, **kwargs)

    response_cost_calculator._plg_skip = True  # type: ignore[attr-defined]
    Logging.response_cost_calculator = response_cost_calculator


def litellm_loaded() -> bool:
    """litellm is imported and warmed: a call now pays for itself only."""
    return _litellm is not None and not _warming


async def litellm_ready() -> Any:
    """litellm for a call made on the event loop: while its import finishes in a thread, the loop keeps
    answering cached and offline rows instead of stalling every task in flight."""
    if _litellm is not None and not _warming:
        return _litellm
    return await asyncio.to_thread(litellm_module)


@contextmanager
def quiet_call(model: str | None = None) -> Iterator[None]:
    """Mark the block as plg's own litellm call (see `_skip_unused_work`), and for a provider whose
    request preparation is pure CPU, as one whose preparation runs inline on plg's loop (plg.llm.loop)."""
    marker = _plg_call.set(True)
    inline = inline_preparation.set(model is not None and prepares_inline(model))
    internal: Any = None
    try:
        from litellm._internal_context import is_internal_call

        internal = is_internal_call.set(True)
    except ImportError:
        is_internal_call = None
    try:
        yield
    finally:
        if is_internal_call is not None:
            is_internal_call.reset(internal)
        inline_preparation.reset(inline)
        _plg_call.reset(marker)
