"""The root group loads a command's module only when it runs: the map must name every command."""

from __future__ import annotations

import importlib
import subprocess
import sys

from plg.cli.commands import COMMAND_MODULES
from plg.cli.common import cli


def test_every_command_is_in_the_lazy_map_under_its_own_module() -> None:
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    defined = {name: command.callback.__module__ for name, command in cli.commands.items()}  # type: ignore[union-attr]
    mapped = {name: module for module, names in COMMAND_MODULES.items() for name in names}
    assert defined == mapped


def test_a_registry_command_does_not_load_the_eval_ci_or_viewer_layers(repo) -> None:  # type: ignore[no-untyped-def]
    repo.write_prompt("a", "---\nmodel: plg/offline\n---\nuser:\nhi\n")
    code = (
        "import sys\nfrom plg.cli import main\n"
        "try:\n    main(['list'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('plg.evals', 'plg.ci', 'plg.view', 'plg.gate', "
        "'plg.cli.eval', 'plg.cli.ci', 'plg.cli.runs', 'litellm'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=repo.path, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
    assert "a " in out.stdout or "a\n" in out.stdout
