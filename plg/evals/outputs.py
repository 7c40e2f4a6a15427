"""Custom workflows: outputs produced by the user's own code, scored by a pipeline without model calls.

An outputs file is JSONL, one object a row: the row's `id` (or its variables, either as an
`input_variables` object or as top-level keys) and `output`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plg.errors import BadInput
from plg.evals.datasets import Row
from plg.textfiles import text_lines

if TYPE_CHECKING:
    from plg.evals.config import LoadedPipeline
    from plg.evals.spec import EvalSpec


def _key(variables: dict[str, Any], keys: tuple[str, ...]) -> str:
    return json.dumps({k: str(variables.get(k, "")) for k in keys}, sort_keys=True)


@dataclass(frozen=True)
class Outputs:
    by_id: dict[str, str]
    by_variables: dict[tuple[str, ...], dict[str, str]]
    source: str

    def lookup(self, row: Row) -> str | None:
        if row.id in self.by_id:
            return self.by_id[row.id]
        for keys, table in self.by_variables.items():
            found = table.get(_key(row.values, keys))
            if found is not None:
                return found
        return None

    @classmethod
    def from_records(cls, records: list[dict[str, Any]], source: str) -> Outputs:
        by_id: dict[str, str] = {}
        by_variables: dict[tuple[str, ...], dict[str, str]] = {}
        for number, record in enumerate(records, 1):
            if not isinstance(record, dict) or not isinstance(record.get("output"), str):
                raise BadInput(f"{source}, line {number}: each line needs a string 'output'")
            if "id" in record:
                by_id[str(record["id"])] = record["output"]
                continue
            variables = record.get("input_variables")
            if not isinstance(variables, dict):
                variables = {k: v for k, v in record.items() if k != "output"}
            if not variables:
                raise BadInput(f"{source}, line {number}: needs the row's 'id' or its variables")
            keys = tuple(sorted(variables))
            by_variables.setdefault(keys, {})[_key(variables, keys)] = record["output"]
        return cls(by_id, by_variables, source)


def load_outputs(path: Path) -> Outputs:
    records = []
    for number, line in text_lines(path):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except RecursionError:
            raise BadInput(f"{path}, line {number}: not valid JSON (nested too deeply)") from None
        except ValueError as err:
            raise BadInput(f"{path}, line {number}: not valid JSON ({err})") from None
    return Outputs.from_records(records, str(path))


def custom_spec(
    loaded: LoadedPipeline,
    outputs: Outputs,
    *,
    name: str,
    served_model: str | None,
    label: str = "outputs",
    datasets: tuple[Path, ...] = (),
    dataset_hashes: tuple[str, ...] = (),
    rows: Any = None,
    prompt: Any = None,
    concurrency: int | None = None,
    pipeline_path: str | None = None,
    identity_extra: str = "",
) -> EvalSpec:
    """The one way given outputs become a run, for `plg eval --outputs` and `plg.evaluate()` alike: the
    pipeline's own scorers, with the pipeline's own judge (never the outputs' label as a model)."""
    from plg.evals.scorers import build_scorers
    from plg.evals.spec import EvalSpec

    config = loaded.config
    return EvalSpec(
        name=name,
        kind="custom",
        prompt=prompt,
        datasets=datasets,
        dataset_hashes=dataset_hashes,
        models=(label,),
        params={},
        scorers=tuple(build_scorers(config.scorers, loaded, loaded.default_judge(served_model))),
        concurrency=concurrency or loaded.concurrency,
        pipeline_path=pipeline_path or str(loaded.path),
        pipeline_hash=loaded.content_hash,
        base_dir=loaded.base_dir,
        rows=rows,
        outputs=outputs,
        identity_extra=identity_extra,
    )
