"""What `plg init` tells CI to install is this very plg, and it installs and runs in a fresh virtualenv."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import GIT_ENV, git, run_cli

ROOT = Path(__file__).resolve().parents[2]
# Read before the autouse fixture moves HOME into tmp_path: the fresh venv may reuse pip's wheel cache.
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")


def _requirement(project: Path) -> str:
    lines = (project / ".github" / "plg-requirements.txt").read_text().splitlines()
    return next(line for line in lines if line and not line.startswith("#"))


def test_init_pins_a_direct_reference_never_a_bare_name(tmp_path: Path) -> None:
    result = run_cli("init", str(tmp_path / "fresh"))
    assert result.code == 0, result
    line = _requirement(tmp_path / "fresh")
    head = git(ROOT, "rev-parse", "HEAD")
    assert re.fullmatch(rf"plg-registry @ git\+\S+@{head}", line), line

    chosen = run_cli("init", str(tmp_path / "chosen"), "--install", "plg-registry @ git+https://example.org/plg@v9")
    assert chosen.code == 0 and _requirement(tmp_path / "chosen") == "plg-registry @ git+https://example.org/plg@v9"
    for bad in ("", "--index-url=https://evil.example/simple", "a\nb"):
        refused = run_cli("init", str(tmp_path / "bad"), "--install", bad)
        assert refused.code == 2, (bad, refused)


def test_the_generated_install_step_works_in_a_fresh_venv(tmp_path: Path) -> None:
    project = tmp_path / "project"
    assert run_cli("init", str(project)).code == 0
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "plg init")
    flow = (project / ".github" / "workflows" / "plg.yml").read_text()
    install = "python -m pip install -r .github/plg-requirements.txt"
    assert install in flow

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))},
        **GIT_ENV,
        "PIP_CACHE_DIR": PIP_CACHE,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }
    python = str(venv / "bin" / "python")
    # setup-python brings a current pip; the machine's venv template may carry an older one
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], env=env, check=True)
    proc = subprocess.run(
        install.replace("python", python, 1).split() + ["--quiet"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    plg = str(venv / "bin" / "plg")
    assert Path(plg).exists()
    assert subprocess.run(["python", "-c", "import plg"], cwd=tmp_path, env=env).returncode == 0

    lint = subprocess.run([plg, "lint"], cwd=project, env=env, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    ci = subprocess.run(
        [plg, "ci", "--all", "--no-comment", "--no-notes", "--report-dir", "plg-report"],
        cwd=project, env=env, capture_output=True, text=True,
    )
    assert ci.returncode == 0, ci.stdout + ci.stderr
    assert "support-reply" in ci.stdout
    assert (project / "plg-report" / "report.json").exists()
