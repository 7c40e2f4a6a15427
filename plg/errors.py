"""One exception hierarchy: every failure a user can cause or meet carries a one-line message and an exit code.

The CLI maps these to exit codes in one place (`plg.cli.main`): 0 ok, 1 a refused move or failed
gate/threshold, 2 usage or bad input, 3 an outside failure (provider, remote).
"""

from __future__ import annotations


class PlgError(Exception):
    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(PlgError):
    """The user gave something plg cannot use: a malformed file, an unknown name, a bad flag value."""


class NotARepository(BadInput):
    pass


class PromptFileError(BadInput):
    """A prompt file that does not parse or validate; the message names the file (and line when known)."""


class TemplateError(BadInput):
    """A template that does not compile, or a render that fails (undefined variable, sandbox violation)."""


class RenderBoundExceeded(TemplateError):
    """A render stopped at one of its bounds (time, value size, total work, recursion)."""


class NotFound(BadInput):
    """Unknown prompt, version, label or ref."""


class NoPipeline(NotFound):
    """A prompt with no eval pipeline: CI reports it unevaluated instead of failing it."""


class InvalidName(BadInput):
    """A prompt or label name that git would refuse, or that would be ambiguous."""


class Refused(PlgError):
    """plg declined to act: uncommitted changes, a label that moved underneath us, a failed gate."""

    exit_code = 1


class LabelMoved(Refused):
    pass


class UntrustedLabel(Refused):
    """A label tag plg did not write (lightweight, at a commit no branch holds, or with no readable
    history): never served, never bundled."""


class GateFailed(Refused):
    pass


class ThresholdFailed(Refused):
    pass


class GateUnusable(Refused):
    """A label's gate is empty, unreadable or outside the repository: bad input (exit 2), and a Refused so
    `plg promote --force --reason` may still move the label, recorded as forced."""

    exit_code = 2


class OutsideFailure(PlgError):
    """Something outside plg failed after we did our part: a provider after retries, a remote refusing a push."""

    exit_code = 3


class LogUnavailable(OutsideFailure):
    """The request log's database cannot be reached (PostgreSQL down, refusing, or timing out)."""


class LogStorageError(OutsideFailure):
    """The request log's file cannot be read or written: a full disk, a read-only or unwritable place, a
    file that is not (or no longer) a SQLite database. The message names the file; `path` is it."""

    def __init__(self, message: str, path: str | None = None, corrupt: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.corrupt = corrupt


class GitError(BadInput):
    """git refused a command plg ran on the user's behalf (a bad ref, a missing object, a refused fetch)."""


class GitDiskError(GitError):
    """git could not write or read the repository's files (a read-only or full disk, a file-size limit):
    the environment's failure, not the user's input."""

    exit_code = 3


class PushRejected(OutsideFailure):
    pass


class NotJudged(OutsideFailure):
    """An eval or backtest whose model or judge calls failed after retries: it says nothing about the
    version, so it is neither a pass nor a fail, and it is never recorded as the version's score."""


class ShallowHistory(BadInput):
    """Version numbers counted from a truncated history would be wrong, so plg refuses to count them."""


class ModelCallError(OutsideFailure):
    """A model call that still failed after retries. `request_id` is set when the request was logged."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_class: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_class = error_class
        self.request_id = request_id

    @property
    def outside(self) -> bool:
        """Whether the provider, not the request, is at fault (down, rate limited, refusing the key): such
        a failure says nothing about the prompt. A bad request (400, context window, content policy) does."""
        if self.error_class in _REQUEST_FAULTS:
            return False
        return self.status_code not in (400, 413, 422)


_REQUEST_FAULTS = frozenset(
    {"BadRequestError", "ContextWindowExceededError", "ContentPolicyViolationError", "UnsupportedParamsError"}
)
