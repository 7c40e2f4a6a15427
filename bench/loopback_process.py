"""The loopback OpenAI-compatible server in its own process, so a bench's CPU figures are the client's
alone and the server's threads do not compete with the client's event loop for the GIL.

Run as a script it serves until stdin closes, answering `count` and `reset` lines on stdout.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]


class LoopbackProcess:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> LoopbackProcess:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, str(self.latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self._proc.stdout is not None
        self.base_url = self._proc.stdout.readline().strip()
        return self

    def _ask(self, command: str) -> str:
        assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        return self._proc.stdout.readline().strip()

    def chat_count(self) -> int:
        return int(self._ask("count"))

    def reset(self) -> None:
        self._ask("reset")

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()


def _serve(latency: float) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.loopback_llm import LoopbackLLM

    with LoopbackLLM(latency=latency) as server:
        print(server.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "count":
                print(server.chat_count(), flush=True)
            elif line.strip() == "reset":
                server.reset()
                print("ok", flush=True)
        time.sleep(0)


if __name__ == "__main__":
    _serve(float(sys.argv[1]))
