"""PromptLayer's documented SDK calls (prompt-layer-library 1.5.x docs), run with only the import changed.

Each call is the one from PromptLayer's docs; the assertions are what its docs say comes back. Model
calls go over HTTP to the loopback OpenAI-compatible server through litellm.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from plg import (
    AsyncPromptLayer,
    PlgError,
    PromptLayer,
    PromptLayerNotFoundError,
    PromptLayerUnsupportedError,
    PromptLayerValidationError,
)
from plg.gate.promotion import promote
from plg.log.query import LogQuery
from plg.registry.versions import Registry
from tests.conftest import GitRepo
from tests.loopback_llm import LoopbackLLM

POET = """---
model: openai/fake-model
params:
  temperature: 0.7
inputs:
  topic: string
---
system:
You are a poet.

user:
Write a short poem about {{ topic }}.
"""


@pytest.fixture
def poet(repo: GitRepo, llm_server: LoopbackLLM) -> GitRepo:
    repo.write_prompt("ai-poet", POET)
    repo.write_prompt("ai-poet", POET.replace("a poet", "a famous poet"))
    promote(Registry(repo.path), "ai-poet@1", "prod", gated=False)
    return repo


def _text(response: dict) -> str:
    return response["prompt_blueprint"]["prompt_template"]["messages"][-1]["content"][-1]["text"]


def test_run_as_documented(poet: GitRepo, llm_server: LoopbackLLM) -> None:
    pl = PromptLayer(api_key="pl_****")
    response = pl.run(prompt_name="ai-poet", input_variables={"topic": "The American Revolution"})
    text = _text(response)
    assert text and response["raw_response"].choices[0].message.content == text
    assert llm_server.requests[-1]["model"] == "fake-model"
    assert llm_server.requests[-1]["temperature"] == 0.7
    assert "The American Revolution" in llm_server.requests[-1]["messages"][1]["content"]
    blueprint = response["prompt_blueprint"]
    assert blueprint["metadata"]["model"] == {"provider": "openai", "name": "fake-model", "parameters": {"temperature": 0.7},
                                             "api_type": "chat-completions"}
    assert [m["role"] for m in blueprint["prompt_template"]["messages"]] == ["system", "user", "assistant"]
    logged = pl.client.log.get(response["request_id"])
    assert logged.output == text and logged.version == 2

    by_version = pl.run(prompt_name="ai-poet", prompt_version=1, input_variables={"topic": "x"})
    assert by_version["prompt_blueprint"]["version"] == 1
    by_label = pl.run(prompt_name="ai-poet", prompt_release_label="prod", input_variables={"topic": "x"})
    assert pl.client.log.get(by_label["request_id"]).label == "prod"
    assert llm_server.requests[-1]["messages"][0]["content"] == "You are a poet."

    tagged = pl.run(prompt_name="ai-poet", input_variables={"topic": "x"}, tags=["test", "experiment"],
                    metadata={"user_id": "12345"})
    row = pl.client.log.get(tagged["request_id"])
    assert set(row.tags) == {"test", "experiment"} and row.metadata == {"user_id": "12345"}

    pl.run(prompt_name="ai-poet", input_variables={"topic": "x"}, provider="openai", model="gpt-4",
           model_parameter_overrides={"temperature": 0.1})
    assert llm_server.requests[-1]["model"] == "gpt-4" and llm_server.requests[-1]["temperature"] == 0.1
    positional = pl.run("ai-poet", 1, None, {"topic": "y"})
    assert positional["prompt_blueprint"]["version"] == 1


def test_streaming_yields_chunks_and_logs_once(poet: GitRepo, llm_server: LoopbackLLM) -> None:
    pl = PromptLayer(api_key="pl_****")
    chunks = list(pl.run(prompt_name="ai-poet", input_variables={"topic": "tea"}, stream=True))
    assert len(chunks) > 2 and all(c["request_id"] is None for c in chunks[:-1])
    assert chunks[0]["raw_response"].choices[0].delta.content
    partial = chunks[1]["prompt_blueprint"]["prompt_template"]["messages"][-1]["content"][-1]["text"]
    final = chunks[-1]
    text = _text(final)
    assert text.startswith(partial) and len(text) > len(partial)
    assert llm_server.requests[-1]["stream"] is True
    rows = pl.client.log.query(LogQuery(prompt="ai-poet"))
    assert isinstance(final["request_id"], int)  # PromptLayer's request ids are integers: the log's row id
    assert [pl.client.log.seq_of(r.id) for r in rows] == [final["request_id"]] and rows[0].output == text
    assert rows[0].completion_tokens


def test_a_stream_closed_early_is_logged_once_with_what_arrived(poet: GitRepo) -> None:
    pl = PromptLayer(api_key="pl_****")
    stream = pl.run(prompt_name="ai-poet", input_variables={"topic": "tea"}, stream=True)
    first = next(stream)
    stream.close()
    rows = pl.client.log.query(LogQuery(prompt="ai-poet"))
    assert len(rows) == 1 and rows[0].error == "stream closed by the caller after 1 chunk(s)"
    assert rows[0].output == _text(first)


def test_templates_as_documented(poet: GitRepo) -> None:
    pl = PromptLayer(api_key="pl_****", base_url="https://api.promptlayer.com")
    template = pl.templates.get("ai-poet")
    assert template["prompt_name"] == "ai-poet" and template["version"] == 2
    assert "{{ topic }}" in template["prompt_template"]["messages"][1]["content"][0]["text"]
    assert template["prompt_template"]["input_variables"] == ["topic"]
    assert pl.templates.get("ai-poet", {"version": 1})["version"] == 1
    assert pl.templates.get("ai-poet", {"label": "prod"})["version"] == 1
    filled = pl.templates.get("ai-poet", {"label": "prod", "input_variables": {"topic": "rain"}})
    assert filled["prompt_template"]["messages"][1]["content"][0]["text"] == "Write a short poem about rain."
    assert filled["llm_kwargs"] == {"model": "fake-model", "messages": [
        {"role": "system", "content": "You are a poet."}, {"role": "user", "content": "Write a short poem about rain."}
    ], "temperature": 0.7}
    hotter = pl.templates.get("ai-poet", {"input_variables": {"topic": "x"}, "model_parameter_overrides": {"temperature": 1.2}})
    assert hotter["llm_kwargs"]["temperature"] == 1.2 and hotter["metadata"]["model"]["parameters"] == {"temperature": 1.2}
    assert [t["prompt_name"] for t in pl.templates.all()] == ["ai-poet"]
    assert pl.templates.all(label="staging") == [] and len(pl.templates.all(1, 30, "prod")) == 1
    with pytest.raises(PromptLayerNotFoundError) as caught:
        pl.templates.get("NonExistentTemplate")
    assert isinstance(caught.value, PlgError)
    assert PromptLayer(throw_on_error=False).templates.get("NonExistentTemplate") is None


def test_publish_commits_a_new_version_locally(poet: GitRepo) -> None:
    pl = PromptLayer(api_key="pl_****")
    body = {
        "prompt_name": "ai-poet",
        "prompt_template": {
            "type": "chat",
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "You are a terse poet."}]},
                {"role": "user", "content": [{"type": "text", "text": "A haiku about {topic}."}]},
            ],
            "input_variables": ["topic"],
        },
        "commit_message": "Terser",
        "metadata": {"model": {"provider": "openai", "name": "fake-model", "parameters": {"temperature": 0.2}}},
    }
    published = pl.templates.publish(body)
    assert published["version_number"] == 3 and published["commit_message"] == "Terser"
    assert poet.git("log", "-1", "--format=%s") == "Terser"
    assert poet.git("status", "--porcelain") == ""
    assert "origin" not in poet.git("remote")
    again = pl.run(prompt_name="ai-poet", input_variables={"topic": "snow"})
    assert again["prompt_blueprint"]["version"] == 3
    assert again["prompt_blueprint"]["prompt_template"]["messages"][1]["content"][0]["text"] == "A haiku about snow."
    with pytest.raises(PromptLayerValidationError, match="plg promote"):
        pl.templates.publish({**body, "release_labels": ["prod"]})


def test_track_group_and_log_request(poet: GitRepo) -> None:
    pl = PromptLayer(api_key="pl_****")
    pl_group_id = pl.group.create()
    assert isinstance(pl_group_id, int)
    response = pl.run(prompt_name="ai-poet", input_variables={"topic": "x"}, group_id=pl_group_id)
    request_id = response["request_id"]
    assert pl.track.metadata(request_id, {"session": "s1"}) is True
    assert pl.track.score(request_id, 100) is True
    assert pl.track.score(request_id, 40, score_name="brevity") is True
    assert pl.track.prompt(request_id, "ai-poet", {"topic": "y"}, version=1, label="prod") is True
    other = pl.run(prompt_name="ai-poet", input_variables={"topic": "z"})["request_id"]
    assert pl.track.group(request_id=other, group_id=pl_group_id) is True
    row = pl.client.log.get(request_id)
    assert row.scores == {"default": 100, "brevity": 40} and row.metadata["session"] == "s1"
    assert row.input_variables == {"topic": "y"} and row.label == "prod"
    grouped = pl.client.log.query(LogQuery(meta={"plg.group_id": str(pl_group_id)}))
    assert {pl.client.log.seq_of(r.id) for r in grouped} == {request_id, other}
    with pytest.raises(PromptLayerValidationError):
        pl.track.score(request_id, 101)

    start = time.time()
    logged = pl.log_request(
        provider="openai",
        model="gpt-4o",
        input={"type": "chat", "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]},
        output={"type": "chat", "messages": [{"role": "assistant", "content": [{"type": "text", "text": "Hi!"}]}]},
        request_start_time=start,
        request_end_time=start + 1.5,
        input_tokens=3,
        output_tokens=2,
        tags=["custom"],
        metadata={"custom_field": "value"},
        prompt_name="ai-poet",
        prompt_version_number=1,
        prompt_input_variables={"topic": "x"},
    )
    row = pl.client.log.get(logged["id"])
    assert row.model == "openai/gpt-4o" and row.output == "Hi!" and row.messages == [{"role": "user", "content": "Hello"}]
    assert row.latency_s == pytest.approx(1.5) and row.prompt_tokens == 3 and row.tags == ("custom",)


def test_traceable_with_positional_attributes(poet: GitRepo) -> None:
    pl = PromptLayer(api_key="pl_****", enable_tracing=True)

    @pl.traceable({"step": "poem"})
    def write(topic: str) -> str:
        return _text(pl.run(prompt_name="ai-poet", input_variables={"topic": topic}))

    @pl.traceable(attributes={"step": "plain"}, name="plain")
    def plain() -> int:
        return 7

    assert write("sea") and plain() == 7
    row = pl.client.log.query(LogQuery(prompt="ai-poet"))[0]
    spans = pl.client.log.trace(row.trace_id)
    assert any(s.name.endswith("write") and s.attributes.get("step") == "poem" for s in spans)


def test_async_promptlayer_every_method_awaitable(poet: GitRepo, llm_server: LoopbackLLM) -> None:
    async def script() -> None:
        apl = AsyncPromptLayer(api_key="pl_****")
        template = await apl.templates.get("ai-poet")
        assert template["version"] == 2
        assert len(await apl.templates.all()) == 1
        response = await apl.run(prompt_name="ai-poet", input_variables={"topic": "a"})
        assert response["raw_response"].choices[0].message.content == _text(response)
        generator = await apl.run(prompt_name="ai-poet", input_variables={"topic": "b"}, stream=True)
        chunks = [c async for c in generator]
        assert chunks[-1]["request_id"] and _text(chunks[-1])
        assert await apl.track.metadata(response["request_id"], {"key": "value"}) is True
        assert await apl.track.score(response["request_id"], 90, score_name="q") is True
        group_id = await apl.group.create()
        assert await apl.track.group(response["request_id"], group_id) is True
        logged = await apl.log_request(
            provider="openai", model="gpt-3.5-turbo",
            input={"type": "chat", "messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}]},
            output={"type": "chat", "messages": [{"role": "assistant", "content": [{"type": "text", "text": "a"}]}]},
            request_start_time=1630945600, request_end_time=1630945605,
        )
        assert apl.client.log.get(logged["id"]).latency_s == 5
        assert apl.client.log.get(response["request_id"]).scores == {"q": 90}

    asyncio.run(script())
    assert llm_server.chat_count() == 2


def test_template_sent_with_the_providers_own_sdk_then_logged(poet: GitRepo, llm_server: LoopbackLLM) -> None:
    """PromptLayer's documented pattern without `run`: fetch the filled template, call the provider, log it."""
    import openai

    pl = PromptLayer(api_key="pl_****")
    template = pl.templates.get("ai-poet", {"label": "prod", "provider": "openai", "input_variables": {"topic": "fog"}})
    start = time.time()
    completion = openai.OpenAI(base_url=llm_server.base_url, api_key="sk-test").chat.completions.create(
        **template["llm_kwargs"]
    )
    sent = llm_server.requests[-1]
    assert sent["model"] == "fake-model" and sent["temperature"] == 0.7
    assert sent["messages"][1]["content"] == "Write a short poem about fog."
    answer = completion.choices[0].message.content
    logged = pl.log_request(
        provider="openai", model=template["metadata"]["model"]["name"],
        input=template["prompt_template"],
        output={"type": "chat", "messages": [{"role": "assistant", "content": [{"type": "text", "text": answer}]}]},
        request_start_time=start, request_end_time=time.time(),
        parameters=template["metadata"]["model"]["parameters"],
        prompt_name="ai-poet", prompt_version_number=template["version"], prompt_input_variables={"topic": "fog"},
    )
    row = pl.client.log.get(logged["id"])
    assert (row.model, row.version, row.output, row.error) == ("openai/fake-model", 1, answer, None)
    assert row.messages[1] == {"role": "user", "content": "Write a short poem about fog."}

    failed = pl.log_request(
        provider="openai", model="fake-model", input={"type": "completion", "content": [{"type": "text", "text": "Hi"}]},
        output={"type": "completion", "content": []}, request_start_time=start, request_end_time=start + 2,
        status="ERROR", error_type="PROVIDER_RATE_LIMIT",
    )
    row = pl.client.log.get(failed["id"])
    assert row.messages == [{"role": "user", "content": "Hi"}] and row.error == "PROVIDER_RATE_LIMIT"
    assert row.output == ""
    with pytest.raises(PromptLayerValidationError, match="status"):
        pl.log_request(provider="openai", model="m", input={"type": "chat", "messages": []}, output={},
                       request_start_time=start, request_end_time=start, status="FAILED")


def test_calls_that_need_promptlayers_server_name_the_plg_way(poet: GitRepo) -> None:
    pl = PromptLayer(api_key="pl_****")
    calls = {
        "run_workflow": lambda: pl.run_workflow("onboarding", input_variables={"user": "ada"}),
        "pl.openai": lambda: pl.openai.OpenAI(),
        "pl.anthropic": lambda: pl.anthropic.Anthropic(),
        "pl.evals": lambda: pl.evals,
        "pl.tables": lambda: pl.tables,
        "pl.skills": lambda: pl.skills,
        "tracer_provider": lambda: PromptLayer(tracer_provider=object()),
        "async run_workflow": lambda: asyncio.run(AsyncPromptLayer().run_workflow(workflow_name="w")),
    }
    hints = {"run_workflow": "pl.run", "pl.openai": "log_request", "pl.evals": "plg eval", "pl.tables": "datasets/",
             "tracer_provider": "plg logs export-traces"}
    for name, call in calls.items():
        with pytest.raises(PromptLayerUnsupportedError) as caught:
            call()
        message = str(caught.value)
        assert "\n" not in message and "PromptLayer's server" in message, name
        assert hints.get(name, "") in message, (name, message)
        assert isinstance(caught.value, PlgError) and caught.value.exit_code == 2


def test_every_promptlayer_error_class_imports_from_plg() -> None:
    import plg

    names = ["PromptLayerAuthenticationError", "PromptLayerPermissionDeniedError", "PromptLayerConflictError",
             "PromptLayerUnprocessableEntityError", "PromptLayerRateLimitError", "PromptLayerInternalServerError",
             "PromptLayerAPIStatusError", "PromptLayerBadRequestError", "PromptLayerAPITimeoutError"]
    for name in names:
        cls = getattr(plg, name)
        assert issubclass(cls, plg.PromptLayerError) and issubclass(cls, PlgError)
        assert cls("x").body is None and cls("x").response is None
    assert issubclass(plg.PromptLayerRateLimitError, plg.PromptLayerAPIError)
