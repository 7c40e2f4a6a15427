"""What a model call cost, from litellm's cost map read once per model.

litellm prices every response itself (`completion_cost`, ~10 cost-map look-ups per call, a few ms of CPU
on the event loop); plg switches that off for its own calls and multiplies the response's token counts by
the per-token prices it looked up once. The prices are litellm's, so the figure is the one litellm gives.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rates:
    input: float
    output: float
    cached_input: float | None = None


class PriceBook:
    """Per-token prices by model name, looked up in litellm's cost map on first use; None for a model the
    map does not know (its calls have no cost figure, as with litellm)."""

    def __init__(self) -> None:
        self._rates: dict[str, Rates | None] = {}
        self._lock = threading.Lock()

    def rates(self, litellm: Any, model: str) -> Rates | None:
        try:
            return self._rates[model]
        except KeyError:
            pass
        found = _look_up(litellm, model)
        with self._lock:
            self._rates[model] = found
        return found

    def cost(self, litellm: Any, model: str, usage: Any) -> float | None:
        rates = self.rates(litellm, model)
        prompt = getattr(usage, "prompt_tokens", None)
        completion = getattr(usage, "completion_tokens", None)
        if rates is None or not isinstance(prompt, int) or not isinstance(completion, int):
            return None
        cached = _cached_tokens(usage) if rates.cached_input is not None else 0
        cached = min(cached, prompt)
        total = (prompt - cached) * rates.input + completion * rates.output
        if cached and rates.cached_input is not None:
            total += cached * rates.cached_input
        return total


def _look_up(litellm: Any, model: str) -> Rates | None:
    try:
        info = litellm.get_model_info(model)
    except Exception:  # noqa: BLE001 - litellm raises bare Exception for a model not in its map
        return None
    given, taken = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if not isinstance(given, (int, float)) or not isinstance(taken, (int, float)):
        return None
    cached = info.get("cache_read_input_token_cost")
    return Rates(float(given), float(taken), float(cached) if isinstance(cached, (int, float)) else None)


def _cached_tokens(usage: Any) -> int:
    details = getattr(usage, "prompt_tokens_details", None)
    value = getattr(details, "cached_tokens", None) if details is not None else None
    return value if isinstance(value, int) and value > 0 else 0
