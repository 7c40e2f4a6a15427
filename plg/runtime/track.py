"""`client.track.*` and groups: scores, metadata, prompt links and group membership added to logged requests.

Groups need no table: a group id is a random 48-bit integer (unique without coordination between
processes, and an int as PromptLayer's are), stored on each member request as the metadata key
`plg.group_id`, so `plg logs --meta plg.group_id=N` lists a group.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

GROUP_KEY = "plg.group_id"


def new_group_id() -> int:
    return secrets.randbits(48) or 1


class Track:
    """PromptLayer's `track` methods, argument order included, over the client's request log."""

    def __init__(self, log: Any) -> None:
        self._log = log

    def score(self, request_id: str, score: float, score_name: str | None = None, *, name: str | None = None) -> bool:
        self._log().set_score(request_id, score, name=score_name or name)
        return True

    def metadata(self, request_id: str, metadata: Mapping[str, str]) -> bool:
        self._log().set_metadata(request_id, dict(metadata))
        return True

    def prompt(
        self,
        request_id: str,
        prompt_name: str,
        prompt_input_variables: Mapping[str, Any],
        version: int | None = None,
        label: str | None = None,
    ) -> bool:
        self._log().set_prompt(request_id, prompt_name, dict(prompt_input_variables), version=version, label=label)
        return True

    def group(self, request_id: str, group_id: int) -> bool:
        self._log().set_metadata(request_id, {GROUP_KEY: str(group_id)})
        return True


class Group:
    """`client.group.create()`: a new group id to pass to `run(group_id=...)` or `track.group`."""

    def create(self) -> int:
        return new_group_id()
