"""Cost of the render bounds on the SDK's hot path, and how fast each runaway template is stopped.

1. A typical prompt (system + user section, one variable) rendered through plg (`PromptFile.render`: size
   checks, work budget, watchdog registration) against the same sections rendered by a plain Jinja2
   `ImmutableSandboxedEnvironment` in the same run: median microseconds per render and the difference, which
   is what the bounds add to `Client.run` (target: `Client.run` overhead <= 0.3 ms in bench/sdk_overhead.py).
2. Each reproduction from the hostile-input issue: seconds until it stops, and the error it stops with.

Usage: python bench/render_bounds.py [--renders 5000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = (
    "---\nmodel: plg/offline\ninputs:\n  cake_type: string\n---\nsystem:\nYou are a pastry chef.\n"
    "user:\nA recipe for a {{ cake_type }} cake.\n"
)
RUNAWAYS = {
    "nested loops over constants": '{% for a in "x"*100000 %}{% for b in "x"*100000 %}{% endfor %}{% endfor %}',
    "nested loops over input (time bound)": "{% for a in x %}{% for b in x %}{% endfor %}{% endfor %}",
    "constant power 9**99999999": "{{ (9**99999999) > 1 }}",
    "'a'.center(3000000000)": "{{ 'a'.center(3000000000)|length }}",
    "'x' * 10**10": "{{ ('x' * 10**10)|length }}",
    "list doubled 40 times": "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
    "recursive macro": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
}


def per_render_us(render, count: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for i in range(count):
        render(i)
    return (time.perf_counter() - start) / count * 1e6


def hot_path(renders: int, repeats: int) -> None:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from plg.registry.prompt import parse_prompt

    prompt = parse_prompt(PROMPT, "cake")
    plain_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    plain = [plain_env.from_string(s.source) for s in prompt.sections]

    def bounded(i: int) -> None:
        prompt.render({"cake_type": f"k{i}"})

    def unbounded(i: int) -> None:
        [t.render(cake_type=f"k{i}") for t in plain]

    bounded(0)
    unbounded(0)
    plg_us, plain_us = [], []
    for _ in range(repeats):
        plg_us.append(per_render_us(bounded, renders))
        plain_us.append(per_render_us(unbounded, renders))
    a, b = statistics.median(plg_us), statistics.median(plain_us)
    print(
        f"render of a 2-section prompt: plg (bounded) {a:.1f} us, plain sandbox {b:.1f} us -> bounds add "
        f"{a - b:.1f} us = {(a - b) / 1000:.4f} ms per Client.run ({a / b:.2f}x the plain render), median of {repeats}"
    )


def runaways() -> None:
    from plg.errors import PlgError
    from plg.registry.prompt import parse_prompt

    for title, template in RUNAWAYS.items():
        start = time.perf_counter()
        try:
            parse_prompt(template, "evil").render({"x": "y" * 100_000})
            outcome = "RENDERED (not stopped)"
        except PlgError as err:
            outcome = err.message
        print(f"{title}: stopped in {time.perf_counter() - start:.2f} s: {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--hot-path-only", action="store_true", help="skip the runaway templates")
    args = parser.parse_args()
    hot_path(args.renders, args.repeats)
    if not args.hot_path_only:
        runaways()


if __name__ == "__main__":
    main()
