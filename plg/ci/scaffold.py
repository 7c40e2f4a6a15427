"""What `plg init` and `plg new` write: a working starting point, never overwriting the user's files."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

from plg.ci.requirement import current_requirement
from plg.errors import BadInput
from plg.llm.offline import OFFLINE_MODEL, offline_reply
from plg.registry.gitstore import default_branch, init_repository
from plg.registry.prompt import NEW_PROMPT_TEMPLATE, parse_prompt
from plg.registry.versions import PROMPTS_DIR, SUFFIX, Registry, validate_name

GITIGNORE_LINES = [".plg/", "plg-report/"]


def _template(name: str) -> str:
    return resources.files("plg.ci.templates").joinpath(name).read_text()


REQUIREMENTS_HEADER = """\
# What the plg workflows install: one pip requirement that can only resolve to plg itself.
# To move to another plg, replace the line below with a git URL at a tag or commit, e.g.
#   plg-registry @ git+https://github.com/OWNER/plg@v0.2.0
# (or run `plg init --install REQUIREMENT` in a fresh checkout). Never a bare name: the public index
# holds unrelated packages under plg's names.
"""


STARTER = "support-reply"
STARTER_FILES = {
    f"prompts/{STARTER}.prompt": f"{STARTER}.prompt",
    f"evals/{STARTER}.yaml": f"{STARTER}.yaml",
    f"evals/datasets/{STARTER}.csv": f"{STARTER}.csv",
}
STARTER_REQUESTS = (
    {"product": "Notebook Pro", "message": "The app crashes when I open a notebook with images in it."},
    {"product": "Photo Stash", "message": "Can I share an album with someone who has no account?"},
    {"product": "Notebook Pro", "message": "Where did the dark mode setting go after the update?"},
)
"""Stand-ins for real requests: the backtest needs history from day one, and `plg logs export` replaces it."""

MAX_SHARDS = 256  # the most jobs one GitHub Actions matrix holds


_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")


def ci_workflow(shards: int | None, branch: str = "main") -> str:
    """The plain workflow, or the variant whose evals run on a matrix of `shards` runners and merge."""
    if shards is None:
        return _template("workflow.yml").replace("@BRANCH@", branch)
    if not 1 <= shards <= MAX_SHARDS:
        raise BadInput(f"--shards {shards}: a job matrix runs 1 to {MAX_SHARDS} runners")
    return _template("workflow-sharded.yml").replace("@SHARDS@", str(shards)).replace("@BRANCH@", branch)


def workflow_branch(directory: Path, branch: str | None) -> str:
    """The branch the workflows record scores on and move labels from: `--branch`, else the repository's
    default (its remote's, else the one checked out), else main. The name goes into YAML: checked here."""
    chosen = branch or default_branch(directory) or "main"
    if not _BRANCH.fullmatch(chosen) or ".." in chosen or chosen.endswith((".", "/", ".lock")):
        raise BadInput(f"--branch {chosen!r}: not a branch name a workflow can name")
    return chosen


def starter_history() -> str:
    """The starter's history file, in the format `plg logs export` writes: each request with the answer
    production (the starter prompt on plg/offline) gave, so the first backtest compares like with like."""
    prompt = parse_prompt(_template(f"starter/{STARTER}.prompt"), f"prompts/{STARTER}.prompt")
    lines = []
    for number, variables in enumerate(STARTER_REQUESTS, 1):
        messages = [m.to_dict() for m in prompt.render(dict(variables))]
        line = {
            "input_variables": variables,
            "output": offline_reply(messages),
            "prompt": STARTER,
            "label": "production",
            "model": OFFLINE_MODEL,
            "request_id": f"starter-{number}",
        }
        lines.append(json.dumps(line, ensure_ascii=False) + "\n")
    return "".join(lines)


def init_project(
    directory: Path, install: str | None = None, shards: int | None = None, branch: str | None = None
) -> list[str]:
    if branch is not None:
        workflow_branch(directory, branch)  # a bad name is refused before anything is written
    ci_workflow(shards)
    directory.mkdir(parents=True, exist_ok=True)
    said = []
    if install is None:
        requirement = current_requirement()
        install = requirement.line
        if requirement.note:
            said.append(f"workflows install {install}: {requirement.note}")
    if init_repository(directory):
        said.append(f"initialised a git repository in {directory}")
    branch = workflow_branch(directory, branch)
    workflow = ci_workflow(shards, branch)
    said.append(f"workflows record scores on and move labels from {branch}")
    files = {
        **{relpath: _template(f"starter/{name}") for relpath, name in STARTER_FILES.items()},
        f"evals/history/{STARTER}.jsonl": starter_history(),
        ".github/workflows/plg.yml": workflow,
        ".github/workflows/plg-comment.yml": _template("workflow-comment.yml"),
        ".github/workflows/plg-promote.yml": _template("workflow-promote.yml").replace("@BRANCH@", branch),
        ".github/plg-requirements.txt": f"{REQUIREMENTS_HEADER}{install}\n",
    }
    for folder in ("prompts", "evals/datasets", "evals/history"):
        (directory / folder).mkdir(parents=True, exist_ok=True)
    for relpath, text in files.items():
        target = directory / relpath
        if target.exists():
            said.append(f"kept existing {relpath}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        said.append(f"wrote {relpath}")
    gitignore = directory / ".gitignore"
    existing = gitignore.read_text().splitlines() if gitignore.exists() else []
    missing = [line for line in GITIGNORE_LINES if line not in existing]
    if missing:
        gitignore.write_text("\n".join([*existing, *missing]) + "\n")
        said.append(f"added {', '.join(missing)} to .gitignore")
    return said


def new_prompt(registry: Registry, name: str, description: str) -> Path:
    validate_name(name)
    path = registry.root / PROMPTS_DIR / f"{name}{SUFFIX}"
    if path.exists():
        raise BadInput(f"{path.relative_to(registry.root)} already exists")
    text = NEW_PROMPT_TEMPLATE.format(description=json.dumps(description))
    parse_prompt(text, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path.relative_to(registry.root)
