"""`POST /rest/prompt-templates` (PromptLayer's `templates.publish`) for `plg serve`: a new version goes to
the branch `plg/publish/<name>`, never to the branch being served and never moving a label, so it reaches
production only through a pull request and `plg promote` (the gate).

The commit is built from git objects (blob, trees, commit) on top of the branch, or of HEAD the first time,
and the branch moves by compare-and-swap: the served checkout's work tree, index and HEAD are untouched.
"""

from __future__ import annotations

from typing import Any

from plg.errors import BadInput
from plg.promptlayer import shapes


def _tree_with(store: Any, tree: str | None, parts: list[str], blob: str) -> str:
    """`tree` with the file at `parts` set to `blob` (sub-trees created as needed); the new tree's id."""
    rows: dict[str, str] = {}
    if tree is not None:
        for entry in store.run("ls-tree", "-z", tree).split("\0"):
            if entry:
                meta, name = entry.split("\t", 1)
                rows[name] = meta
    head, rest = parts[0], parts[1:]
    if rest:
        meta = rows.get(head, "").split()
        sub = meta[2] if len(meta) == 3 and meta[1] == "tree" else None
        rows[head] = f"040000 tree {_tree_with(store, sub, rest, blob)}"
    else:
        rows[head] = f"100644 blob {blob}"
    listing = "".join(f"{meta}\t{name}\0" for name, meta in sorted(rows.items()))
    return store.run("mktree", "-z", input=listing).strip()


def publish(service: Any, body: dict[str, Any]) -> dict[str, Any]:
    source = service.source
    if not getattr(source, "has_checkout", False) or not hasattr(source, "registry"):
        raise BadInput("publish needs `plg serve --repo PATH` (a local checkout); it commits to a branch for review")
    fields = {**(body.get("prompt_template") or {}), **(body.get("prompt_version") or {})}
    if not isinstance(fields.get("prompt_template"), dict):
        fields = {**body, **fields}
    if body.get("release_labels"):
        fields["release_labels"] = body["release_labels"]
    name, text, message = shapes.publish_text(fields)
    registry = source.registry
    store = registry.store
    path = registry.prompt_path(name)
    branch = f"refs/heads/plg/publish/{name}"
    if not store.check_ref_format(branch):
        raise BadInput(f"prompt name {name!r} cannot name a branch")
    store.identity()
    old = store.ref_value(branch)
    base = old or store.resolve_commit("HEAD")
    blob = store.run("hash-object", "-w", "--stdin", input=text).strip()
    tree = _tree_with(store, f"{base}^{{tree}}", path.split("/"), blob)
    if tree == store.run("rev-parse", f"{base}^{{tree}}").strip():
        commit = base
    else:
        commit = store.run("commit-tree", tree, "-p", base, "-m", message).strip()
        store.compare_and_swap(branch, commit, old, f"plg serve: publish {name}")
    version = int(store.run("rev-list", "--count", "--first-parent", commit, "--", path).strip() or 0)
    pv = registry.at_commit(name, commit)
    shown = shapes.blueprint(pv, None, commit_message=message)
    return {
        "id": shown["id"], "prompt_name": name, "prompt_version_id": version, "version_number": version,
        "version": version, "commit": commit, "branch": branch.removeprefix("refs/heads/"), "tags": shown["tags"],
        "release_labels": None, "prompt_template": shown["prompt_template"], "metadata": shown["metadata"],
        "commit_message": message, "llm_kwargs": shown["llm_kwargs"],
    }
