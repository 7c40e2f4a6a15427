from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from plg.errors import ModelCallError
from plg.llm.cache import ResponseCache
from plg.llm.provider import CallOptions, ModelClient, litellm_module
from plg.redact import scrub_secrets
from tests.loopback_llm import API_KEY, LoopbackLLM

FAST = CallOptions(timeout=5, max_attempts=3, backoff_base=0.01, backoff_max=0.05)
MSG = [{"role": "user", "content": "a lemon cake please"}]


def test_completion_over_http_reports_text_tokens_latency(llm_server: LoopbackLLM) -> None:
    completion = ModelClient(options=FAST).complete("openai/fake-model", MSG, {"temperature": 0})
    assert "lemon" in completion.text and completion.prompt_tokens and completion.completion_tokens
    assert completion.latency_s > 0 and completion.attempts == 1
    assert llm_server.chat_count() == 1
    assert llm_server.requests[0]["temperature"] == 0
    assert llm_server.headers[0].get("Authorization") == f"Bearer {API_KEY}"


def test_429_is_retried_after_retry_after(llm_server: LoopbackLLM) -> None:
    llm_server.fail_next(429, retry_after=1)
    started = time.perf_counter()
    completion = ModelClient(options=FAST).complete("openai/fake-model", MSG)
    assert time.perf_counter() - started >= 0.95
    assert completion.attempts == 2 and llm_server.chat_count() == 2


def test_500_is_retried_then_gives_up_with_exit_3(llm_server: LoopbackLLM) -> None:
    llm_server.fail_next(500, n=2)
    assert ModelClient(options=FAST).complete("openai/fake-model", MSG).attempts == 3
    llm_server.reset()
    llm_server.fail_next(500, n=5)
    with pytest.raises(ModelCallError) as caught:
        ModelClient(options=FAST).complete("openai/fake-model", MSG)
    assert caught.value.exit_code == 3 and caught.value.status_code == 500
    assert "after 3 attempts" in caught.value.message and llm_server.chat_count() == 3


def test_400_is_not_retried(llm_server: LoopbackLLM) -> None:
    llm_server.fail_next(400)
    with pytest.raises(ModelCallError, match="400"):
        ModelClient(options=FAST).complete("openai/fake-model", MSG)
    assert llm_server.chat_count() == 1


def test_timeout_is_retried_and_bounded(llm_server: LoopbackLLM) -> None:
    llm_server.hang_next(n=2, seconds=2)
    options = CallOptions(timeout=0.3, max_attempts=2, backoff_base=0.01)
    started = time.perf_counter()
    with pytest.raises(ModelCallError, match="(?i)timeout|timed out"):
        ModelClient(options=options).complete("openai/fake-model", MSG)
    assert time.perf_counter() - started < 1.9
    assert llm_server.chat_count() == 2


def test_malformed_body_is_an_error_not_a_crash(llm_server: LoopbackLLM) -> None:
    llm_server.malformed_next(n=5)
    with pytest.raises(ModelCallError):
        ModelClient(options=FAST).complete("openai/fake-model", MSG)


def test_concurrency_bound_is_respected(llm_server: LoopbackLLM) -> None:
    import asyncio

    llm_server.set_latency(0.1)
    client = ModelClient(options=FAST, max_in_flight=3)

    async def many() -> None:
        await asyncio.gather(
            *(client.acomplete("openai/fake-model", [{"role": "user", "content": str(i)}]) for i in range(12))
        )

    asyncio.run(many())
    assert llm_server.chat_count() == 12 and llm_server.max_in_flight <= 3


def test_cache_hit_makes_no_call_and_holds_no_key(llm_server: LoopbackLLM, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cache = ResponseCache(tmp_path / "cache.db")
    client = ModelClient(cache=cache, options=FAST)
    first = client.complete("openai/fake-model", MSG)
    second = client.complete("openai/fake-model", MSG)
    assert second.cached and second.text == first.text and llm_server.chat_count() == 1
    client.complete("openai/fake-model", MSG, variant=1)
    assert llm_server.chat_count() == 2
    cache.close()
    for path in tmp_path.glob("cache.db*"):
        assert API_KEY.encode() not in path.read_bytes()


def test_failed_call_is_not_cached(llm_server: LoopbackLLM, tmp_path) -> None:  # type: ignore[no-untyped-def]
    client = ModelClient(cache=ResponseCache(tmp_path / "c.db"), options=CallOptions(max_attempts=1))
    llm_server.fail_next(500)
    with pytest.raises(ModelCallError):
        client.complete("openai/fake-model", MSG)
    assert not client.complete("openai/fake-model", MSG).cached
    assert llm_server.chat_count() == 2


def test_offline_model_is_a_registered_litellm_provider() -> None:
    litellm = litellm_module()
    response = litellm.completion(model="plg/offline", messages=MSG)
    direct = ModelClient().complete("plg/offline", MSG)
    assert response.choices[0].message.content == direct.text
    assert "Ingredients" in direct.text and "lemon" in direct.text


def test_offline_embedding_ranks_similar_text_higher() -> None:
    from plg.evals.scorers import cosine

    client = ModelClient()
    a, b, c = client.embed(
        "plg/offline-embed", ["lemon cake with sugar", "a sugar lemon cake", "database index tuning"]
    )
    assert cosine(a, b) > 0.6 > cosine(a, c)


def test_openai_embeddings_over_http(llm_server: LoopbackLLM) -> None:
    vectors = ModelClient(options=FAST).embed("openai/text-embedding-3-small", ["one", "two"])
    assert len(vectors) == 2 and any(vectors[0])


def test_scrub_secrets() -> None:
    text = "failed: key=AIzaSyA-1234567890abcdefghijk sk-proj-abcdefgh123456 Authorization: Bearer abc.def.ghijklmn"
    scrubbed = scrub_secrets(text)
    assert "AIza" not in scrubbed and "sk-proj" not in scrubbed and "abc.def" not in scrubbed


def test_importing_the_model_layer_does_not_import_litellm() -> None:
    code = (
        "import sys, plg.llm.provider, plg.evals.runner, plg.runtime.client; assert 'litellm' not in sys.modules; print('ok')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_server_can_be_used_outside_pytest() -> None:
    with LoopbackLLM(latency=0.0) as server:
        assert server.base_url.startswith("http://127.0.0.1:")


def test_cost_is_litellm_price_for_a_known_model(llm_server: LoopbackLLM) -> None:
    """plg prices its own calls from litellm's cost map (litellm's per-call pricing is off for them):
    the figure must be the one litellm itself stamps on the same response."""
    import asyncio

    litellm = litellm_module()
    mine = ModelClient(options=FAST).complete("openai/gpt-4o-mini", MSG)
    theirs = asyncio.run(
        litellm.acompletion(model="openai/gpt-4o-mini", messages=MSG, api_base=llm_server.base_url)
    )
    assert theirs.usage.prompt_tokens == mine.prompt_tokens
    assert theirs.usage.completion_tokens == mine.completion_tokens
    assert mine.cost is not None and mine.cost > 0
    assert mine.cost == pytest.approx(theirs._hidden_params["response_cost"], rel=1e-9)


def test_unknown_model_has_no_cost_figure(llm_server: LoopbackLLM) -> None:
    assert ModelClient(options=FAST).complete("openai/fake-model", MSG).cost is None


def test_prewarm_imports_litellm_in_the_background_only_for_provider_models() -> None:
    code = (
        "import sys, threading\n"
        "from plg.llm import door, provider\n"
        "provider.prewarm(['plg/offline', 'plg/offline-embed'])\n"
        "assert 'litellm' not in sys.modules and door._prewarm_thread is None\n"
        "provider.prewarm(['plg/offline', 'openai/gpt-4o-mini'])\n"
        "thread = door._prewarm_thread\n"
        "assert thread is not None and thread.daemon and threading.current_thread() is not thread\n"
        "assert provider.litellm_module() is sys.modules['litellm']\n"
        "thread.join(30); assert not thread.is_alive(); print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr


@pytest.mark.parametrize("first", ["prewarm(None)", "litellm_module()"])
def test_a_model_named_after_the_import_started_is_warmed_too(first: str) -> None:
    """`plg ci` starts litellm's import before it knows which prompts changed; the models it learns of
    later must still be warmed, or the first row pays litellm's first-call imports on the event loop."""
    code = (
        "import sys\n"
        "from plg.llm import door, provider\n"
        f"provider.{first}\n"
        "provider.prewarm(['openai/fake-model'])\n"
        "provider.litellm_module()\n"
        "print('warmed', 'litellm.llms.litellm_proxy' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.splitlines() == ["warmed True"], proc.stderr


def test_prewarming_for_a_model_never_calls_its_provider(llm_server: LoopbackLLM, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys\n"
        "from plg.llm import door, provider\n"
        "provider.prewarm(['openai/fake-model', 'plg/offline'])\n"
        "door._prewarm_thread.join(60)\n"
        "print('warmed', 'litellm.llms.litellm_proxy' in sys.modules)\n"
        "answer = provider.ModelClient().complete('openai/fake-model', [{'role': 'user', 'content': 'hi'}])\n"
        "print('answered', answer.prompt_tokens is not None, answer.cached)\n"
    )
    env = {**os.environ, "PLG_CACHE": str(tmp_path / "cache.db")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.stdout.splitlines() == ["warmed True", "answered True False"], proc.stderr
    assert llm_server.chat_count() == 1  # the real call only: the warm-up is litellm's own mock answer


def test_help_does_not_import_litellm() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "plg.cli", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "Usage" in proc.stdout
    assert "litellm" not in proc.stderr


def test_a_refused_connection_says_so_and_where(llm_server: LoopbackLLM) -> None:
    where = llm_server.base_url
    llm_server.__exit__(None, None, None)  # the server is gone: its port now refuses connections
    with pytest.raises(ModelCallError) as caught:
        ModelClient(options=FAST).complete("openai/fake-model", MSG)
    message = caught.value.message
    assert f"could not connect to {where}/chat/completions" in message, message
    assert "refused" in message and "after 3 attempts" in message
    assert "500" not in message and "InternalServerError" not in message
    assert caught.value.exit_code == 3
