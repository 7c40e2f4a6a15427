"""How much work one render may do, and the watchdog that stops a render past its time.

The sandbox limits what a template may touch, not how much it may do. Three bounds close that gap:

- time: a watchdog thread raises an exception inside a render that runs past its deadline. It acts from
  outside the render, so loops that call nothing are stopped too; CPython checks for it between bytecodes.
- size: no single value a template builds (string, list, integer) may exceed a bound, checked *before* the
  operation that would allocate it, since one C call (`'a'.center(3000000000)`) cannot be interrupted.
- work: everything a render builds is charged to a budget, so a loop that keeps building bounded values
  cannot add up to gigabytes within its time.
"""

from __future__ import annotations

import contextvars
import ctypes
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from jinja2.utils import Namespace

from plg.errors import RenderBoundExceeded

MAX_RENDER_SECONDS = 2.0
MAX_RENDER_CHARS = 1_000_000
MAX_VALUE_CHARS = 1_000_000
MAX_RENDER_WORK = 50_000_000
MAX_INT_BITS = 16_384
MAX_LOOP_ITERATIONS = 1_000_000
MAX_RANGE = 100_000

_TICK = 0.05
T = TypeVar("T")


class _Overtime(BaseException):
    """Raised inside an overdue render by the watchdog. A BaseException, so no `except Exception` in the
    render path swallows it."""


class _Watch:
    __slots__ = ("budget", "deadline", "fired", "seconds", "thread")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.thread = threading.get_ident()
        self.fired = False
        self.budget = MAX_RENDER_WORK


_current: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar("plg_render_watch", default=None)
_watched: dict[int, _Watch] = {}
_keys = itertools.count()
_watchdog: threading.Thread | None = None
_start_lock = threading.Lock()
_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = [ctypes.c_ulong, ctypes.c_void_p]
_set_async_exc.restype = ctypes.c_int


def _watchdog_loop() -> None:
    while True:
        time.sleep(_TICK)
        now = time.monotonic()
        for key, watch in list(_watched.items()):
            # Whoever pops the entry owns the outcome: the render thread when it finished in time, this
            # thread when it did not. dict.pop is atomic, so exactly one of them does.
            if watch.deadline <= now and _watched.pop(key, None) is not None:
                _set_async_exc(watch.thread, id(_Overtime))
                watch.fired = True


def _ensure_watchdog() -> None:
    global _watchdog
    if _watchdog is not None and _watchdog.is_alive():
        return
    with _start_lock:
        if _watchdog is None or not _watchdog.is_alive():
            _watchdog = threading.Thread(target=_watchdog_loop, name="plg-render-watchdog", daemon=True)
            _watchdog.start()


def _overtime(where: str, seconds: float) -> RenderBoundExceeded:
    return RenderBoundExceeded(
        f"{where}: render stopped after {seconds:g} s (bound: render time {seconds:g} s)"
    )


def run_bounded(render: Callable[[], T], where: str, seconds: float | None = None) -> T:
    """Run `render` under the time and work bounds; a render already inside one shares it."""
    if _current.get() is not None:
        return render()
    seconds = MAX_RENDER_SECONDS if seconds is None else seconds
    watch = _Watch(seconds)
    key = next(_keys)
    token = _current.set(watch)
    claimed = False
    try:
        try:
            _watched[key] = watch
            _ensure_watchdog()
            result = render()
        finally:
            _current.reset(token)
            if _watched.pop(key, None) is None:
                # The watchdog claimed this render: wait until its exception is set, then drop it if it
                # has not been raised yet, so it can never surface in the caller's code.
                claimed = True
                while not watch.fired:
                    time.sleep(0.0001)
                _set_async_exc(watch.thread, None)
    except _Overtime:
        raise _overtime(where, seconds) from None
    except RecursionError:
        raise RenderBoundExceeded(
            f"{where}: render stopped: recursion too deep (bound: Python's recursion limit)"
        ) from None
    except MemoryError:
        raise RenderBoundExceeded(
            f"{where}: render stopped: out of memory (bound: render work {MAX_RENDER_WORK:,} characters)"
        ) from None
    if claimed:
        raise _overtime(where, seconds)
    return result


def charge(size: int) -> None:
    watch = _current.get()
    if watch is not None:
        watch.budget -= size
        if watch.budget < 0:
            raise RenderBoundExceeded(
                f"render stopped: it built more than {MAX_RENDER_WORK:,} characters in all (bound: render work)"
            )


def check_size(size: int, what: str) -> None:
    """Refuse a value before it is built; charge it to the render's work budget once it may be."""
    if size > MAX_VALUE_CHARS:
        raise RenderBoundExceeded(f"{what} would be {size:,} long (bound: value size {MAX_VALUE_CHARS:,})")
    charge(size)


def check_int_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise RenderBoundExceeded(
            f"{what} would have {bits:,} bits (bound: integer size {MAX_INT_BITS:,} bits)"
        )


def expanded_size(value: Any, limit: int = MAX_VALUE_CHARS) -> int:
    """About how long `str(value)` is, counted until it passes `limit`. Shared references make a small
    structure print as gigabytes (`[[x]*10]*10...`), so this walks the structure, not its memory."""
    if type(value) is str:
        return len(value)
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, dict | Namespace):
            pairs = item.items() if isinstance(item, dict) else _namespace_attrs(item).items()
            total += 2 + 4 * len(pairs)
            if total <= limit:
                for k, v in pairs:
                    stack += (k, v)
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            if total <= limit:
                stack.extend(item)
        else:
            total += 24
    return total


def _namespace_attrs(namespace: Namespace) -> dict[str, Any]:
    return dict(namespace._Namespace__attrs)  # type: ignore[attr-defined]


def expands_too_far(value: Any) -> bool:
    """YAML aliases let a few lines stand for gigabytes (a "billion laughs"): whatever is read from a file
    must not expand past the value bound once its shared parts are counted each time they appear."""
    return expanded_size(value, MAX_VALUE_CHARS) > MAX_VALUE_CHARS
