"""The text `plg list`, `plg log` and `plg show` print, built without click so that `cli.fast` and the
click commands print exactly the same thing."""

from __future__ import annotations

import json

from plg.cli.table import simple_table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _table(rows: list[list[Any]], headers: list[str]) -> str:
    return (simple_table(rows, headers) if rows else "(none)") + "\n"


def _short(commit: str | None) -> str:
    return commit[:10] if commit else "-"


def list_text(registry: Any) -> str:
    from plg.registry.catalog import catalog

    rows = [
        [
            e.name,
            e.latest or "-",
            "yes" if e.dirty else "",
            ", ".join(f"{k}=v{v}" if v is not None else f"{k}=-" for k, v in e.labels.items()),
            e.model,
            e.description or "",
        ]
        for e in catalog(registry)
    ]
    return _table(rows, ["prompt", "version", "modified", "labels", "model", "description"])


def log_text(registry: Any, name: str) -> str:
    from plg.registry.catalog import version_log

    rows = [
        [
            f"v{e.version.number}",
            _short(e.version.commit),
            e.version.time.strftime("%Y-%m-%d %H:%M"),
            e.version.author,
            ", ".join(e.labels),
            e.score or "",
            e.version.subject,
        ]
        for e in version_log(registry, name)
    ]
    return _table(rows, ["version", "commit", "date", "author", "labels", "score", "subject"])


def show_info(registry: Any, spec: str) -> dict[str, Any]:
    from plg.registry.versions import split_ref

    name, ref = split_ref(spec)
    pv = registry.locate(name, ref)
    about = registry.summary(pv)
    return {
        "name": pv.name,
        "version": pv.version,
        "commit": pv.commit,
        "blob": pv.blob,
        "label": pv.label,
        "path": pv.path,
        "model": about.model,
        "params": about.params,
        "inputs": about.inputs,
        "description": about.description,
        "eval": about.eval,
        "template": about.template,
    }


def show_text(info: dict[str, Any]) -> str:
    name, version, label = info["name"], info["version"], info["label"]
    ref_text = f"{name}@{version}" if version is not None else f"{name} (working tree)"
    lines = [ref_text + (f"  [{label}]" if label else ""), f"commit:  {info['commit'] or '(uncommitted)'}"]
    params = info["params"]
    lines.append(f"model:   {info['model']}  {json.dumps(params) if params else ''}".rstrip())
    if info["description"]:
        lines.append(f"about:   {info['description']}")
    for key, spec in info["inputs"].items():
        default, described = spec.get("default"), spec.get("description")
        extra = f" = {default!r}" if default is not None else ""
        lines.append(f"input:   {key} ({spec.get('type', 'any')}){extra}" + (f" - {described}" if described else ""))
    lines += ["", info["template"].rstrip("\n")]
    return "\n".join(lines) + "\n"
