"""The SDK under hostile prompts: a runaway template raises a plg error within the bound instead of holding
the application's thread, and bad names are refused by the same rule as the CLI."""

from __future__ import annotations

import threading
import time

import pytest

from plg import Client
from plg.errors import InvalidName, PlgError, RenderBoundExceeded
from plg.gate.promotion import promote
from plg.registry.versions import Registry
from tests.conftest import GitRepo

RUNAWAY = "---\ninputs: [x]\n---\nuser:\n{% for a in x %}{% for b in x %}{% endfor %}{% endfor %}done\n"


@pytest.fixture
def runaway_repo(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    monkeypatch.setattr("plg.registry.bounds.MAX_RENDER_SECONDS", 0.3)
    repo.write_prompt("spin", RUNAWAY)
    promote(Registry(repo.path), "spin", "production", gated=False)
    return repo


def test_runaway_template_raises_instead_of_holding_the_thread(runaway_repo: GitRepo) -> None:
    client = Client(runaway_repo.path)
    outcome: list[BaseException | str] = []

    def request() -> None:
        try:
            client.run("spin", {"x": "y" * 100_000}, prompt_release_label="production")
            outcome.append("returned")
        except PlgError as err:
            outcome.append(err)

    worker = threading.Thread(target=request)
    start = time.monotonic()
    worker.start()
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - start < 2
    assert isinstance(outcome[0], RenderBoundExceeded)
    assert "spin@1" in str(outcome[0]) and "render time 0.3 s" in str(outcome[0])
    assert client.run("spin", {"x": "ab"}, prompt_release_label="production")["prompt_version"] == 1


@pytest.mark.parametrize(
    ("name", "label"),
    [("a..b", None), ("HEAD", None), ("a" * 300, None), ("spin", "b" * 300), ("spin", "a\nb")],
)
def test_sdk_refuses_bad_names_by_the_cli_rule(runaway_repo: GitRepo, name: str, label: str | None) -> None:
    with pytest.raises(InvalidName) as caught:
        Client(runaway_repo.path).run(name, {"x": "a"}, prompt_release_label=label)
    assert "\n" not in str(caught.value)
