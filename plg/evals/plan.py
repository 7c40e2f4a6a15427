"""Turn what the user asked for (`plg eval NAME@REF`, `plg batch`) into a resolved EvalSpec,
refusing bad input before any model call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from plg.errors import BadInput
from plg.evals.runner import EvalSpec
from plg.registry.versions import PromptVersion, Registry, split_ref


@dataclass(frozen=True)
class EvalRequest:
    spec: str | None
    pipeline: Path | None = None
    models: tuple[str, ...] = ()
    concurrency: int | None = None
    repeats: int | None = None
    outputs: Path | None = None


@dataclass(frozen=True)
class PlannedEval:
    spec: EvalSpec
    min_score: float | None
    min_pass_rate: float | None
    timeout: float | None
    pipeline: object | None


def required_columns(prompt: PromptVersion) -> set[str]:
    from plg.registry.prompt import missing_variables

    return set(missing_variables(prompt.file, {}))


def resolve_prompt(registry: Registry, spec: str) -> PromptVersion:
    name, ref = split_ref(spec)
    return registry.resolve(name, ref)


def plan_eval(registry: Registry, request: EvalRequest) -> PlannedEval:
    from plg.evals.config import find_pipeline, load_pipeline
    from plg.evals.datasets import check_columns, dataset_hash
    from plg.evals.scorers import build_scorers

    prompt = resolve_prompt(registry, request.spec) if request.spec else None
    if prompt is None and request.pipeline is None:
        raise BadInput("give a prompt name or --pipeline FILE")
    path = request.pipeline
    if path is None and prompt is not None:
        path = find_pipeline(registry.root, prompt.name, prompt.front.eval, None)
    assert path is not None
    loaded = load_pipeline(path)
    config = loaded.config
    if prompt is None and config.prompt:
        prompt = resolve_prompt(registry, config.prompt)
    if prompt is not None and config.prompt and split_ref(config.prompt)[0] != prompt.name:
        raise BadInput(f"{path}: this pipeline belongs to prompt '{config.prompt}', not '{prompt.name}'")
    models = tuple(request.models) or tuple(config.model_list()) or ((prompt.model,) if prompt else ())
    if not models:
        raise BadInput(f"{path}: no model: set `models:` or pass --model")
    datasets = loaded.datasets
    for dataset in datasets:
        if not dataset.is_file():
            raise BadInput(f"{path}: dataset {dataset} does not exist")
        if request.outputs is None:
            needed = required_columns(prompt) if prompt is not None else {"messages"}
            check_columns(dataset, needed, prompt.name if prompt else str(path))
    outputs = None
    if request.outputs is not None:
        from plg.evals.outputs import load_outputs

        outputs = load_outputs(request.outputs)
        models = (f"outputs:{request.outputs.name}",)
    params = {**(prompt.params if prompt else {}), **(config.params or {})}
    scorers = tuple(build_scorers(config.scorers, loaded, models[0]))
    spec = EvalSpec(
        name=prompt.name if prompt else path.stem,
        kind="custom" if request.outputs is not None else ("eval" if prompt else "completion"),
        prompt=prompt,
        datasets=datasets,
        dataset_hashes=tuple(dataset_hash(d) for d in datasets),
        models=models,
        params=params,
        scorers=scorers,
        concurrency=request.concurrency or config.concurrency,
        repeats=request.repeats or config.repeats,
        pipeline_path=_relative(registry.root, path),
        pipeline_hash=loaded.content_hash,
        base_dir=loaded.base_dir,
        outputs=outputs,
        identity_extra=dataset_hash(request.outputs) if request.outputs is not None else "",
    )
    threshold = config.threshold
    return PlannedEval(
        spec=spec,
        min_score=threshold.min_score if threshold else None,
        min_pass_rate=threshold.min_pass_rate if threshold else None,
        timeout=config.timeout,
        pipeline=loaded,
    )


def plan_batch(
    registry: Registry, spec: str, dataset: Path, models: tuple[str, ...], concurrency: int
) -> EvalSpec:
    from plg.evals.datasets import check_columns, dataset_hash

    prompt = resolve_prompt(registry, spec)
    if not dataset.is_file():
        raise BadInput(f"--dataset {dataset}: no such file")
    check_columns(dataset, required_columns(prompt), prompt.name)
    return EvalSpec(
        name=prompt.name,
        kind="batch",
        prompt=prompt,
        datasets=(dataset,),
        dataset_hashes=(dataset_hash(dataset),),
        models=models or (prompt.model,),
        params=prompt.params,
        scorers=(),
        concurrency=concurrency,
        base_dir=registry.root,
    )


def _relative(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)
