from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CAKE_V1, GitRepo, run_cli


@pytest.fixture
def cake_repo(repo: GitRepo) -> GitRepo:
    repo.write_prompt("cake", CAKE_V1, "first cake")
    repo.write_prompt("cake", CAKE_V1.replace("pastry chef", "baker"), "second cake")
    repo.write_prompt("support/triage", "Triage: {{ ticket }}", "triage")
    return repo


def one_line_error(result, code: int, fragment: str) -> None:  # type: ignore[no-untyped-def]
    assert result.code == code, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    assert fragment in lines[0], lines[0]


def test_list_show_log_render_and_json(cake_repo: GitRepo) -> None:
    listed = run_cli("list", "--json")
    assert listed.code == 0
    entries = {e["name"]: e for e in json.loads(listed.out)}
    assert entries["cake"]["latest_version"] == 2 and entries["support/triage"]["latest_version"] == 1
    shown = json.loads(run_cli("show", "cake@1", "--json").out)
    assert shown["version"] == 1 and "pastry chef" in shown["template"]
    log = json.loads(run_cli("log", "cake", "--json").out)
    assert [e["version"] for e in log] == [2, 1] and log[0]["subject"] == "second cake"
    rendered = run_cli("render", "cake@1", "-v", "cake_type=lemon", "-v", "serving_size=4")
    assert rendered.code == 0
    assert "user:\nWrite a recipe for a lemon cake for 4 people." in rendered.out
    table = run_cli("list")
    assert "support/triage" in table.out and "cake" in table.out


def test_render_vars_file(cake_repo: GitRepo, tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"cake_type": "carrot"}))
    out = run_cli("render", "cake", "--vars", str(vars_file), "--json")
    assert json.loads(out.out)[1]["content"] == "Write a recipe for a carrot cake for 8 people."


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON (nested too deeply)"),  # before: internal error
        (b'{"cake_type": "caf\xe9"}', "not UTF-8 text"),
        (b"{bad", "not valid JSON (Expecting property name"),
    ],
)
def test_a_malformed_vars_file_is_one_line(cake_repo: GitRepo, tmp_path: Path, data: bytes, fragment: str) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_bytes(data)
    one_line_error(run_cli("render", "cake", "--vars", str(vars_file)), 2, f"--vars {vars_file}: {fragment}")


def test_promote_and_labels_from_cli(cake_repo: GitRepo) -> None:
    moved = run_cli("promote", "cake@1", "--label", "production", "--reason", "first ship", "--force")
    assert moved.code == 0 and "cake@production" in moved.out
    assert run_cli("promote", "cake", "--label", "production", "--force", "--reason", "").code == 1
    assert run_cli("promote", "cake", "--label", "production", "--force", "--reason", "").code == 1
    assert run_cli("promote", "cake", "--label", "production", "--force", "--reason", "again").code == 0
    labels = json.loads(run_cli("labels", "cake", "--history", "--json").out)
    assert labels[0]["version"] == 2
    assert [m["reason"] for m in labels[0]["history"]] == ["first ship", "again"]
    assert "production" in run_cli("log", "cake").out
    assert "production" in run_cli("labels", "cake").out
    assert run_cli("show", "cake@production", "--json").out.count('"version": 2') == 1


def test_diff_between_versions(cake_repo: GitRepo) -> None:
    out = run_cli("diff", "cake@1", "cake@2")
    assert out.code == 0
    assert "-You are a pastry chef." in out.out and "+You are a baker." in out.out


def test_lint_reports_undeclared_variable_and_exits_1(cake_repo: GitRepo) -> None:
    assert run_cli("lint").code == 0
    cake_repo.write("prompts/bad.prompt", "---\ninputs: [a]\n---\n{{ a }} {{ b }}")
    result = run_cli("lint")
    assert result.code == 1
    assert "prompts/bad.prompt: error: variable 'b' is used but not declared" in result.err


def test_init_and_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "project"
    assert run_cli("init", str(target)).code == 0
    assert (target / ".git").is_dir() and (target / ".github/workflows/plg.yml").is_file()
    assert ".plg/" in (target / ".gitignore").read_text()
    monkeypatch.chdir(target)
    assert run_cli("new", "support/refunds", "--description", "Refunds: policy").code == 0
    assert run_cli("lint").code == 0
    one_line_error(run_cli("new", "support/refunds"), 2, "already exists")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("show", "cak"), "unknown prompt 'cak' (did you mean cake?)"),
        (("show", "cake@9"), "no such version"),
        (("show", "cake@qa"), "no such version, label or commit"),
        (("render", "cake@1"), "undefined variable 'cake_type'"),
        (("render", "cake@1", "-v", "cake_type"), "expected key=value"),
        (("promote", "cake", "--label", "../../config"), "label '../../config' is not valid"),
        (("promote", "cake", "--label", "7"), "would be read as a version"),
    ],
)
def test_bad_input_is_one_line_exit_2(cake_repo: GitRepo, args: tuple[str, ...], fragment: str) -> None:
    one_line_error(run_cli(*args), 2, fragment)


def test_malformed_files_exit_2_with_line(cake_repo: GitRepo) -> None:
    cake_repo.write("prompts/yaml.prompt", "---\nmodel: [unclosed\n---\nhi")
    one_line_error(run_cli("show", "yaml"), 2, "prompts/yaml.prompt, line")
    cake_repo.write("prompts/key.prompt", "---\nmodle: x\n---\nhi")
    one_line_error(run_cli("show", "key"), 2, "unknown front-matter key 'modle'")
    cake_repo.write("prompts/jinja.prompt", "---\nmodel: x\n---\nuser:\nok\n{% if %}")
    one_line_error(run_cli("render", "jinja"), 2, "prompts/jinja.prompt, line 6: template syntax error")


def test_not_a_git_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    one_line_error(run_cli("list"), 2, "not inside a git repository")


def test_usage_error_is_one_line_exit_2(cake_repo: GitRepo) -> None:
    """Before: click's four lines (Usage, Try, a blank line, Error)."""
    one_line_error(run_cli("promote", "cake"), 2, "Missing option '--label' / '-l'. (see `plg promote --help`)")
    one_line_error(run_cli("no-such-command"), 2, "No such command 'no-such-command'. (see `plg --help`)")
    one_line_error(run_cli("eval", "cake", "-j", "0"), 2, "0 is not in the range 1<=x<=1024")
    one_line_error(run_cli("render", "cake", "--vars", str(cake_repo.path)), 2, "is a directory")


def test_an_output_path_under_a_file_is_one_line_exit_2(cake_repo: GitRepo, tmp_path: Path) -> None:
    """Before: `plg: internal error: FileExistsError ...` (exit 4) from every command writing a file."""
    (tmp_path / "afile").write_text("a file, not a folder")
    assert run_cli("promote", "cake", "--label", "production", "--force", "--reason", "test").code == 0
    for args in (
        ("logs", "export", "-o", str(tmp_path / "afile/history.jsonl")),
        ("bundle", "--label", "production", "-o", str(tmp_path / "afile/prompts.lock.json")),
        ("init", str(tmp_path / "afile/project")),
    ):
        one_line_error(run_cli(*args), 2, "a file stands where a directory is needed")


def test_debug_shows_traceback(cake_repo: GitRepo) -> None:
    result = run_cli("--debug", "show", "nope")
    assert result.code == 2 and "Traceback" in result.err


def test_label_moved_under_promote_exits_1(cake_repo: GitRepo) -> None:
    from plg.registry.labels import execute_move, plan_move
    from plg.registry.versions import Registry

    registry = Registry(cake_repo.path)
    stale = plan_move(registry, "cake", "beta", registry.get("cake", version=1))
    assert run_cli("promote", "cake@2", "--label", "beta").code == 0
    with pytest.raises(Exception) as caught:
        execute_move(registry, stale)
    assert getattr(caught.value, "exit_code", None) == 1


def test_commands_without_model_never_import_litellm(cake_repo: GitRepo) -> None:
    script = (
        "import sys\n"
        "from plg.cli import main\n"
        "for args in (['list'], ['show', 'cake@1'], ['log', 'cake'], ['lint'], ['labels', 'cake'],\n"
        "             ['render', 'cake', '-v', 'cake_type=x'], ['--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, (args, e.code)\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=cake_repo.path, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr


def test_a_hand_made_label_on_a_commit_that_is_no_version_is_shown_as_such(cake_repo: GitRepo) -> None:
    """Before: `plg list` showed `qa=vNone` for a tag made with plain git on a commit that changed no prompt."""
    head = cake_repo.commit("unrelated change")
    cake_repo.git("tag", "-a", "-m", "by hand", "prompts/cake@qa", head)

    for args in (("list",), ("--repo", str(cake_repo.path), "list")):
        listed = run_cli(*args)
        assert listed.code == 0 and "qa=-" in listed.out and "None" not in listed.out, listed


def test_bundle_names_an_invalid_label_instead_of_suggesting_to_promote_it(cake_repo: GitRepo) -> None:
    """Before: `no prompt has the label 'a..b' (promote one first: plg promote NAME@N --label a..b)`."""
    one_line_error(run_cli("bundle", "--label", "a..b"), 2, "label 'a..b' is not valid")
    one_line_error(run_cli("bundle", "--check", "--label", "../x"), 2, "label '../x' is not valid")
