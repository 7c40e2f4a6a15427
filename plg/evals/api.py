"""`plg.evaluate`: the custom workflow from Python. Score outputs your own code produced with a pipeline
file or a list of scorer configs; the run is kept like any other and comparable with `plg runs diff`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from plg import config as plg_config
from plg.errors import BadInput
from plg.evals.config import LoadedPipeline, Pipeline, load_pipeline
from plg.evals.datasets import Row
from plg.evals.outputs import Outputs, custom_spec
from plg.evals.runner import RunResult, execute
from plg.evals.runs import new_run_id


def evaluate(
    pipeline_or_scorers: str | Path | Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    outputs: Sequence[str] | Sequence[Mapping[str, Any]],
    *,
    name: str = "custom",
    root: str | Path = ".",
) -> RunResult:
    """`outputs` is either one string per row (same order) or records with the row's id/variables and
    `output`, as in an outputs file."""
    loaded = _loaded(pipeline_or_scorers)
    if not rows:
        raise BadInput("no rows: there is nothing to judge")
    dataset = [Row(index=i, id=str(r.get("id", i)), values=dict(r)) for i, r in enumerate(rows)]
    if outputs and all(isinstance(o, str) for o in outputs):
        if len(outputs) != len(rows):
            raise BadInput(f"{len(outputs)} outputs for {len(rows)} rows: give one output per row")
        records: list[Any] = [
            {"id": row.id, "output": text} for row, text in zip(dataset, outputs, strict=True)
        ]
    else:
        records = [dict(o) for o in outputs]  # type: ignore[arg-type]
    given = Outputs.from_records(records, "outputs")
    digest = hashlib.sha256(
        json.dumps([list(map(dict, rows)), records], sort_keys=True, default=str).encode()
    )
    root_path = Path(root).resolve()
    spec = custom_spec(
        loaded,
        given,
        name=name,
        served_model=_served_model(root_path, loaded),
        dataset_hashes=(digest.hexdigest(),),
        rows=lambda: iter(dataset),
    )
    from plg.evals.session import RunOptions, make_client

    client = make_client(root_path, spec.concurrency, RunOptions(use_cache=True), None)
    try:
        return execute(spec, client, plg_config.runs_dir(root_path), new_run_id(), "plg.evaluate")
    finally:
        client.close()


def _served_model(root: Path, loaded: LoadedPipeline) -> str | None:
    """The model the pipeline's prompt is served on, when the pipeline names one in this repository:
    its judge defaults to it, as in `plg eval NAME --outputs`."""
    if not loaded.config.prompt:
        return None
    from plg.errors import PlgError
    from plg.registry.versions import Registry, split_ref

    try:
        name, ref = split_ref(loaded.config.prompt)
        return Registry(root).resolve(name, ref).model
    except PlgError:
        return None


def _loaded(source: str | Path | Sequence[Mapping[str, Any]]) -> LoadedPipeline:
    if isinstance(source, (str, Path)):
        return load_pipeline(Path(source))
    from pydantic import ValidationError

    try:
        config = Pipeline.model_validate({"dataset": "(in memory)", "scorers": [dict(s) for s in source]})
    except ValidationError as err:
        first = err.errors()[0]
        raise BadInput(f"scorers: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    canonical = json.dumps(config.model_dump(mode="json", by_alias=True), sort_keys=True)
    return LoadedPipeline(
        path=Path("(scorers)"),
        base_dir=Path.cwd(),
        config=config,
        content_hash=hashlib.sha256(canonical.encode()).hexdigest(),
    )
