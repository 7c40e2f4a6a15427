"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

litellm talks to it over HTTP exactly as it would to a provider. It answers with plg's offline model
(so judge prompts get parseable scores), counts requests, and can inject latency, 429 with Retry-After,
500s, hangs and malformed bodies.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from plg.llm.offline import offline_embedding, offline_reply, token_count

API_KEY = "sk-test-loopback-0123456789abcdef"


class LoopbackLLM:
    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[Message] = []
        self._lock = threading.Lock()
        self._faults: list[tuple[str, int, float | None]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.responder: Callable[[list[dict[str, Any]]], str] = offline_reply
        self._server: ThreadingHTTPServer | None = None

    # -- control -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def chat_count(self) -> int:
        with self._lock:
            return sum(1 for p in self.paths if p.endswith("/chat/completions"))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.paths.clear()
            self.headers.clear()
            self._faults.clear()
            self.max_in_flight = 0

    def fail_next(self, status: int, n: int = 1, retry_after: float | None = None) -> None:
        with self._lock:
            self._faults += [("status", status, retry_after)] * n

    def hang_next(self, n: int = 1, seconds: float = 5.0) -> None:
        with self._lock:
            self._faults += [("hang", 0, seconds)] * n

    def malformed_next(self, n: int = 1) -> None:
        with self._lock:
            self._faults += [("malformed", 200, None)] * n

    def set_latency(self, seconds: float) -> None:
        self.latency = seconds

    def respond(self, responder: Callable[[list[dict[str, Any]]], str] | dict[str, str]) -> None:
        if isinstance(responder, dict):
            table = dict(responder)
            self.responder = lambda messages: table.get(
                str(messages[-1].get("content", "")), offline_reply(messages)
            )
        else:
            self.responder = responder

    def sampled(self, seed: int = 0) -> None:
        """A sampled model whose truth is known: a prompt saying `chance=P` is answered `yes` with
        probability P and `no` otherwise, every call drawing afresh (as a sampled model does) from an RNG
        seeded by (seed, message text, how many times that text was asked), so a trial is reproducible
        whatever order concurrent calls arrive in. A new seed is a new trial."""
        import random
        import re

        seen: dict[str, int] = {}

        def answer(messages: list[dict[str, Any]]) -> str:
            text = "\n".join(str(m.get("content", "")) for m in messages)
            found = re.search(r"chance=([0-9.]+)", text)
            if found is None:
                return offline_reply(messages)
            with self._lock:
                n = seen[text] = seen.get(text, -1) + 1
            draw = random.Random(f"{seed}|{text}|{n}").random()
            return "yes" if draw < float(found.group(1)) else "no"

        self.responder = answer

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> LoopbackLLM:
        server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _next_fault(self) -> tuple[str, int, float | None] | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # the default backlog of 5 drops connections when 32 clients connect at once


def _handler_for(llm: LoopbackLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = (
            True  # headers and body go out in two writes: Nagle + delayed ACK cost 40 ms
        )

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            with llm._lock:
                llm.requests.append(payload)
                llm.paths.append(self.path)
                llm.headers.append(self.headers)  # an email.message.Message: case-insensitive, as HTTP headers are
                llm.in_flight += 1
                llm.max_in_flight = max(llm.max_in_flight, llm.in_flight)
            try:
                self._answer(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test); nothing to answer
            finally:
                with llm._lock:
                    llm.in_flight -= 1

        def _answer(self, payload: dict[str, Any]) -> None:
            fault = llm._next_fault()
            if llm.latency:
                time.sleep(llm.latency)
            if fault is not None:
                kind, status, extra = fault
                if kind == "status":
                    headers = {"Retry-After": f"{extra:g}"} if extra is not None else {}
                    body = json.dumps(
                        {"error": {"message": f"injected {status}", "type": "test", "code": status}}
                    )
                    self._send(status, body.encode(), headers)
                    return
                if kind == "hang":
                    time.sleep(extra or 5.0)
                if kind == "malformed":
                    self._send(200, b'{"choices": [ this is not json')
                    return
            if self.path.endswith("/embeddings"):
                texts = payload.get("input") or []
                texts = [texts] if isinstance(texts, str) else texts
                data = [
                    {"object": "embedding", "index": i, "embedding": offline_embedding(str(t))}
                    for i, t in enumerate(texts)
                ]
                body = {
                    "object": "list",
                    "data": data,
                    "model": payload.get("model"),
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                }
                self._send(200, json.dumps(body).encode())
                return
            messages = payload.get("messages") or []
            text = llm.responder(messages)
            prompt_tokens = sum(token_count(str(m.get("content", ""))) for m in messages)
            if payload.get("stream"):
                self._stream(payload, text, prompt_tokens)
                return
            body = {
                "id": f"chatcmpl-{len(llm.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": payload.get("model", "fake-model"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": token_count(text),
                    "total_tokens": prompt_tokens + token_count(text),
                },
            }
            self._send(200, json.dumps(body).encode())

        def _stream(self, payload: dict[str, Any], text: str, prompt_tokens: int) -> None:
            """Server-sent events as OpenAI streams them: one delta per word, then usage if asked, then [DONE]."""
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            base = {"id": f"chatcmpl-{len(llm.requests)}", "object": "chat.completion.chunk",
                    "created": int(time.time()), "model": payload.get("model", "fake-model")}
            words = text.split(" ")
            for i, word in enumerate(words):
                delta = {"content": word if i == 0 else " " + word}
                if i == 0:
                    delta["role"] = "assistant"
                chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(last)}\n\n".encode())
            if (payload.get("stream_options") or {}).get("include_usage"):
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": token_count(text),
                         "total_tokens": prompt_tokens + token_count(text)}
                self.wfile.write(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


@pytest.fixture
def llm_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackLLM]:
    with LoopbackLLM() as server:
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        monkeypatch.setenv("OPENAI_API_BASE", server.base_url)
        yield server
