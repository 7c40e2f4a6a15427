"""Static checks a reviewer would otherwise do by eye: the file parses, the template compiles, and the
variables it uses are the ones it declares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from plg.errors import InvalidName, PlgError
from plg.registry.prompt import parse_prompt
from plg.registry.versions import PROMPTS_DIR, SUFFIX, Registry, validate_name


@dataclass(frozen=True)
class Finding:
    where: str
    severity: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: {self.message}"


def lint_text(text: str, where: str) -> list[Finding]:
    from plg.registry.template import static_template_problems

    try:
        prompt = parse_prompt(text, where)
        problems = [
            p for s in prompt.sections for p in static_template_problems(s.source, s.first_line, where)
        ]
        if problems:
            return [Finding(where, "error", problem) for problem in problems]
        prompt.check()
    except PlgError as err:
        message = err.message.removeprefix(where).lstrip(":, ")
        return [Finding(where, "error", message)]
    findings = []
    declared = set(prompt.front.inputs)
    if declared:
        for name in sorted(prompt.variables - declared):
            findings.append(Finding(where, "error", f"variable '{name}' is used but not declared in inputs"))
    for name in sorted(declared - prompt.variables):
        findings.append(Finding(where, "warning", f"input '{name}' is declared but never used"))
    if not prompt.sections:
        findings.append(Finding(where, "error", "the template is empty"))
    if prompt.sections and all(s.role != "user" for s in prompt.sections):
        findings.append(Finding(where, "warning", "no user message"))
    return findings


def lint_prompts(repo: str | Path, names: list[str]) -> list[Finding]:
    registry = Registry(repo)
    targets = names or registry.list()
    findings: list[Finding] = []
    for name in targets:
        if not names:
            try:
                validate_name(name)
            except InvalidName as err:
                findings.append(Finding(f"{PROMPTS_DIR}/{name}{SUFFIX}", "error", err.message))
                continue
        path = registry.root / registry.prompt_path(name)
        if not path.is_file():
            registry.require_exists(name)
        where = f"{PROMPTS_DIR}/{name}{SUFFIX}"
        findings += lint_text(path.read_text(errors="replace"), where)
    return findings
