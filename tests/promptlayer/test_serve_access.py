"""`plg serve` beyond the happy path: key scopes, publish going to a review branch only, labels moved on
the remote while the server runs, OTLP/JSON traces, and the async SDK's shifted track.prompt arguments."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from plg.gate.promotion import promote
from plg.registry.versions import Registry
from tests.conftest import GitRepo
from tests.loopback_llm import LoopbackLLM
from tests.promptlayer.serving import KEY, Served, plg_serve, promptlayer_sdk
from tests.promptlayer.test_serve_python import POET

promptlayer = promptlayer_sdk()


def _post(served: Served, path: str, body: object, key: str | None = KEY,
          content_type: str = "application/json") -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type, **({"X-API-KEY": key} if key else {})}
    request = urllib.request.Request(served.base_url + path, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture
def poet(repo: GitRepo) -> GitRepo:
    repo.write_prompt("ai-poet", POET, "First poet")
    repo.write_prompt("ai-poet", POET.replace("a poet", "a famous poet"), "Make the poet famous")
    promote(Registry(repo.path), "ai-poet@1", "prod", gated=False)
    return repo


def test_scopes_from_a_keys_file(poet: GitRepo, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("reader-key read\nlogger-key log,read\n")
    with plg_serve("--repo", str(poet.path), "--api-keys", str(keys), log=tmp_path / "l.db", keys="") as served:
        assert _post(served, "/prompt-templates/ai-poet", {}, key=None)[0] == 401
        assert _post(served, "/prompt-templates/ai-poet", {}, key="not-a-key")[0] == 401
        status, body = _post(served, "/prompt-templates/ai-poet", {"label": "prod"}, key="reader-key")
        assert status == 200 and body["version"] == 1
        status, body = _post(served, "/create-group", {}, key="reader-key")
        assert status == 403 and body["success"] is False
        assert _post(served, "/create-group", {}, key="logger-key")[0] == 200
        status, _ = _post(served, "/rest/prompt-templates", {"prompt_template": {}}, key="logger-key")
        assert status == 403
        served.proc.terminate()
        _, err = served.proc.communicate(timeout=10)
        assert "reader-key" not in err and "not-a-key" not in err


def test_serve_refuses_to_start_without_keys(poet: GitRepo, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="exited 2"), plg_serve("--repo", str(poet.path), log=tmp_path / "l.db",
                                                                     keys=""):
        pass


def test_publish_commits_to_a_review_branch_only(poet: GitRepo, tmp_path: Path) -> None:
    head = poet.git("rev-parse", "HEAD")
    label = poet.git("rev-parse", "prompts/ai-poet@prod^{commit}")
    with plg_serve("--repo", str(poet.path), log=tmp_path / "l.db") as served:
        pl = promptlayer.PromptLayer(api_key=KEY, base_url=served.base_url)
        published = pl.templates.publish({
            "prompt_name": "ai-poet",
            "prompt_template": {"type": "chat", "messages": [
                {"role": "system", "content": [{"type": "text", "text": "You are a terse poet."}]},
                {"role": "user", "content": [{"type": "text", "text": "A poem about {topic}."}]}]},
            "commit_message": "Terse poet",
            "metadata": {"model": {"provider": "openai", "name": "fake-model", "parameters": {}}},
        })
        assert published["commit_message"] == "Terse poet" and published["version_number"] == 3
        assert isinstance(published["id"], int)
        # the served branch and the label did not move; the version waits on plg/publish/ai-poet
        assert poet.git("rev-parse", "HEAD") == head and poet.git("status", "--porcelain") == ""
        assert poet.git("rev-parse", "prompts/ai-poet@prod^{commit}") == label
        assert pl.templates.get("ai-poet")["version"] == 2
        on_branch = poet.git("show", "plg/publish/ai-poet:prompts/ai-poet.prompt")
        assert "{{ topic }}" in on_branch and "terse poet" in on_branch
        assert poet.git("log", "-1", "--format=%s", "plg/publish/ai-poet") == "Terse poet"
        with pytest.raises(promptlayer.exceptions.PromptLayerBadRequestError):
            pl.templates.publish({"prompt_name": "ai-poet", "release_labels": ["prod"],
                                  "prompt_template": {"type": "chat", "messages": []}})


def test_label_moved_on_the_remote_reaches_the_server(poet: GitRepo, tmp_path: Path) -> None:
    bare = tmp_path / "served" / "prompts.git"
    bare.parent.mkdir()
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    poet.git("remote", "add", "origin", str(bare))
    poet.git("push", "-q", "origin", "main", "refs/tags/prompts/ai-poet@prod")
    with plg_serve("--repo", f"file://{bare}", "--label-ttl", "0.2", log=tmp_path / "l.db",
                   cwd=tmp_path) as served:
        pl = promptlayer.PromptLayer(api_key=KEY, base_url=served.base_url)
        assert pl.templates.get("ai-poet", {"label": "prod"})["version"] == 1
        promote(Registry(poet.path), "ai-poet@2", "prod", gated=False, remote="origin")
        moved = time.monotonic()
        while pl.templates.get("ai-poet", {"label": "prod"})["version"] != 2:
            assert time.monotonic() - moved < 10, "the server still serves v1 10 s after the promote"
            time.sleep(0.05)


def test_otlp_json_traces_land_in_the_span_store(poet: GitRepo, tmp_path: Path) -> None:
    span = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "step",
            "kind": 3, "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000500000000",
            "attributes": [{"key": "n", "value": {"intValue": "3"}}], "status": {"code": 2, "message": "bad"}}
    payload = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    with plg_serve("--repo", str(poet.path), log=tmp_path / "l.db") as served:
        assert _post(served, "/v1/traces", payload)[0] == 200
        assert _post(served, "/v1/traces", payload, key="wrong")[0] == 401
        assert _post(served, "/v1/traces", b"{not json")[0] == 400
        assert _post(served, "/track-request", {"kwargs": ["not", "a", "dict"]})[0] == 400  # not a retried 5xx
        (stored,) = served.store().trace("0af7651916cd43dd8448eb211c80319c")
    assert stored.name == "step" and stored.kind == "client" and stored.status == "error"
    assert stored.attributes == {"n": 3} and stored.duration_ms == 500


def test_async_sdk_track_prompt_and_run(poet: GitRepo, tmp_path: Path, llm_server: LoopbackLLM,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.base_url)
    promptlayer.utils._llm_client_cache.clear()
    with plg_serve("--repo", str(poet.path), log=tmp_path / "l.db") as served:
        pl = promptlayer.AsyncPromptLayer(api_key=KEY, base_url=served.base_url)

        async def scenario() -> int:
            response = await pl.run(prompt_name="ai-poet", input_variables={"topic": "snow"})
            await pl.track.prompt(request_id=response["request_id"], prompt_name="ai-poet",
                                  prompt_input_variables={"topic": "ice"}, version=2)
            return response["request_id"]

        request_id = asyncio.run(scenario())
        record = served.store().get(request_id)
    assert record.version == 2 and record.input_variables == {"topic": "ice"}
    assert record.commit == Registry(poet.path).resolve("ai-poet", "2").commit


def test_integer_request_ids_on_a_postgresql_log(poet: GitRepo, tmp_path: Path, pg_url: str) -> None:
    from plg.log.postgres_log import PostgresLogStore

    ids = []
    with plg_serve("--repo", str(poet.path), log=pg_url) as one, plg_serve("--repo", str(poet.path), log=pg_url) as two:
        for served in (one, two, one, two):
            pl = promptlayer.PromptLayer(api_key=KEY, base_url=served.base_url)
            ids.append(pl.log_request(
                provider="openai", model="m", input={"type": "chat", "messages": []},
                output={"type": "chat", "messages": [{"role": "assistant", "content": [{"type": "text", "text": "a"}]}]},
                request_start_time=1.0, request_end_time=2.0)["id"])
            assert pl.track.score(request_id=ids[-1], score=50) is True
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 4  # unique across the two processes
    store = PostgresLogStore(pg_url)
    try:
        assert [store.get(i).scores["default"] for i in ids] == [50, 50, 50, 50]
    finally:
        store.close()


def test_serve_a_bundle(poet: GitRepo, tmp_path: Path, plg) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "prompts.lock.json"
    assert plg("bundle", "--label", "prod", "-o", str(bundle)).code == 0
    with plg_serve("--bundle", str(bundle), log=tmp_path / "l.db", cwd=tmp_path) as served:
        pl = promptlayer.PromptLayer(api_key=KEY, base_url=served.base_url)
        template = pl.templates.get("ai-poet", {"label": "prod"})
        assert template["version"] == 1 and template["llm_kwargs"]["model"] == "fake-model"
        with pytest.raises(promptlayer.exceptions.PromptLayerBadRequestError):
            pl.templates.publish({"prompt_name": "ai-poet", "prompt_template": {"type": "chat", "messages": []}})
