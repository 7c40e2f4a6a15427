"""The thin click layer: parse arguments, call the library, print, and map PlgError to exit codes here only."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading

from plg.cli.commands import COMMAND_MODULES  # noqa: F401  (re-exported)
from plg.errors import PlgError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

INTERNAL_ERROR = 4


def main(argv: list[str] | None = None) -> None:
    import click

    from plg.cli.common import cli

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        cli.main(args=args, prog_name="plg", standalone_mode=False)
    except PlgError as err:
        if debug:
            import traceback

            traceback.print_exc()
        from plg.redact import mask_urls_in

        click.echo(f"plg: error: {mask_urls_in(err.message)}", err=True)
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("plg: aborted", err=True)
        sys.exit(130)
    except click.UsageError as err:
        command = err.ctx.command_path if err.ctx is not None else "plg"
        message = " ".join(err.format_message().split())
        click.echo(f"plg: error: {message} (see `{command} --help`)", err=True)
        sys.exit(2)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("plg: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as err:
        import errno

        if err.filename is None and not _outside(err):
            _internal_error(err, debug)
        if debug:
            import traceback

            traceback.print_exc()
        # a path the user named that cannot be read is bad input; a full, failing, read-only or size-limited
        # disk is the environment. A write that fails carries no file name: the state directory is named.
        detail = err.strerror or str(err)
        if err.errno in (errno.ENOTDIR, errno.EEXIST):
            detail = "a file stands where a directory is needed"
        if err.errno == errno.EFBIG:
            detail += " (the process's file-size limit, ulimit -f)"
        where = err.filename if err.filename is not None else f"writing under {_state_dir()}"
        click.echo(f"plg: error: {where}: {detail}", err=True)
        sys.exit(3 if _outside(err) else 2)
    except Exception as err:  # noqa: BLE001 - a bug: one line unless --debug
        _internal_error(err, debug)
    sys.exit(0)


def _outside(err: OSError) -> bool:
    import errno

    return err.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def _state_dir() -> str:
    from pathlib import Path

    from plg import config

    try:
        return str(config.state_dir(Path.cwd()))
    except OSError:
        return "the current directory"


def _internal_error(err: Exception, debug: bool) -> NoReturn:
    import click

    if debug:
        import traceback

        traceback.print_exc()
    click.echo(f"plg: internal error: {type(err).__name__}: {err} (rerun with --debug for details)", err=True)
    sys.exit(INTERNAL_ERROR)


def entry() -> None:
    """The `plg` command. `plg list`, `plg log NAME` and `plg show REF` as bare words take `cli.fast`,
    without click. A command that imported litellm would spend one to two seconds more tearing its module
    graph down at interpreter exit, after its work is done and printed: once the exit the interpreter
    would make has run (threads joined, executors shut down, atexit handlers such as the OTLP flush), the
    process leaves without that teardown. `main` stays a plain function for in-process use."""
    from plg.cli import fast

    quick = fast.run(sys.argv[1:])
    if quick is not None:
        sys.exit(quick)
    try:
        main()
        code = 0
    except SystemExit as exit_:
        if "litellm" not in sys.modules or not isinstance(exit_.code, (int, type(None))):
            raise
        code = exit_.code or 0
    threading._shutdown()  # type: ignore[attr-defined]  # what interpreter exit does first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)

