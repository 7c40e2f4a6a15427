"""A prompt file's bytes, and those bytes as text, read the same way by every command and the SDK.

Kept apart from `prompt` (which imports pydantic and Jinja2): `plg show` and `plg list` read text on their
fast path too.
"""

from __future__ import annotations

import os
from pathlib import Path

from plg.errors import NotFound, PromptFileError

_BOM = b"\xef\xbb\xbf"


def prompt_text(data: bytes, where: str) -> str:
    """Editors on Windows start a file with a byte-order mark, which hid the front matter's opening `---`
    (the front matter was then sent to the model as text); bytes that are not UTF-8 reached the model as
    U+FFFD and NUL bytes as they were. Both are refused, naming the line."""
    data = data.removeprefix(_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise PromptFileError(f"{where}, line {line}: not UTF-8 text ({err.reason})") from None
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise PromptFileError(f"{where}, line {line}: contains NUL bytes (save the file as UTF-8 text)")
    return text


def working_bytes(root: Path, path: str, real_dirs: dict[str, str] | None = None) -> bytes:
    """The work tree's file at `path` (relative to `root`), read only if it resolves inside the repository:
    a prompt that is a symbolic link to `~/.ssh/id_rsa`, or under a linked folder, would otherwise be
    rendered and sent to a model by whoever checks out the branch that added it. `real_dirs` carries the
    folders already resolved from one call to the next (`plg list` reads every prompt: resolving each
    path whole cost it ~10 ms on 200 prompts); only a file that is itself a link is resolved on its own."""
    file_path = root / path
    memo = {} if real_dirs is None else real_dirs
    try:
        real_root = memo.get("") or memo.setdefault("", os.path.realpath(root))
        parent = str(file_path.parent)
        real_parent = memo.get(parent) or memo.setdefault(parent, os.path.realpath(parent))
        if os.path.islink(file_path):
            resolved = os.path.realpath(file_path)
        else:
            resolved = os.path.join(real_parent, file_path.name)
    except (OSError, ValueError) as err:
        raise PromptFileError(f"{path}: cannot follow its links ({err})") from None
    if not resolved.startswith(real_root.rstrip(os.sep) + os.sep):
        raise PromptFileError(
            f"{path} leads to {resolved}, outside the repository: a prompt is read only from inside it"
        )
    try:
        return file_path.read_bytes()
    except OSError as err:
        raise NotFound(f"{path}: cannot read it ({err.strerror})") from None
