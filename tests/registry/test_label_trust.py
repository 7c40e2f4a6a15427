"""Labels that say the truth: a refused push moves nothing anywhere, `plg fetch` replaces stale labels,
shallow clones are refused, and labels follow a prompt through `git mv`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from plg import Client
from plg.registry.labels import label_state
from plg.registry.versions import Registry
from tests.conftest import GitRepo, git, run_cli

TEXT = "---\nmodel: plg/offline\ninputs:\n  topic: string\n---\nWrite about {{{{ topic }}}} ({n}).\n"


def versions(repo: GitRepo, name: str = "p3", count: int = 3) -> None:
    for n in range(1, count + 1):
        repo.write_prompt(name, TEXT.format(n=n), f"{name} v{n}")


def tag(path: Path, name: str, label: str) -> str | None:
    try:
        return git(path, "rev-parse", "-q", "--verify", f"refs/tags/prompts/{name}@{label}")
    except Exception:  # noqa: BLE001 - absent
        return None


def in_clone(path: Path, *args: str):  # type: ignore[no-untyped-def]
    old = Path.cwd()
    os.chdir(path)
    try:
        return run_cli(*args)
    finally:
        os.chdir(old)


@pytest.fixture
def clones(repo: GitRepo, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A bare remote with p3 at v1..v3 and staging at v1, and two clones of it."""
    versions(repo)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    assert run_cli("promote", "p3@1", "--label", "staging", "--push", "origin").code == 0
    a, b = tmp_path / "a", tmp_path / "b"
    for clone in (a, b):
        git(tmp_path, "clone", "-q", str(remote), str(clone))
        git(clone, "fetch", "-q", "origin", "+refs/tags/*:refs/tags/*")
    return remote, a, b


def test_a_refused_push_leaves_the_local_label_where_it_was(clones: tuple[Path, Path, Path]) -> None:
    remote, a, b = clones
    won = in_clone(a, "promote", "p3@2", "--label", "staging", "--push", "origin")
    assert won.code == 0, won
    before = tag(b, "p3", "staging")
    lost = in_clone(b, "promote", "p3@3", "--label", "staging", "--push", "origin")
    assert lost.code == 1, lost
    assert "origin holds p3@staging at v2" in lost.err and "plg fetch origin" in lost.err
    assert tag(b, "p3", "staging") == before  # nothing moved here either
    assert Client(repo=b).get_prompt("p3", label="staging").version == 1
    git(b, "fetch", "-q", "origin")  # a plain fetch keeps the stale tag ...
    assert tag(b, "p3", "staging") == before
    fetched = in_clone(b, "fetch", "origin")  # ... plg fetch replaces it, history included
    assert fetched.code == 0 and "p3@staging: v1 -> v2" in fetched.out
    assert tag(b, "p3", "staging") == tag(a, "p3", "staging")
    state = label_state(Registry(b), "p3", "staging")
    assert state is not None and [m.to_version for m in state.history] == [1, 2]
    again = in_clone(b, "promote", "p3@3", "--label", "staging", "--push", "origin")
    assert again.code == 0, again
    assert git(b, "ls-remote", str(remote), "refs/tags/prompts/p3@staging").split()[0] == tag(b, "p3", "staging")


def test_a_push_the_remote_rejects_moves_nothing_locally(clones: tuple[Path, Path, Path]) -> None:
    remote, a, _ = clones
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'tags are frozen today' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    before = tag(a, "p3", "staging")
    refused = in_clone(a, "promote", "p3@2", "--label", "staging", "--push", "origin")
    assert refused.code == 3, refused
    assert "origin holds p3@staging at v1" in refused.err and "nothing moved here either" in refused.err
    assert "(the remote said: tags are frozen today)" in refused.err, "the hook's reason was not shown"
    assert refused.err.count("\n") == 1
    assert tag(a, "p3", "staging") == before
    assert git(a, "ls-remote", str(remote), "refs/tags/prompts/p3@staging").split()[0] == before
    assert Client(repo=a).get_prompt("p3", label="staging").version == 1


def test_notes_a_remote_hook_refuses_are_not_pushed_four_times(clones: tuple[Path, Path, Path]) -> None:
    """Before: fetched, merged and pushed again three more times, then `after 4 tries: ... failed to push`."""
    remote, a, _ = clones
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'notes are read-only here' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    git(a, "notes", "--ref=plg", "add", "-m", '{"note": 1}', "HEAD")

    refused = in_clone(a, "notes", "push", "origin")

    assert refused.code == 3, refused
    assert "origin refused refs/notes/plg: " in refused.err and "after 4 tries" not in refused.err
    assert "(the remote said: notes are read-only here)" in refused.err


@pytest.mark.parametrize(
    "args",
    [
        ("fetch",),
        ("fetch", "upstream"),
        ("notes", "fetch"),
        ("notes", "push", "upstream"),
        ("labels", "p3", "--push", "upstream"),
        ("promote", "p3@2", "--label", "staging", "--push", "upstream"),
        ("fetch", "--", "--upload-pack=touch pwned"),
    ],
)
def test_a_remote_that_is_not_configured_is_bad_input(args: tuple[str, ...], repo: GitRepo) -> None:
    """Before: exit 3 (an outside failure) ending in git's advice, "...and the repository exists."."""
    versions(repo)
    run_cli("promote", "p3@1", "--label", "staging")
    before = tag(repo.path, "p3", "staging")

    result = run_cli(*args)

    assert result.code == 2, result
    assert result.err.startswith("plg: error: ") and result.err.count("\n") == 1, result
    name = args[-1] if args[-1].startswith("-") else "upstream" if "upstream" in args else "origin"
    assert f"'{name}'" in result.err, result
    assert "repository exists" not in result.err
    assert tag(repo.path, "p3", "staging") == before
    assert not (repo.path / "pwned").exists()


def test_an_unreachable_remote_names_what_git_said_first(clones: tuple[Path, Path, Path], tmp_path: Path) -> None:
    remote, a, _ = clones
    remote.rename(tmp_path / "moved.git")

    result = in_clone(a, "fetch", "origin")

    assert result.code == 3, result
    assert "does not appear to be a git repository" in result.err and "repository exists" not in result.err


def test_a_shallow_clone_is_refused_not_renumbered(repo: GitRepo, tmp_path: Path) -> None:
    versions(repo, count=4)
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.path}", str(shallow))
    for args in (("log", "p3"), ("promote", "p3", "--label", "staging"), ("show", "p3@1"), ("list",)):
        result = in_clone(shallow, *args)
        assert result.code == 2, (args, result)
        assert "shallow clone" in result.err and "git fetch --unshallow" in result.err
    assert tag(shallow, "p3", "staging") is None
    git(shallow, "fetch", "-q", "--unshallow")
    log = in_clone(shallow, "log", "p3", "--json")
    assert log.code == 0 and [e["version"] for e in __import__("json").loads(log.out)][0] == 4


def test_labels_follow_a_prompt_through_git_mv(repo: GitRepo) -> None:
    versions(repo)
    assert run_cli("promote", "p3@2", "--label", "staging").code == 0
    repo.git("mv", "prompts/p3.prompt", "prompts/p3b.prompt")
    repo.commit("rename p3 to p3b")
    listed = run_cli("labels", "p3b")
    assert listed.code == 0 and "staging" in listed.out and "v2" in listed.out
    history = run_cli("labels", "p3b", "--history")
    assert "staging" in history.out and "v2" in history.out
    served = Client(repo=repo.path).run("p3b", {"topic": "tea"}, prompt_release_label="staging")
    assert served["prompt_version"] == 2 and "(2)" in served["prompt_blueprint"]["prompt_template"]["messages"][-1]["content"]
    moved = run_cli("promote", "p3b@3", "--label", "staging")
    assert moved.code == 0 and "v2 -> v3" in moved.out, moved
    state = label_state(Registry(repo.path), "p3b", "staging")
    assert state is not None and state.ref == "refs/tags/prompts/p3b@staging"
    assert [m.to_version for m in state.history] == [2, 3]
    assert Client(repo=repo.path).get_prompt("p3b", label="staging").version == 3


def test_a_copied_prompt_does_not_inherit_the_originals_versions_or_labels(repo: GitRepo) -> None:
    versions(repo)
    assert run_cli("promote", "p3@3", "--label", "staging").code == 0
    repo.write("prompts/copy.prompt", TEXT.format(n=3).replace("Write", "Please write"))
    repo.commit("a new prompt that starts as a copy")
    log = run_cli("log", "copy", "--json")
    assert [e["version"] for e in __import__("json").loads(log.out)] == [1]
    assert run_cli("labels", "copy").out.strip() == "(none)"
