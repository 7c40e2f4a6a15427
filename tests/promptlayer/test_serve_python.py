"""PromptLayer's own Python SDK (promptlayer from PyPI, unmodified) against `plg serve`, with only its base
URL changed; every call is checked in plg's request log, the way a user would look afterwards."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from plg.gate.promotion import promote
from plg.log.query import LogQuery
from plg.registry.versions import Registry
from plg.runtime.track import GROUP_KEY
from tests.conftest import GitRepo
from tests.loopback_llm import LoopbackLLM
from tests.promptlayer.serving import KEY, Served, plg_serve, promptlayer_sdk
from tests.promptlayer.test_sync_client import POET

promptlayer = promptlayer_sdk()



@pytest.fixture
def poet(repo: GitRepo) -> GitRepo:
    repo.write_prompt("ai-poet", POET, "First poet")
    repo.write_prompt("ai-poet", POET.replace("a poet", "a famous poet"), "Make the poet famous")
    promote(Registry(repo.path), "ai-poet@1", "prod", gated=False)
    return repo


@pytest.fixture
def served(poet: GitRepo, tmp_path: Path) -> Served:
    with plg_serve("--repo", str(poet.path), log=tmp_path / "served.db") as server:
        yield server


@pytest.fixture
def pl(served: Served, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PROMPTLAYER_BASE_URL", raising=False)
    # The SDK caches one OpenAI client per process; each test has its own loopback model on a new port.
    promptlayer.utils._llm_client_cache.clear()
    return promptlayer.PromptLayer(api_key=KEY, base_url=served.base_url)


def test_templates_get_by_version_and_label(pl, served: Served) -> None:  # type: ignore[no-untyped-def]
    by_label = pl.templates.get("ai-poet", {"label": "prod"})
    assert by_label["version"] == 1
    assert isinstance(by_label["id"], int)
    assert by_label["commit_message"] == "First poet"
    assert by_label["metadata"]["model"] == {"provider": "openai", "name": "fake-model",
                                             "parameters": {"temperature": 0.7}, "api_type": "chat-completions"}
    latest = pl.templates.get("ai-poet", {"version": 2, "input_variables": {"topic": "tea"}})
    assert latest["version"] == 2 and latest["id"] == by_label["id"]
    assert latest["commit_message"] == "Make the poet famous"
    assert latest["llm_kwargs"]["messages"][1] == {"role": "user", "content": "Write a short poem about tea."}
    assert latest["llm_kwargs"]["model"] == "fake-model" and latest["llm_kwargs"]["temperature"] == 0.7


def test_templates_all(pl, poet: GitRepo) -> None:  # type: ignore[no-untyped-def]
    poet.write_prompt("folder/other", POET)
    names = [t["prompt_name"] for t in pl.templates.all()]
    assert names == ["ai-poet"] or sorted(names) == ["ai-poet", "folder/other"]
    assert [t["prompt_name"] for t in pl.templates.all(label="prod")] == ["ai-poet"]
    assert pl.templates.all(page=2, per_page=30) == []


def test_run_calls_the_model_and_reports_back(pl, served: Served, llm_server: LoopbackLLM,  # type: ignore[no-untyped-def]
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.base_url)
    response = pl.run(prompt_name="ai-poet", prompt_release_label="prod", input_variables={"topic": "rain"},
                      tags=["t1"], metadata={"user": "ann"})
    assert isinstance(response["request_id"], int)
    answer = response["raw_response"].choices[0].message.content
    assert llm_server.requests[-1]["model"] == "fake-model"
    record = served.store().get(response["request_id"])
    assert record.prompt_name == "ai-poet" and record.version == 1
    assert record.output == answer and record.input_variables == {"topic": "rain"}
    assert record.tags == ("t1",) and record.metadata["user"] == "ann"
    assert record.messages[-1] == {"role": "user", "content": "Write a short poem about rain."}
    assert response["prompt_blueprint"]["prompt_template"]["messages"][-1]["content"][0]["text"] == answer


def test_track_calls_and_groups(pl, served: Served, llm_server: LoopbackLLM,  # type: ignore[no-untyped-def]
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.base_url)
    request_id = pl.run(prompt_name="ai-poet", input_variables={"topic": "sun"})["request_id"]
    assert pl.track.score(request_id=request_id, score=87, score_name="taste") is True
    assert pl.track.metadata(request_id=request_id, metadata={"session": "s1"}) is True
    group = pl.group.create()
    assert isinstance(group, int)
    assert pl.track.group(request_id=request_id, group_id=group) is True
    assert pl.track.prompt(request_id=request_id, prompt_name="ai-poet", prompt_input_variables={"topic": "moon"},
                           label="prod") is True
    record = served.store().get(request_id)
    assert record.scores["taste"] == 87
    assert record.metadata["session"] == "s1" and record.metadata[GROUP_KEY] == str(group)
    assert record.version == 1 and record.label == "prod" and record.input_variables == {"topic": "moon"}
    assert record.commit == Registry(".").resolve("ai-poet", "1").commit


def test_log_request(pl, served: Served) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    logged = pl.log_request(
        provider="openai", model="gpt-4o-mini",
        input={"type": "chat", "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]},
        output={"type": "chat", "messages": [{"role": "assistant", "content": [{"type": "text", "text": "Hello"}]}]},
        request_start_time=now - 1.5, request_end_time=now, prompt_name="ai-poet", prompt_version_number=2,
        input_tokens=3, output_tokens=1, tags=["manual"],
    )
    assert isinstance(logged["id"], int) and logged["status"] == "SUCCESS"
    assert logged["prompt_version"]["version"] == 2
    record = served.store().get(logged["id"])
    assert record.output == "Hello" and record.model == "openai/gpt-4o-mini" and record.version == 2
    assert record.latency_s == pytest.approx(1.5, abs=0.01) and record.prompt_tokens == 3


def test_traced_function_lands_in_the_span_store(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    pl = promptlayer.PromptLayer(api_key=KEY, base_url=served.base_url, enable_tracing=True)

    @pl.traceable(attributes={"step": "outer"})
    def shout(word: str) -> str:
        return word.upper()

    assert shout("hey") == "HEY"
    pl.tracer_provider.force_flush()
    spans = list(served.store().iter_spans())
    traced = [s for s in spans if s.name == "shout"]
    assert traced and traced[0].attributes["step"] == "outer"


def test_wrong_key_is_401(served: Served) -> None:
    pl = promptlayer.PromptLayer(api_key="pl_wrong", base_url=served.base_url)
    with pytest.raises(promptlayer.exceptions.PromptLayerAuthenticationError):
        pl.templates.get("ai-poet")


def test_missing_prompt_is_404_at_once(pl) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    with pytest.raises(promptlayer.exceptions.PromptLayerNotFoundError):
        pl.templates.get("no-such-prompt")
    assert time.monotonic() - started < 1.5  # a 5xx would be retried after 2, 4 and 8 s


def test_log_records_are_queryable(pl, served: Served, llm_server: LoopbackLLM,  # type: ignore[no-untyped-def]
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.base_url)
    ids = [pl.run(prompt_name="ai-poet", input_variables={"topic": str(i)})["request_id"] for i in range(3)]
    assert len(set(ids)) == 3 and ids == sorted(ids)
    assert len(served.store().query(LogQuery(prompt="ai-poet"))) == 3
