"""Baselines the throughput benches time in the same run as plg, so their ratios survive a noisy machine.

- `bare_loop`: what a plain asynchronous HTTP client gets from the same server with the same concurrency:
  an httpx AsyncClient posting chat completions under a semaphore, no litellm. The issue's ceiling.
- `litellm_import`: importing litellm (as plg does) alone in a fresh interpreter.
- `litellm_cpu_per_call`: CPU per call of litellm alone (`acompletion` in a loop, as plg configures it):
  the floor under plg's own CPU per call, since every call goes through litellm.
- `median`: the median of repeats, with the spread, for honest figures on a shared machine.
- `ensure_bytecode`: plg's modules compiled as an installed package has them, so whole-process timings
  measure plg and not Python compiling an editable checkout (e.g. under PYTHONDONTWRITEBYTECODE).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bare_loop(base_url: str, api_key: str, rows: int, concurrency: int) -> float:
    """Seconds for `rows` chat completions, `concurrency` in flight, first request to last answer."""
    import httpx

    async def main() -> None:
        slots = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

            async def one(i: int) -> None:
                async with slots:
                    response = await client.post(
                        "/chat/completions",
                        json={"model": "fake-model", "messages": [{"role": "user", "content": f"Tell me about topic {i}."}]},
                        headers={"Authorization": f"Bearer {api_key}"},
                    )
                    response.raise_for_status()
                    response.json()

            await asyncio.gather(*(one(i) for i in range(rows)))

    started = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - started


def ensure_bytecode() -> None:
    import compileall

    compileall.compile_dir(str(ROOT / "plg"), quiet=1)


def litellm_cpu_per_call(base_url: str, rows: int, concurrency: int) -> float:
    """Milliseconds of this process's CPU per `litellm.acompletion`, `concurrency` in flight, no plg code
    on the path but litellm's configuration (call litellm_module first)."""
    from plg.llm.door import litellm_module, quiet_call

    litellm = litellm_module()

    async def main() -> None:
        slots = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with slots:
                with quiet_call():
                    await litellm.acompletion(
                        model="openai/fake-model",
                        messages=[{"role": "user", "content": f"Tell me about topic {i}."}],
                        api_base=base_url,
                        num_retries=0,
                        max_retries=0,
                        timeout=60,
                    )

        await asyncio.gather(*(one(i) for i in range(rows)))

    cpu = time.process_time()
    asyncio.run(main())
    return (time.process_time() - cpu) / rows * 1000


def litellm_import() -> float:
    """Seconds to import litellm the way plg does, in a fresh interpreter (whole process minus its floor)."""
    code = "import plg.llm.provider as p; p.litellm_module()"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    whole = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import plg.llm.provider"], check=True, env=env, capture_output=True)
    return whole - (time.perf_counter() - started)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def spread(samples: list[float]) -> str:
    return f"median of {len(samples)}: {median(samples):.2f} s (min {min(samples):.2f}, max {max(samples):.2f})"


def repeat(times: int, measure: Callable[[], float]) -> list[float]:
    return [measure() for _ in range(times)]


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
