"""Turn what the user asked for (`plg eval NAME@REF`, `plg batch`) into a resolved EvalSpec,
refusing bad input before any model call."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from plg.config import check_request_params
from plg.errors import BadInput
from plg.evals.spec import EvalSpec
from plg.registry.versions import PromptVersion, Registry, split_ref


@dataclass(frozen=True)
class EvalRequest:
    spec: str | None
    pipeline: Path | None = None
    models: tuple[str, ...] = ()
    concurrency: int | None = None
    repeats: int | None = None
    outputs: Path | None = None
    decided_only: bool = False


@dataclass(frozen=True)
class PlannedEval:
    spec: EvalSpec
    min_score: float | None
    min_pass_rate: float | None
    timeout: float | None
    pipeline: object | None
    decides: tuple[str, ...] = ()
    served_model: str | None = None
    replaced: bool = False
    max_error_rate: float | None = None


@dataclass(frozen=True)
class ModelChoice:
    """Which models run and which of them the threshold and the gate decide on."""

    models: tuple[str, ...]
    decides: tuple[str, ...]
    replaced: bool


def choose_models(config: object, served: str | None, asked: tuple[str, ...]) -> ModelChoice:
    """The served model is what users get, so it is what is judged; a pipeline's `models:` only add
    comparisons, unless the pipeline says `replace_served_model: true`. Models named on the command line
    are all judged, as asked."""
    from plg.evals.config import Pipeline

    assert isinstance(config, Pipeline)
    listed = tuple(config.model_list())
    if asked:
        return ModelChoice(asked, asked, False)
    if served is not None and config.replace_served_model and not listed:
        return ModelChoice((served,), (served,), True)  # the pipeline's params replace the served request
    if served is None or config.replace_served_model:
        return ModelChoice(listed, listed, served is not None)
    return ModelChoice((served, *(m for m in listed if m != served)), (served,), False)


def required_columns(prompt: PromptVersion) -> set[str]:
    from plg.registry.prompt import missing_variables

    return set(missing_variables(prompt.file, {}))


def resolve_prompt(registry: Registry, spec: str) -> PromptVersion:
    name, ref = split_ref(spec)
    return registry.resolve(name, ref)


def served_params_changed(prompt: PromptVersion, config: object) -> list[str]:
    """The pipeline `params:` keys that would make the judged request differ from the one `Client.run`
    sends for this version (a key the front matter lacks, or another value for one it has)."""
    from plg.evals.config import Pipeline

    assert isinstance(config, Pipeline)
    served = prompt.params
    return sorted(k for k, v in (config.params or {}).items() if k not in served or served[k] != v)


def _require_served_request(prompt: PromptVersion, config: object, path: Path) -> None:
    """Judged == served: a pipeline cannot judge a request nobody is served, unless it says so."""
    from plg.evals.config import Pipeline

    assert isinstance(config, Pipeline)
    changed = served_params_changed(prompt, config)
    if changed and not config.replace_served_model:
        raise BadInput(
            f"{path}: params {', '.join(changed)} change the request {prompt.name} is served with: set them in "
            "the prompt's front matter, or say `replace_served_model: true` to judge another request"
        )


def prompt_pipeline(registry: Registry, name: str, eval_key: str | None) -> Path:
    """The pipeline of prompt `name`, or after a `git mv` the one its former name had (the history is
    read only when its own name has none)."""
    from plg.errors import NoPipeline
    from plg.evals.config import find_pipeline

    try:
        return find_pipeline(registry.root, name, eval_key, None)
    except NoPipeline:
        former = registry.former_names(name) if (registry.root / registry.prompt_path(name)).is_file() else []
        if not former:
            raise
        return find_pipeline(registry.root, name, eval_key, None, former)


def _require_messages(prompt: PromptVersion) -> None:
    """An empty template renders no message: every row would go to the model with nothing to answer."""
    if not prompt.file.sections:
        raise BadInput(f"{prompt.file.where}: the template is empty: there is no message to send")


def plan_eval(registry: Registry, request: EvalRequest) -> PlannedEval:
    from plg.evals.config import load_pipeline
    from plg.evals.datasets import check_columns, dataset_hash
    from plg.evals.scorers import build_scorers

    prompt = resolve_prompt(registry, request.spec) if request.spec else None
    if prompt is None and request.pipeline is None:
        raise BadInput("give a prompt name or --pipeline FILE")
    path = request.pipeline
    if path is None and prompt is not None:
        path = prompt_pipeline(registry, prompt.name, prompt.front.eval)
    assert path is not None
    loaded = load_pipeline(path)
    config = loaded.config
    if prompt is None and config.prompt:
        prompt = resolve_prompt(registry, config.prompt)
    if (
        prompt is not None
        and config.prompt
        and split_ref(config.prompt)[0] != prompt.name
        and split_ref(config.prompt)[0] not in registry.known_as(prompt.name)  # renamed with `git mv`
    ):
        raise BadInput(f"{path}: this pipeline belongs to prompt '{config.prompt}', not '{prompt.name}'")
    for model in request.models:
        if not model or any(c.isspace() for c in model):
            raise BadInput(f"--model {model!r} is not a model name (one word, such as gpt-4o-mini or plg/offline)")
    choice = choose_models(config, prompt.model if prompt else None, tuple(request.models))
    if request.decided_only:
        choice = ModelChoice(choice.decides, choice.decides, choice.replaced)
    if not choice.models and request.outputs is None:
        raise BadInput(f"{path}: no model: set `models:` or pass --model")
    if not config.scorers:
        raise BadInput(
            f"{path}: no scorers: an eval that scores nothing judges nothing "
            "(add one under `scorers:`, or run the prompt over the dataset with plg batch)"
        )
    if prompt is not None:
        _require_messages(prompt)
        check_request_params(prompt.params, prompt.file.where, registry.root)
        if request.outputs is None:
            _require_served_request(prompt, config, path)
    datasets = loaded.datasets
    row_count = 0
    for dataset in datasets:
        if not dataset.is_file():
            what = "is not a file" if dataset.exists() else "does not exist"
            raise BadInput(f"{path}: dataset {dataset} {what}")
        needed = required_columns(prompt) if prompt is not None else {"messages"}
        if request.outputs is not None:
            needed = set()
        inputs = prompt.file.front.inputs if prompt is not None and request.outputs is None else None
        count = check_columns(dataset, needed, prompt.name if prompt else str(path), inputs)
        row_count += count
        if count == 0:
            raise BadInput(f"{path}: dataset {dataset} has no rows: there is nothing to judge")
    name = prompt.name if prompt else path.stem
    if request.outputs is not None:
        from plg.evals.outputs import custom_spec, load_outputs

        label = f"outputs:{request.outputs.name}"
        choice = ModelChoice((label,), (label,), False)
        spec = custom_spec(
            loaded,
            load_outputs(request.outputs),
            name=name,
            served_model=prompt.model if prompt else None,
            label=choice.models[0],
            datasets=datasets,
            dataset_hashes=tuple(dataset_hash(d) for d in datasets),
            prompt=prompt,
            concurrency=request.concurrency,
            pipeline_path=_relative(registry.root, path),
            identity_extra=dataset_hash(request.outputs),
        )
    else:
        judge = loaded.default_judge(prompt.model if prompt else None)
        spec = EvalSpec(
            name=name,
            kind="eval" if prompt else "completion",
            prompt=prompt,
            datasets=datasets,
            dataset_hashes=tuple(dataset_hash(d) for d in datasets),
            models=choice.models,
            params={**(prompt.params if prompt else {}), **(config.params or {})},
            scorers=tuple(build_scorers(config.scorers, loaded, judge)),
            concurrency=request.concurrency or loaded.concurrency,
            repeats=request.repeats or config.repeats,
            pipeline_path=_relative(registry.root, path),
            pipeline_hash=loaded.content_hash,
            base_dir=loaded.base_dir,
        )
    spec = replace(spec, row_count=row_count)
    threshold = config.threshold
    return PlannedEval(
        spec=spec,
        min_score=threshold.min_score if threshold else None,
        min_pass_rate=threshold.min_pass_rate if threshold else None,
        timeout=config.timeout,
        pipeline=loaded,
        decides=choice.decides,
        served_model=prompt.model if prompt else None,
        replaced=choice.replaced,
        max_error_rate=threshold.max_error_rate if threshold else None,
    )


def plan_batch(
    registry: Registry, spec: str, dataset: Path, models: tuple[str, ...], concurrency: int
) -> EvalSpec:
    from plg.evals.datasets import check_columns, dataset_hash

    prompt = resolve_prompt(registry, spec)
    _require_messages(prompt)
    check_request_params(prompt.params, prompt.file.where, registry.root)
    if not dataset.is_file():
        raise BadInput(f"--dataset {dataset}: no such file")
    row_count = check_columns(dataset, required_columns(prompt), prompt.name, prompt.file.front.inputs)
    if row_count == 0:
        raise BadInput(f"--dataset {dataset}: no rows")
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
        row_count=row_count,
    )


def _relative(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)
