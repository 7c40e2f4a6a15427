"""What the settings file (plg.toml) costs a command, against baselines timed in the same run.

- cold: a fresh interpreter that imports plg.config and asks for the log location, in a repository without
  a settings file and with a plg.toml (tomllib, pydantic, parse, validate), against the same interpreter
  importing plg.config only, and against one that defines a pydantic model (pydantic's first model class
  costs tens of ms; every eval command pays it anyway for its pipeline).
- warm: a setting asked again in the same process (the file is cached by mtime and size), against one
  `os.stat` of the file, the least a changed file could be noticed with.

    python bench/settings_read.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baselines import ensure_bytecode, median  # noqa: E402

SETTINGS = 'log = "var/requests.db"\ncache = "var/cache.db"\nlabel_ttl = 30\njudge_model = "gpt-4o-mini"\nconcurrency = 4\n'


def process_seconds(code: str, cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    ensure_bytecode()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "plg.toml").write_text(SETTINGS)
        env_free = "import os; [os.environ.pop(k, None) for k in ('PLG_LOG', 'PLG_DIR')]; "
        read = env_free + "from pathlib import Path; import plg.config as c; c.log_location(Path('{}'))"
        bare = root / "bare"
        bare.mkdir()
        pydantic_used = "from pydantic import BaseModel\nclass Used(BaseModel):\n    x: int = 0\n"
        cases = {
            "import plg.config": env_free + "import plg.config",
            "+ no settings file": read.format(bare),
            "+ a pydantic model": env_free + "import plg.config\n" + pydantic_used,
            "+ first settings read": read.format(root),
            "+ model, then read": pydantic_used + read.format(root),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, code in cases.items():
                samples[name].append(process_seconds(code, root))
        base = median(samples["import plg.config"])
        for name, values in samples.items():
            ms = median(values) * 1000
            print(f"{name:24s} {ms:7.1f} ms  ({median(values) / base:.2f}x import plg.config)")
        added = (median(samples["+ model, then read"]) - median(samples["+ a pydantic model"])) * 1000
        print(f"settings read in a command that already uses a pydantic model (every eval does): {added:.1f} ms")

        os.environ.pop("PLG_LOG", None)
        os.environ.pop("PLG_DIR", None)
        from plg import config

        config.log_location(root)
        calls = 20_000
        warm, stat = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            for _ in range(calls):
                config.log_location(root)
            warm.append((time.perf_counter() - started) / calls)
            started = time.perf_counter()
            for _ in range(calls):
                os.stat(root / "plg.toml")
            stat.append((time.perf_counter() - started) / calls)
        print(
            f"cached setting: {median(warm) * 1e6:.1f} us a call, one os.stat {median(stat) * 1e6:.1f} us "
            f"({median(warm) / median(stat):.1f}x)"
        )


if __name__ == "__main__":
    main()
