from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
from pathlib import Path

import pytest

from plg import Client
from plg.errors import ModelCallError, NotFound
from plg.gate.promotion import promote
from plg.log.query import LogQuery
from plg.log.store import SQLiteLogStore
from plg.registry.versions import Registry
from tests.conftest import CAKE_V1, GitRepo, run_cli
from tests.loopback_llm import LoopbackLLM


@pytest.fixture
def app_repo(repo: GitRepo) -> GitRepo:
    repo.write_prompt("cake", CAKE_V1)
    repo.write_prompt("cake", CAKE_V1.replace("pastry chef", "baker"))
    promote(Registry(repo.path), "cake@1", "production", gated=False)
    return repo


def test_run_by_label_returns_promptlayer_shape_and_logs(app_repo: GitRepo) -> None:
    client = Client(app_repo.path)
    response = client.run(
        prompt_name="cake",
        input_variables={"cake_type": "lemon"},
        prompt_release_label="production",
        tags=["web"],
        metadata={"user": "ada"},
    )
    answer = response["prompt_blueprint"]["prompt_template"]["messages"][-1]["content"]
    assert "lemon" in answer and response["raw_response"]["choices"][0]["message"]["content"] == answer
    assert (response["prompt_name"], response["prompt_version"], response["prompt_label"]) == (
        "cake",
        1,
        "production",
    )
    assert response["prompt_commit"] == app_repo.git("rev-parse", "prompts/cake@production^{commit}")
    logged = SQLiteLogStore(Path(os.environ["PLG_LOG"])).get(response["request_id"])
    assert logged.output == answer and logged.label == "production" and logged.version == 1
    assert logged.tags == ("web",) and logged.metadata == {"user": "ada"}
    assert logged.input_variables == {"cake_type": "lemon"}
    assert logged.messages[0]["content"] == "You are a pastry chef."


def test_run_by_version_and_latest(app_repo: GitRepo) -> None:
    client = Client(app_repo.path)
    assert client.run("cake", {"cake_type": "x"}, prompt_version=2)["prompt_version"] == 2
    assert client.run("cake", {"cake_type": "x"})["prompt_version"] == 2
    with pytest.raises(NotFound):
        client.run("cake", {"cake_type": "x"}, prompt_version=9)


def test_track_calls(app_repo: GitRepo) -> None:
    client = Client(app_repo.path)
    request_id = client.run("cake", {"cake_type": "plum"}, metadata={"user": "ada"})["request_id"]
    assert client.track.score(request_id, 85)
    assert client.track.score(request_id, 10, name="brevity")
    assert client.track.metadata(request_id, {"user": "bob", "session": "s1"})
    assert client.track.prompt(request_id, "cake", {"cake_type": "fig"}, version=1, label="production")
    logged = client.log.get(request_id)
    assert logged.scores == {"default": 85, "brevity": 10}
    assert logged.metadata == {"user": "bob", "session": "s1"}
    assert logged.input_variables == {"cake_type": "fig"} and logged.label == "production"


def test_failed_model_call_is_logged_and_raised_with_request_id(
    app_repo: GitRepo, llm_server: LoopbackLLM
) -> None:
    client = Client(app_repo.path, max_attempts=2, timeout=5)
    llm_server.fail_next(500, n=2)
    with pytest.raises(ModelCallError) as caught:
        client.run("cake", {"cake_type": "x"}, model="openai/fake-model")
    assert caught.value.request_id and caught.value.exit_code == 3
    logged = client.log.get(caught.value.request_id)
    assert logged.output is None and "500" in (logged.error or "")
    assert "sk-test" not in (logged.error or "")


def test_arun_over_http(app_repo: GitRepo, llm_server: LoopbackLLM) -> None:
    client = Client(app_repo.path)

    async def both():  # type: ignore[no-untyped-def]
        return await asyncio.gather(
            *(client.arun("cake", {"cake_type": k}, model="openai/fake-model") for k in "ab")
        )

    responses = asyncio.run(both())
    assert {r["prompt_version"] for r in responses} == {2} and llm_server.chat_count() == 2
    assert client.log.count(LogQuery(prompt="cake")) == 2


def test_label_is_re_resolved_after_promote(app_repo: GitRepo) -> None:
    client = Client(app_repo.path, label_ttl=0)
    assert client.run("cake", {"cake_type": "x"}, prompt_release_label="production")["prompt_version"] == 1
    promote(Registry(app_repo.path), "cake@2", "production", gated=False)
    assert client.run("cake", {"cake_type": "x"}, prompt_release_label="production")["prompt_version"] == 2
    cached = Client(app_repo.path, label_ttl=3600)
    assert cached.run("cake", {"cake_type": "x"}, prompt_release_label="production")["prompt_version"] == 2
    promote(Registry(app_repo.path), "cake@1", "production", gated=False)
    assert cached.run("cake", {"cake_type": "x"}, prompt_release_label="production")["prompt_version"] == 2


def test_last_good_version_keeps_serving_when_repo_is_unreadable(app_repo: GitRepo, caplog) -> None:  # type: ignore[no-untyped-def]
    client = Client(app_repo.path, label_ttl=0)
    client.run("cake", {"cake_type": "x"}, prompt_release_label="production")
    shutil.move(str(app_repo.path / ".git"), str(app_repo.path.parent / "moved.git"))
    response = client.run("cake", {"cake_type": "x"}, prompt_release_label="production")
    assert response["prompt_version"] == 1
    assert "serving" in caplog.text


def _runner(repo: str, count: int) -> None:
    client = Client(repo)
    for i in range(count):
        client.run("cake", {"cake_type": f"k{i}"}, prompt_release_label="production", tags=["load"])


def test_eight_processes_of_concurrent_runs_lose_no_row(app_repo: GitRepo) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_runner, args=(str(app_repo.path), 500)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    assert SQLiteLogStore(Path(os.environ["PLG_LOG"])).count(LogQuery(tags=("load",))) == 4000


def test_logs_cli_list_show_export(app_repo: GitRepo, tmp_path: Path) -> None:
    client = Client(app_repo.path)
    first = client.run(
        "cake",
        {"cake_type": "lemon"},
        prompt_release_label="production",
        tags=["web"],
        metadata={"user": "ada"},
    )
    client.run("cake", {"cake_type": "carrot"}, tags=["api"])
    listed = json.loads(run_cli("logs", "--tag", "web", "--json").out)
    assert [r["request_id"] for r in listed] == [first["request_id"]]
    assert len(json.loads(run_cli("logs", "--search", "carrot", "--json").out)) == 1
    assert len(json.loads(run_cli("logs", "--meta", "user=ada", "--label", "production", "--json").out)) == 1
    assert "carrot" in run_cli("logs").out
    shown = run_cli("logs", "show", first["request_id"][:10])
    assert shown.code == 0 and "lemon" in shown.out and "user" in shown.out
    out = tmp_path / "evals/history/cake.jsonl"
    exported = run_cli("logs", "export", "--prompt", "cake", "--since", "1d", "-o", str(out))
    assert exported.code == 0 and "exported 2" in exported.err
    assert {json.loads(line)["input_variables"]["cake_type"] for line in out.read_text().splitlines()} == {
        "lemon",
        "carrot",
    }
    assert run_cli("logs", "--since", "last tuesday").code == 2
    assert run_cli("logs", "show", "nope").code == 2


def _refuse(table: str) -> SQLiteLogStore:
    """The log with every insert into `table` failing, as a crash or a full disk would mid-transaction."""
    store = SQLiteLogStore(Path(os.environ["PLG_LOG"]))
    store._conn.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    return store


def _count(store: SQLiteLogStore, table: str) -> int:
    return int(store._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.mark.parametrize("refused", ["spans", "requests"])
def test_a_traced_request_is_stored_with_its_spans_or_not_at_all(app_repo: GitRepo, refused: str) -> None:
    store = _refuse(refused)
    client = Client(app_repo.path, enable_tracing=True)

    @client.traceable(name="handler")
    def handler() -> str:
        return client.run("cake", {"cake_type": "plum"})["request_id"]

    client.run("cake", {"cake_type": "lemon"})  # the response stands; the row waits in the spill file
    handler()
    assert (_count(store, "requests"), _count(store, "spans WHERE name != 'handler'")) == (0, 0)
    health = client.log_health()
    assert health.spilled == 2 and health.dropped == 0 and "disk full" in (health.last_error or "")

    store._conn.execute("DROP TRIGGER refuse")
    request_id = handler()  # written, and the two spilled requests moved back with their spans
    assert (_count(store, "requests"), _count(store, "spans WHERE name != 'handler'")) == (3, 9)
    assert {s.name for s in store.trace(store.get(request_id).trace_id)} == {
        "handler", "plg.run", "prompt.render", "llm.call"
    }


def test_a_traced_request_is_in_the_log_with_its_spans_when_run_returns(app_repo: GitRepo) -> None:
    client = Client(app_repo.path, enable_tracing=True)
    reader = SQLiteLogStore(Path(os.environ["PLG_LOG"]))

    @client.traceable(name="handler")
    def handler() -> tuple[str, str]:
        plain = client.run("cake", {"cake_type": "lemon"})["request_id"]
        streamed = [e.outcome for e in client.stream("cake", {"cake_type": "plum"}) if e.outcome][0].request_id
        for request_id, spans in ((plain, ["llm.call", "plg.run", "prompt.render"]), (streamed, ["plg.run", "prompt.render"])):
            client.track.score(request_id, 80)
            record = reader.get(request_id)
            assert record.scores == {"default": 80.0}
            names = sorted(s.name for s in reader.trace(record.trace_id) if s.span_id == record.span_id
                           or s.parent_id == record.span_id)
            assert names == spans
        assert "handler" not in {s.name for s in reader.trace(record.trace_id)}
        return plain, record.trace_id

    request_id, trace_id = handler()
    assert [s.name for s in reader.trace(trace_id)][0] == "handler"
    assert reader.get(request_id).output
