"""Git reads started ahead of need: taken once, only by the work tree they were started in, and exactly the
reads `plg log`, `plg list` and `plg show` make (a drifted command line would silently start a useless
process and run the read again)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from plg.cli import views
from plg.registry import gitreads
from plg.registry.gitstore import GitStore
from plg.registry.versions import Registry
from tests.conftest import CAKE_V1, GitRepo, git, run_cli


@pytest.fixture(autouse=True)
def nothing_left_ahead() -> Iterator[None]:
    yield
    gitreads.discard()


@pytest.fixture
def labelled(repo: GitRepo) -> GitRepo:
    repo.write_prompt("cake", CAKE_V1)
    repo.write_prompt("cake", CAKE_V1.replace("pastry chef.", "pastry chef (v2)."))
    assert run_cli("promote", "cake@1", "--label", "production", "--force", "--reason", "t").code == 0
    return repo


def git_processes(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    started: list[list[str]] = []
    real = subprocess.Popen.__init__

    def spy(self: subprocess.Popen[str], args: list[str], *rest: object, **kw: object) -> None:
        started.append(list(args))
        real(self, args, *rest, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(subprocess.Popen, "__init__", spy)
    return started


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["log", "cake"], lambda r: views.log_text(r, "cake")),
        (["list"], views.list_text),
        (["show", "cake@production"], lambda r: views.show_text(views.show_info(r, "cake@production"))),
        (["show", "cake@1"], lambda r: views.show_text(views.show_info(r, "cake@1"))),
    ],
)
def test_the_reads_started_ahead_are_the_ones_the_command_makes(
    labelled: GitRepo, monkeypatch: pytest.MonkeyPatch, argv: list[str], text: object
) -> None:
    monkeypatch.chdir(labelled.path)
    views.show_text(views.show_info(Registry("."), "cake@1"))  # the prompt summary cache, read from git once
    expected = text(Registry("."))  # type: ignore[operator]
    gitreads.start_ahead(*gitreads.reads_for(argv))
    started = git_processes(monkeypatch)
    assert text(Registry(".")) == expected  # type: ignore[operator]
    assert started == []
    assert not gitreads._ahead


def test_a_read_started_in_one_work_tree_is_not_taken_by_another(
    repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = repo.commit("first")
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    git(other, "commit", "-q", "--allow-empty", "-m", "other")
    monkeypatch.chdir(repo.path)
    gitreads.start_ahead(gitreads.HEAD)
    assert GitStore(other).ref_value("HEAD") == git(other, "rev-parse", "HEAD")
    assert GitStore(repo.path).ref_value("HEAD") == first  # taken here, where it was started
    second = repo.commit("second")
    assert GitStore(repo.path).ref_value("HEAD") == second  # and only once


def test_reads_nobody_took_are_discarded_before_the_repository_changes(
    repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.commit("first")
    monkeypatch.chdir(repo.path)
    from plg.cli import fast

    assert fast.run(["show", "../etc/passwd"]) == 2  # refused before reading HEAD
    later = repo.commit("later")
    assert GitStore(repo.path).ref_value("HEAD") == later


def test_the_deferred_inspect_becomes_the_real_module_on_first_use(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from plg.cli import fast\n"
        "fast._defer_inspect()\n"
        "from dataclasses import dataclass\n"
        "@dataclass(frozen=True)\n"
        "class Documented:\n"
        "    '''has a docstring'''\n"
        "    a: int\n"
        "print('ast' in sys.modules)\n"
        "@dataclass\n"
        "class Undocumented:\n"
        "    b: str\n"
        "import inspect\n"
        "print(Undocumented.__doc__, inspect.signature(Documented), sys.modules['inspect'] is inspect)\n"
        "print(type(sys.modules['inspect']).__name__, inspect.isclass(Documented))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["False", "Undocumented(b: str) (a: int) -> None True", "module True"]
