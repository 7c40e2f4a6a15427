"""`plg list`, `plg log` and `plg show` without click print exactly what the full CLI prints."""

from __future__ import annotations

import ast
import contextlib
import io
import subprocess
import sys

import pytest

from plg.cli import fast
from tests.conftest import CAKE_V1, GitRepo, run_cli


def _fast(*argv: str) -> tuple[int | None, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = fast.run(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def labelled(repo: GitRepo) -> GitRepo:
    repo.write_prompt("cake", CAKE_V1)
    repo.write_prompt("cake", CAKE_V1.replace("pastry chef.", "pastry chef (v2)."))
    repo.write_prompt("team/other", CAKE_V1.replace("Cake recipes", "Another"))
    assert run_cli("promote", "cake@1", "--label", "production", "--force", "--reason", "t").code == 0
    repo.write("prompts/cake.prompt", CAKE_V1.replace("pastry chef.", "pastry chef (draft)."))
    return repo


@pytest.mark.parametrize(
    "argv",
    [
        ("list",),
        ("log", "cake"),
        ("log", "team/other"),
        ("show", "cake"),
        ("show", "cake@production"),
        ("show", "cake@1"),
        ("log", "nope"),
        ("show", "cake@9"),
        ("show", "cake@"),
        ("show", "../etc/passwd"),
    ],
)
def test_fast_path_prints_what_the_full_cli_prints(labelled: GitRepo, argv: tuple[str, ...]) -> None:
    code, out, err = _fast(*argv)
    full = run_cli(*argv)
    assert (code, out, err) == (full.code, full.out, full.err)


def test_fast_path_outside_a_repository_fails_as_the_cli_does(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    code, out, err = _fast("list")
    full = run_cli("list")
    assert code == full.code == 2 and err == full.err and "not inside a git repository" in err


@pytest.mark.parametrize("argv", [("list", "--json"), ("log",), ("show", "a", "b"), ("--help",), ("eval", "x"), ()])
def test_anything_else_goes_to_the_full_cli(argv: tuple[str, ...]) -> None:
    assert _fast(*argv)[0] is None


def _plg_loading(repo: GitRepo, argv: list[str], watched: tuple[str, ...]) -> tuple[str, list[str]]:
    """The `plg` command's output, run the way the console script runs it, and which of `watched` it imported.

    Modules the interpreter already loaded at start-up (a site `.pth` file may import typing) are not plg's doing.
    """
    code = (
        "import atexit, sys\n"
        "before = set(sys.modules)\n"
        f"atexit.register(lambda: print(sorted(m for m in {watched!r} if m in sys.modules and m not in before)))\n"
        f"sys.argv = ['plg', *{argv!r}]\nfrom plg.cli import entry\nentry()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=repo.path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    *shown, loaded = done.stdout.rstrip().splitlines()
    return "\n".join(shown), ast.literal_eval(loaded)


def test_the_plg_command_lists_without_importing_click(labelled: GitRepo) -> None:
    out, loaded = _plg_loading(labelled, ["list"], ("click",))
    assert "cake" in out and "production=v1" in out
    assert loaded == []


def test_plg_log_imports_neither_typing_nor_inspect(labelled: GitRepo) -> None:
    """Each is 3-4 ms of a ~50 ms command: the modules `plg log` loads import typing only for type
    checkers, and dataclasses' `inspect` stays deferred (every value class there has a docstring)."""
    out, loaded = _plg_loading(labelled, ["log", "cake"], ("typing", "ast", "click"))
    assert "production" in out
    assert loaded == []


@pytest.mark.parametrize("argv", [["list"], ["log", "cake"], ["list", "--json"]])
def test_a_deleted_current_directory_is_one_line_not_an_internal_error(tmp_path, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    gone = tmp_path / "gone"
    gone.mkdir()
    script = f"cd {gone} && rmdir {gone} && exec {sys.executable} -m plg.cli {' '.join(argv)}"
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr == "plg: error: the current directory no longer exists: cd into the repository again\n"
