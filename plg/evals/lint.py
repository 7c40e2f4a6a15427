"""Static checks a reviewer would otherwise do by eye: the file parses, the template compiles, and the
variables it uses are the ones it declares; each eval pipeline loads, and each python evaluator it names
exists and can take plg's call (read with `ast`, never imported: it may come from a pull request)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from plg.config import check_request_params
from plg.errors import InvalidName, NoPipeline, PlgError
from plg.evals.config import find_pipeline
from plg.registry.prompt import parse_front_matter, parse_prompt_leniently
from plg.registry.prompttext import prompt_text, working_bytes
from plg.registry.versions import PROMPTS_DIR, SUFFIX, Registry, validate_name


@dataclass(frozen=True)
class Finding:
    where: str
    severity: str
    message: str
    pipeline: bool = False  # an eval pipeline that cannot run: bad input (exit 2), not a failed check

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: {self.message}"


def lint_text(text: str, where: str) -> list[Finding]:
    from plg.registry.template import static_template_problems

    findings: list[Finding] = []
    try:
        prompt, front_problems = parse_prompt_leniently(text, where)
        findings += [Finding(where, "error", problem) for problem in front_problems]
        problems = [
            p for s in prompt.sections for p in static_template_problems(s.source, s.first_line, where)
        ]
        if problems:
            return findings + [Finding(where, "error", problem) for problem in problems]
        prompt.check()
    except PlgError as err:
        message = err.message.removeprefix(where).lstrip(":, ")
        return findings + [Finding(where, "error", message)]
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
    """The prompts named (all of them if none), then their pipelines (with none named: every pipeline
    in evals/ too, whether or not a prompt owns it)."""
    registry = Registry(repo)
    targets = names or registry.list()
    findings: list[Finding] = []
    pipelines: dict[Path, None] = {}
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
        try:
            text = prompt_text(working_bytes(registry.root, where), where)
        except PlgError as err:
            findings.append(Finding(where, "error", err.message.removeprefix(where).lstrip(":, ")))
            continue
        findings += lint_text(text, where)
        try:
            front = parse_front_matter(text, where)
        except PlgError:
            continue  # lint_text reported it: a prompt's problem, not its pipeline's
        try:
            check_request_params(front.params, where, registry.root)
        except PlgError as err:
            findings.append(Finding(where, "error", err.message.removeprefix(where).lstrip(":, ")))
        try:
            pipelines[find_pipeline(registry.root, name, front.eval, None)] = None
        except NoPipeline:
            pass
        except PlgError as err:
            findings.append(Finding(where, "error", err.message.removeprefix(where).lstrip(":, "), True))
    if not names:
        for pattern in ("evals/*.yaml", "evals/*.yml"):
            pipelines.update(dict.fromkeys(sorted(registry.root.glob(pattern))))
    for pipeline in pipelines:
        findings += lint_pipeline(pipeline.resolve(), registry.root.resolve())
    return findings


def lint_pipeline(path: Path, root: Path) -> list[Finding]:
    from plg.evals.config import PythonConfig, load_pipeline, scorer_names
    from plg.evals.pycheck import check_function

    where = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    try:
        loaded = load_pipeline(path, root)
    except PlgError as err:
        return [Finding(where, "error", err.message.removeprefix(str(path)).lstrip(":, "), True)]
    findings = []
    if not loaded.config.scorers:
        findings.append(Finding(where, "error", "no scorers: an eval that scores nothing judges nothing", True))
    for name, scorer in zip(scorer_names(loaded.config.scorers), loaded.config.scorers, strict=True):
        if isinstance(scorer, PythonConfig):
            relative, _, function = scorer.function.rpartition(":")
            problem = check_function(loaded.resolve(relative, "python scorer"), function)
            if problem is not None:
                message = f"scorer '{name}' ({scorer.function}): {problem.message}"
                findings.append(Finding(where, problem.severity, message, problem.severity == "error"))
    return findings
