"""The response cache answers only the request it stored: same endpoint, same everything that is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from plg.llm.provider import open_client
from tests.conftest import CAKE_V1, GitRepo, run_cli
from tests.loopback_llm import API_KEY, LoopbackLLM

MSG = [{"role": "user", "content": "a lemon cake please"}]


@pytest.fixture
def two_servers(monkeypatch: pytest.MonkeyPatch) -> tuple[LoopbackLLM, LoopbackLLM]:
    with LoopbackLLM() as first, LoopbackLLM() as second:
        first.respond(lambda messages: "answer from the first server")
        second.respond(lambda messages: "answer from the second server")
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        monkeypatch.setenv("OPENAI_API_BASE", first.base_url)
        yield first, second


def test_switching_the_api_base_asks_the_new_server(
    two_servers: tuple[LoopbackLLM, LoopbackLLM], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first, second = two_servers
    client = open_client(tmp_path)
    assert client.complete("openai/fake-model", MSG).text == "answer from the first server"
    assert client.complete("openai/fake-model", MSG).cached
    monkeypatch.setenv("OPENAI_API_BASE", second.base_url)
    answer = client.complete("openai/fake-model", MSG)
    assert second.chat_count() == 1 and not answer.cached
    assert answer.text == "answer from the second server"
    monkeypatch.setenv("OPENAI_API_BASE", first.base_url)
    assert client.complete("openai/fake-model", MSG, {"seed": 7}).cached is False  # another request, too
    client.close()


def test_no_cache_refreshes_the_cache(two_servers: tuple[LoopbackLLM, LoopbackLLM], tmp_path: Path) -> None:
    first, _ = two_servers
    open_client(tmp_path).complete("openai/fake-model", MSG)
    first.respond(lambda messages: "a newer answer")
    refreshed = open_client(tmp_path, use_cache=False, refresh=True).complete("openai/fake-model", MSG)
    assert refreshed.text == "a newer answer" and first.chat_count() == 2
    again = open_client(tmp_path).complete("openai/fake-model", MSG)
    assert again.cached and again.text == "a newer answer" and first.chat_count() == 2


def test_an_eval_on_another_endpoint_calls_that_endpoint(
    repo: GitRepo, two_servers: tuple[LoopbackLLM, LoopbackLLM], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_servers
    repo.write("prompts/cake.prompt", CAKE_V1.replace("model: plg/offline", "model: openai/served"))
    repo.write("evals/cake.yaml", "prompt: cake\ndataset: cakes.csv\nscorers:\n  - type: contains\n    value: first\nthreshold: {min_score: 0.5}\n")
    repo.write("evals/cakes.csv", "cake_type\nlemon\ncarrot\n")
    repo.commit("cake")
    assert run_cli("eval", "cake").code == 0 and first.chat_count() == 2
    monkeypatch.setenv("OPENAI_API_BASE", second.base_url)
    switched = run_cli("eval", "cake")
    assert second.chat_count() == 2, switched
    assert switched.code == 1  # the second server's answers, judged: not the first one's reused
    first.respond(lambda messages: "a changed mind")
    monkeypatch.setenv("OPENAI_API_BASE", first.base_url)
    assert run_cli("eval", "cake", "--no-cache").code == 1 and first.chat_count() == 4
    assert run_cli("eval", "cake").code == 1 and first.chat_count() == 4  # the refreshed answers
