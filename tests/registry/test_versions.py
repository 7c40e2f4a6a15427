from __future__ import annotations

import pytest

from plg.errors import NotARepository, NotFound, PromptFileError
from plg.registry.versions import Registry
from tests.conftest import CAKE_V1, GitRepo


def cake(version: int) -> str:
    return CAKE_V1.replace("pastry chef.", f"pastry chef (take {version}).")


def test_versions_count_commits_that_changed_content(repo: GitRepo) -> None:
    c1 = repo.write_prompt("cake", cake(1))
    repo.write("README.md", "unrelated")
    repo.commit("unrelated")
    c2 = repo.write_prompt("cake", cake(2))
    registry = Registry(repo.path)
    assert [(v.number, v.commit) for v in registry.versions("cake")] == [(1, c1), (2, c2)]
    assert "take 1" in registry.get("cake", version=1).template
    assert "take 2" in registry.get("cake", version=2).template


def test_adding_commits_never_renumbers(repo: GitRepo) -> None:
    c1 = repo.write_prompt("cake", cake(1))
    before = Registry(repo.path).versions("cake")
    repo.write_prompt("cake", cake(2))
    repo.write_prompt("cake", cake(3))
    after = Registry(repo.path).versions("cake")
    assert after[0] == before[0] and after[0].commit == c1
    assert [v.number for v in after] == [1, 2, 3]


def test_git_mv_keeps_history_and_pure_rename_is_not_a_version(repo: GitRepo) -> None:
    repo.write_prompt("cake", cake(1))
    repo.write_prompt("cake", cake(2))
    (repo.path / "prompts/desserts").mkdir()
    repo.git("mv", "prompts/cake.prompt", "prompts/desserts/cake.prompt")
    repo.commit("move")
    repo.write_prompt("desserts/cake", cake(3))
    versions = Registry(repo.path).versions("desserts/cake")
    assert [v.number for v in versions] == [1, 2, 3]
    assert versions[0].path == "prompts/cake.prompt"
    assert "take 1" in Registry(repo.path).get("desserts/cake", version=1).template


def test_first_parent_history_counts_a_merge_once(repo: GitRepo) -> None:
    repo.write_prompt("cake", cake(1))
    repo.git("checkout", "-q", "-b", "feature")
    repo.write_prompt("cake", cake(2))
    repo.write_prompt("cake", cake(3))
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    versions = Registry(repo.path).versions("cake")
    assert [v.subject for v in versions] == ["edit cake", "merge feature"]
    assert "take 3" in Registry(repo.path).get("cake", version=2).template


def test_reference_forms_resolve(repo: GitRepo) -> None:
    c1 = repo.write_prompt("cake", cake(1))
    c2 = repo.write_prompt("cake", cake(2))
    repo.write("prompts/cake.prompt", cake(3))
    registry = Registry(repo.path)
    assert registry.resolve("cake", None).version is None  # uncommitted working tree
    assert "take 3" in registry.resolve("cake", None).template
    assert registry.resolve("cake", "1").commit == c1
    assert registry.resolve("cake", "v2").commit == c2
    assert registry.resolve("cake", "HEAD").version == 2
    assert registry.resolve("cake", c1).version == 1  # a short sha of digits only would read as a version
    assert registry.resolve("cake", "HEAD~1").version == 1


def test_unchanged_working_tree_is_the_latest_version(repo: GitRepo) -> None:
    repo.write_prompt("cake", cake(1))
    assert Registry(repo.path).resolve("cake", None).version == 1


def test_namespaced_prompt_names(repo: GitRepo) -> None:
    repo.write_prompt("support/triage", "Triage {{ ticket }}")
    repo.write_prompt("cake", cake(1))
    registry = Registry(repo.path)
    assert registry.list() == ["cake", "support/triage"]
    assert registry.get("support/triage").render(ticket="T-1")[0].content == "Triage T-1"


def test_unknown_prompt_suggests_close_names(repo: GitRepo) -> None:
    repo.write_prompt("cake-recipe", cake(1))
    with pytest.raises(NotFound, match=r"unknown prompt 'cake-recipie' \(did you mean cake-recipe\?\)"):
        Registry(repo.path).get("cake-recipie")


def test_unknown_version_and_label(repo: GitRepo) -> None:
    repo.write_prompt("cake", cake(1))
    registry = Registry(repo.path)
    with pytest.raises(NotFound, match=r"cake@7: no such version \(cake has versions 1..1\)"):
        registry.get("cake", version=7)
    with pytest.raises(NotFound, match="cake@staging: no such label"):
        registry.get("cake", label="staging")
    with pytest.raises(NotFound, match="cake@nonsense: no such version, label or commit"):
        registry.resolve("cake", "nonsense")


def test_not_a_repository(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotARepository, match="not inside a git repository"):
        Registry(tmp_path)


def test_same_blob_is_read_from_git_once(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.write_prompt("cake", cake(1))
    registry = Registry(repo.path)
    reads: list[str] = []
    original = registry.store.read_blob
    monkeypatch.setattr(registry.store, "read_blob", lambda blob: reads.append(blob) or original(blob))
    first = registry.get("cake", version=1)
    second = registry.get("cake", ref="HEAD")
    assert first.blob == second.blob and len(reads) == 1


def test_malformed_committed_version_names_version(repo: GitRepo) -> None:
    repo.write_prompt("cake", "---\nbogus: 1\n---\nhi")
    with pytest.raises(PromptFileError, match="cake@1: unknown front-matter key 'bogus'"):
        Registry(repo.path).get("cake", version=1)


def test_all_versions_agrees_with_per_prompt_history(repo: GitRepo) -> None:
    repo.write_prompt("a", "A1")
    repo.write_prompt("b", "B1")
    repo.write_prompt("a", "A2")
    repo.git("mv", "prompts/b.prompt", "prompts/c.prompt")
    repo.commit("rename b")
    repo.write_prompt("c", "C2")
    registry = Registry(repo.path)
    bulk = registry.all_versions()
    for name in ("a", "c"):
        assert [(v.number, v.commit, v.blob) for v in bulk[name]] == [
            (v.number, v.commit, v.blob) for v in registry.versions(name)
        ]
    assert "b" not in bulk


def _numbered(histories: dict) -> dict:  # type: ignore[type-arg]
    return {name: [(v.number, v.commit, v.blob) for v in versions] for name, versions in histories.items()}


def _fresh(repo: GitRepo) -> dict:  # type: ignore[type-arg]
    import shutil

    shutil.rmtree(repo.path / ".plg", ignore_errors=True)
    return _numbered(Registry(repo.path).all_versions())


def test_list_cache_follows_new_commits_renames_and_merges(repo: GitRepo) -> None:
    """`plg list` keeps every prompt's history between runs and extends it by the commits since: after
    edits, a rename, a deletion and a merged branch it numbers exactly as a walk from scratch."""
    repo.write_prompt("a", "A1")
    repo.write_prompt("b", "B1")
    assert _numbered(Registry(repo.path).all_versions()) == _fresh(repo)
    Registry(repo.path).all_versions()
    repo.write_prompt("a", "A2")
    repo.git("mv", "prompts/b.prompt", "prompts/c.prompt")
    repo.commit("rename b")
    repo.write_prompt("d", "D1")
    repo.git("checkout", "-q", "-b", "side")
    repo.write_prompt("a", "A-side-1")
    repo.write_prompt("a", "A-side-2")
    side_cached = _numbered(Registry(repo.path).all_versions())
    assert side_cached["a"][-1][0] == 4
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    repo.git("rm", "-q", "prompts/d.prompt")
    repo.commit("drop d")
    # The cache was last written at `side`, which is not on main's first-parent chain: the merge is one
    # version of `a`, not the two side commits.
    cached = _numbered(Registry(repo.path).all_versions())
    assert cached == _fresh(repo)
    assert cached["a"][-1][0] == 3 and "d" not in cached and "b" not in cached
    Registry(repo.path).all_versions()
    repo.write_prompt("c", "C2")
    assert _numbered(Registry(repo.path).all_versions()) == _fresh(repo)


def test_list_reads_version_commits_from_the_cache_as_the_walk_numbers_them(repo: GitRepo) -> None:
    repo.write_prompt("a", "A1")
    repo.write_prompt("b", "B1")
    repo.write_prompt("a", "A2")
    cold = Registry(repo.path).version_commits()  # computes and writes the cache
    warm = Registry(repo.path).version_commits()  # read from it
    walked = {name: [commit for _, commit, _ in versions] for name, versions in _fresh(repo).items()}
    assert cold == warm == walked and len(warm["a"]) == 2
    repo.write_prompt("b", "B2")  # HEAD moved: the cache is not read as current
    assert Registry(repo.path).version_commits()["b"] == [c for _, c, _ in _fresh(repo)["b"]]


def test_a_version_of_a_prompt_never_committed_says_so(repo: GitRepo) -> None:
    """Before: `foo@1: no such version (foo has versions 1..0)`."""
    from tests.conftest import run_cli

    repo.write("prompts/foo.prompt", CAKE_V1)

    for args in (("show", "foo@1"), ("diff", "foo@1"), ("promote", "foo@1", "--label", "staging")):
        result = run_cli(*args)
        assert result.code == 2, (args, result)
        assert result.err == "plg: error: foo@1: foo has no committed version yet (commit prompts/foo.prompt first)\n"


def test_a_folder_or_fifo_named_like_a_prompt_is_no_prompt(repo: GitRepo) -> None:
    """Before: `plg list` waited forever reading a FIFO named x.prompt, and a folder named x.prompt made
    `plg show x` say "unknown prompt 'x' (did you mean x?)" and stopped `plg lint` with exit 2."""
    import os
    import subprocess
    import sys

    from tests.conftest import run_cli

    repo.write("prompts/real.prompt", CAKE_V1)
    (repo.path / "prompts/folder.prompt").mkdir()
    os.mkfifo(repo.path / "prompts/pipe.prompt")

    listed = subprocess.run(
        [sys.executable, "-m", "plg.cli", "list"], cwd=repo.path, capture_output=True, text=True, timeout=30
    )
    shown = run_cli("show", "folder")
    linted = run_cli("lint")

    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()[2:]] == ["real"]
    assert shown.code == 2 and shown.err == "plg: error: unknown prompt 'folder'\n", shown
    assert linted.code == 0, linted


def test_a_committed_symbolic_link_is_no_version_of_a_prompt(repo: GitRepo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """git stores a link as its target's path. Before: `plg show evil@1`, `plg render evil@1` and the SDK
    served that path ('/home/.../secret.txt') as the prompt's text."""
    from plg import Client
    from tests.conftest import run_cli

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    repo.write("prompts/real.prompt", CAKE_V1)
    (repo.path / "prompts/evil.prompt").symlink_to(secret)
    repo.commit("a link")

    for args in (("show", "evil@1"), ("render", "evil@HEAD"), ("log", "evil")):
        result = run_cli(*args)
        assert str(secret) not in result.out, (args, result)
    assert run_cli("show", "evil@HEAD").code == 2
    with pytest.raises(NotFound):
        Client(repo=repo.path).run("evil", {})
    assert run_cli("log", "real").code == 0


def test_a_renamed_prompt_keeps_its_pipeline_labels_and_scores(repo: GitRepo) -> None:
    """After `git mv prompts/cake-recipe.prompt prompts/desserts/cake.prompt` the label followed but
    `plg list` showed none, `plg log` and `plg scores` had no score, and `plg eval` refused the pipeline
    as another prompt's (issue 28)."""
    from tests.conftest import run_cli

    repo.write("prompts/cake-recipe.prompt", CAKE_V1)
    repo.write(
        "evals/cake-recipe.yaml",
        "prompt: cake-recipe\ndataset: cakes.csv\nscorers:\n  - type: contains\n    value: cake\n"
        "gate:\n  production:\n    min_score: 0.5\n",
    )
    repo.write("evals/cakes.csv", "cake_type,serving_size\nlemon,4\n")
    repo.commit("cake recipe")
    assert run_cli("promote", "cake-recipe", "--label", "production").code == 0  # records its eval score
    (repo.path / "prompts/desserts").mkdir()
    repo.git("mv", "prompts/cake-recipe.prompt", "prompts/desserts/cake.prompt")
    repo.commit("file the cake under desserts")

    listed = run_cli("list")
    logged = run_cli("log", "desserts/cake")
    scores = run_cli("scores", "desserts/cake")
    evaluated = run_cli("eval", "desserts/cake")

    assert "production=v1" in listed.out, listed
    v1 = next(line for line in logged.out.splitlines() if line.startswith("v1 "))
    assert "production" in v1 and "1.00" in v1, logged.out
    assert "desserts/cake@1: 2 recorded result(s)" in scores.out, scores.out
    assert evaluated.code == 0, evaluated
    assert evaluated.out.startswith("run ") and "desserts/cake@1" in evaluated.out.splitlines()[0]
    promoted = run_cli("promote", "desserts/cake", "--label", "production")
    assert promoted.code == 0 and "already points at v1" in promoted.out, promoted


def test_the_viewer_shows_a_renamed_prompts_scores(repo: GitRepo) -> None:
    from plg.view.prompts import prompt_page, prompt_rows
    from tests.conftest import run_cli

    repo.write("prompts/cake-recipe.prompt", CAKE_V1)
    repo.write(
        "evals/cake-recipe.yaml",
        "prompt: cake-recipe\ndataset: cakes.csv\nscorers:\n  - type: contains\n    value: cake\n",
    )
    repo.write("evals/cakes.csv", "cake_type,serving_size\nlemon,4\n")
    repo.commit("cake recipe")
    assert run_cli("eval", "cake-recipe", "--record").code == 0
    (repo.path / "prompts/desserts").mkdir()
    repo.git("mv", "prompts/cake-recipe.prompt", "prompts/desserts/cake.prompt")
    repo.commit("file the cake under desserts")

    (row,) = prompt_rows(Registry(repo.path))
    page = prompt_page(Registry(repo.path), "desserts/cake")

    assert row.entry.name == "desserts/cake" and row.score == "1.00 [0.00, 1.00]", row  # one row bounds nothing
    assert [s.score for v in page.versions for s in v.scores] == [1.0], page.versions
