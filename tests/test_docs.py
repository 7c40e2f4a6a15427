"""The docs stay true to the code: every command is in the CLI reference, every relative link (and its
#anchor) leads somewhere, and README's test command is the one CI runs."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click

from plg.cli.commands import COMMAND_MODULES
from plg.cli.common import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def command_paths() -> list[str]:
    """Every command and subcommand the `plg` group serves, as typed: `plg runs grades export`."""
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    ctx = click.Context(cli, info_name="plg")
    paths: list[str] = []

    def walk(group: click.Group, prefix: str, ctx: click.Context) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, f"{prefix} {name} is listed but cannot be loaded"
            paths.append(f"{prefix} {name}")
            if isinstance(command, click.Group):
                walk(command, f"{prefix} {name}", click.Context(command, info_name=name, parent=ctx))

    walk(cli, "plg", ctx)
    return paths


def test_every_command_is_in_the_cli_reference() -> None:
    reference = (DOCS / "cli.md").read_text(encoding="utf-8")
    paths = command_paths()
    assert {p.split()[1] for p in paths} >= {n for names in COMMAND_MODULES.values() for n in names}
    missing = [p for p in paths if not re.search(rf"`{re.escape(p)}(?=[ `])", reference)]
    assert not missing, f"docs/cli.md does not document: {', '.join(missing)}"


def prose(text: str) -> list[str]:
    """The page's lines outside fenced code blocks, inline code removed (a link in code is an example)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return lines


def anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    ids = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        ids.add(slug if count == 0 else f"{slug}-{count}")
    return ids


def test_every_relative_link_leads_to_a_file_and_heading() -> None:
    broken = []
    for page in PAGES:
        for line in prose(page.read_text(encoding="utf-8")):
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue  # https:, mailto: ...
                path, _, anchor = target.partition("#")
                dest = (page.parent / path).resolve() if path else page
                where = f"{page.relative_to(ROOT)}: {target}"
                if not dest.exists():
                    broken.append(f"{where} (no such file)")
                elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                    broken.append(f"{where} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_table_of_contents_links_every_page() -> None:
    readme = "\n".join(prose((ROOT / "README.md").read_text(encoding="utf-8")))
    linked = {target.partition("#")[0] for target in LINK.findall(readme)}
    pages = {f"docs/{page.name}" for page in DOCS.glob("*.md")}
    assert pages <= linked, f"README links no page for: {', '.join(sorted(pages - linked))}"
    assert "docs/gate.md#statistics-how-sure-a-decision-is" in LINK.findall(readme)


def test_readme_is_a_front_page() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) < 300


def shell_commands(script: str) -> list[list[str]]:
    """The python and ruff commands of a shell text (split on newlines and `&&`), words unquoted,
    `--quiet` dropped (it changes what is printed, not what runs)."""
    commands = []
    for line in script.splitlines():
        for part in line.split("&&"):
            if part.strip().startswith(("python ", "ruff ")):
                commands.append([w for w in shlex.split(part, comments=True) if w != "--quiet"])
    return commands


def test_readme_test_command_is_what_ci_runs() -> None:
    """.ci/run says it runs README's test command: its install, lint and test steps are README's (beside
    upgrading pip itself and installing Chromium and PostgreSQL, which README names as prerequisites)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- test-command -->\s*```bash\n(.*?)```", readme, re.S)
    assert block, "README has no block marked <!-- test-command -->"
    ci = [
        words for words in shell_commands((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
        if words != ["python", "-m", "pip", "install", "--upgrade", "pip"]
    ]
    assert len(ci) == 3, f".ci/run changed shape: {ci}"
    assert shell_commands(block.group(1)) == ci


def tour_blocks() -> list[tuple[str, str]]:
    """README's tour as written: its code blocks in order, (language, text)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = readme.split("## A ten-minute tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(bash|python)\n(.*?)```", tour, re.S)


def plg_on_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose `plg` is this checkout's (the installed one may be another)."""
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "plg").write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -c "import sys; from plg.cli import entry; sys.argv[0] = \'plg\'; '
        f'entry()" "$@"\n'
    )
    (shim / "plg").chmod(0o755)
    return {
        **os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
        "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com", "COLUMNS": "100",
    }


def test_the_set_up_command_runs_the_example_offline(tmp_path: Path) -> None:
    """README's first command, after its install: the example prompt lists, renders and evaluates here
    with no API key (state goes to the test's PLG_DIR, so the checkout is left as it was)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up", 1)[1]
    first = re.search(r"```bash\n(.*?)```", setup, re.S)
    assert first and first.group(1).startswith("python -m pip install -c requirements.lock -e . && ")
    commands = first.group(1).strip().split(" && ")[1:]
    assert any(c.startswith("plg eval ") for c in commands)
    env = {k: v for k, v in plg_on_path(tmp_path).items() if not k.endswith("_API_KEY")}
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert done.stdout.strip(), command


def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    """A newcomer's walk: each tour block runs in a fresh directory, in order, every command succeeding
    (`plg view --open` only starts a server, so it is the one line left out; RUN is the last run's id)."""
    env = plg_on_path(tmp_path)
    blocks = tour_blocks()
    assert [lang for lang, _ in blocks].count("python") == 1 and len(blocks) >= 5
    latest_run = (
        f"$(plg runs --json --limit 1 | \"{sys.executable}\" -c "
        "'import json, sys; print(json.load(sys.stdin)[0][\"run\"][\"run_id\"])')"
    )
    cwd = tmp_path
    for lang, text in blocks:
        if lang == "python":
            done = subprocess.run([sys.executable, "-c", text], cwd=cwd, env=env, capture_output=True, text=True)
            assert done.returncode == 0 and "Message from a customer of Notes" in done.stdout, done.stderr
            continue
        lines = [re.sub(r"\s+#.*$", "", line) for line in text.splitlines() if not line.startswith("plg view")]
        script = "\n".join(f"{line} || exit $?" for line in lines if line.strip())  # a failed `a && b` stops too
        script = re.sub(r"\bRUN\b", latest_run, script)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", f'{script}\necho "__cwd=$PWD"'], cwd=cwd, env=env,
            capture_output=True, text=True,
        )
        assert done.returncode == 0, f"{script}\n--- exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        cwd = Path(done.stdout.rsplit("__cwd=", 1)[1].strip())
    labels = subprocess.run(["plg", "labels", "support-reply"], cwd=cwd, env=env, capture_output=True, text=True)
    assert "production" in labels.stdout and "v2" in labels.stdout, labels.stdout + labels.stderr
