"""The in-process PromptLayer/AsyncPromptLayer give PromptLayer's shapes, the same as `plg serve` gives to
the real SDK: integer ids, commit_message, llm_kwargs, and the calls that used to break."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from plg import AsyncPromptLayer, EvaluationFailedError, PromptLayer, PromptLayerNotFoundError
from plg.gate.promotion import promote
from plg.registry.versions import Registry
from tests.conftest import GitRepo
from tests.loopback_llm import LoopbackLLM
from tests.promptlayer.serving import KEY, plg_serve, promptlayer_sdk
from tests.promptlayer.test_serve_python import POET


@pytest.fixture
def poet(repo: GitRepo, llm_server: LoopbackLLM) -> GitRepo:
    repo.write_prompt("ai-poet", POET, "First poet")
    repo.write_prompt("ai-poet", POET.replace("a poet", "a famous poet"), "Make the poet famous")
    promote(Registry(repo.path), "ai-poet@1", "prod", gated=False)
    return repo


def test_templates_get_matches_plg_serve(poet: GitRepo, tmp_path: Path) -> None:
    promptlayer = promptlayer_sdk()
    mine = PromptLayer(api_key="k").templates.get("ai-poet", {"label": "prod", "input_variables": {"topic": "x"}})
    assert isinstance(mine["id"], int) and mine["commit_message"] == "First poet"
    assert mine["llm_kwargs"]["messages"][1]["content"] == "Write a short poem about x."
    with plg_serve("--repo", str(poet.path), log=tmp_path / "l.db") as served:
        theirs = promptlayer.PromptLayer(api_key=KEY, base_url=served.base_url).templates.get(
            "ai-poet", {"label": "prod", "input_variables": {"topic": "x"}})
    assert theirs == mine


def test_templates_without_inputs_carry_llm_kwargs(poet: GitRepo) -> None:
    template = PromptLayer().templates.get("ai-poet")
    assert template["version"] == 2 and template["commit_message"] == "Make the poet famous"
    assert template["llm_kwargs"]["model"] == "fake-model"
    assert template["llm_kwargs"]["messages"][1]["content"] == "Write a short poem about {{ topic }}."
    assert template["metadata"]["model"]["api_type"] == "chat-completions"


def test_request_ids_are_integers_and_track_prompt_resolves_the_label(poet: GitRepo) -> None:
    pl = PromptLayer()
    response = pl.run(prompt_name="ai-poet", input_variables={"topic": "a"})
    request_id = response["request_id"]
    assert isinstance(request_id, int)
    assert pl.track.prompt(request_id, "ai-poet", {"topic": "b"}, label="prod") is True
    row = pl.client.log.get(request_id)
    assert row.version == 1 and row.label == "prod" and row.input_variables == {"topic": "b"}
    assert row.commit == Registry(poet.path).resolve("ai-poet", "1").commit  # not v2's, which answered first
    logged = pl.log_request(provider="openai", model="m", input={"type": "chat", "messages": []},
                            output={"type": "chat", "messages": []}, request_start_time=1.0, request_end_time=2.0,
                            prompt_name="ai-poet", prompt_version_number=1)
    assert isinstance(logged["id"], int) and logged["status"] == "SUCCESS"
    assert logged["prompt_version"]["version"] == 1


def test_attributes_trace_tool_and_errors(poet: GitRepo) -> None:
    pl = PromptLayer(api_key="pl_abc", base_url="http://example.invalid", tracing_providers=["openai"],
                     enable_tracing=True)
    assert pl.api_key == "pl_abc" and pl.base_url == "http://example.invalid"

    @pl.traceTool(name="search")
    def search(q: str) -> str:
        return q[::-1]

    assert search("ab") == "ba"
    spans = list(pl.client.log.iter_spans())
    assert [s.attributes["tool.name"] for s in spans if s.name == "Tool: search"] == ["search"]
    err = PromptLayerNotFoundError("gone", response="r", body={"message": "gone"})
    assert err.response == "r" and err.body == {"message": "gone"} and str(err) == "gone"
    failed = EvaluationFailedError("eval failed", score=0.4, passing_score=0.8)
    assert failed.score == 0.4 and failed.response is None


def test_async_invalidate_is_synchronous(poet: GitRepo) -> None:
    pl = AsyncPromptLayer()
    assert pl.templates.invalidate("ai-poet") is None  # not a coroutine left un-awaited
    assert asyncio.run(pl.templates.get("ai-poet", {"label": "prod"}))["version"] == 1
