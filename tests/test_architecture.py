"""The package layout is the architecture: imports point down only, and each outside door has one module."""

from __future__ import annotations

import ast
from pathlib import Path

PLG = Path(__file__).resolve().parents[1] / "plg"

# A package may import its own modules and those of lower layers; peers on one layer stay apart.
LAYERS = {
    "plg.errors": -1,  # the exception hierarchy: every module may raise it
    "plg.config": 0, "plg.redact": 0, "plg.textfiles": 0,
    "plg.tracing": 1,
    "plg.registry": 2, "plg.llm": 2, "plg.log": 2,
    "plg.evals": 3, "plg.runtime": 3,
    "plg.gate": 4, "plg.promptlayer": 4,
    "plg.ci": 5, "plg.view": 5,
    "plg.cli": 6,
}
DOORS = {
    "litellm": {"plg/llm/door.py"},
    "git": {"plg/registry/gitstore.py"},
    "sqlite3": {"plg/log/sqlite_log.py", "plg/llm/cache.py"},
    "psycopg": {"plg/log/postgres_log.py"},
    "psycopg_pool": {"plg/log/postgres_log.py"},
    "click": {"plg/cli"},
    "starlette": {"plg/view/app.py", "plg/promptlayer/server.py"},
    "uvicorn": {"plg/view/app.py", "plg/promptlayer/server.py"},
}


def _owner(module: str) -> str | None:
    for name in sorted(LAYERS, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    return None


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            if node.module == "plg":
                names += [f"plg.{a.name}" for a in node.names]
    return names


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PLG.rglob("*.py")):
        rel = path.relative_to(PLG.parent).with_suffix("")
        out.append((".".join(rel.parts).removesuffix(".__init__"), path))
    return out


def test_every_module_belongs_to_a_layer() -> None:
    stray = [m for m, _ in _modules() if m != "plg" and _owner(m) is None]
    assert stray == [], f"modules outside the layered packages: {stray}"


def test_imports_point_down_only() -> None:
    upward = []
    for module, path in _modules():
        me = _owner(module)
        if me is None:
            continue
        for target in _imports(path):
            other = _owner(target) if target.startswith("plg") else None
            if other is not None and other != me and LAYERS[other] >= LAYERS[me]:
                upward.append(f"{module} imports {target}")
    assert upward == []


def test_each_outside_door_is_one_module() -> None:
    wrong = []
    for _module, path in _modules():
        rel = path.relative_to(PLG.parent).as_posix()
        for target in _imports(path):
            top = target.split(".")[0]
            allowed = DOORS.get(top)
            if allowed is not None and not any(rel == a or rel.startswith(a + "/") for a in allowed):
                wrong.append(f"{rel} imports {target}")
    assert wrong == []


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from plg.ci.job import run_ci\n")
    assert "plg.ci.job" in _imports(bad)
