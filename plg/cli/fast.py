"""`plg list`, `plg log NAME` and `plg show NAME[@REF]` without click.

These are the commands people run most and expect back as fast as `git log`; importing click and the
command modules is a third of their time. Given exactly those words (no option, which the full CLI owns),
they print `cli.views`' text and map a PlgError to its exit code as `plg.cli.main` does; anything else,
and any other failure, goes to the full CLI, which runs the (read-only) command again and reports it.
"""

from __future__ import annotations

import sys
import types

ARGUMENTS = {"list": 0, "log": 1, "show": 1}


class _DeferredInspect(types.ModuleType):
    """`inspect` until something reads from it, then the real module.

    `dataclasses` imports inspect, and with it ast, dis and tokenize (~4 ms, a tenth of `plg log`), only
    to write a signature into the docstring of a class that has none; plg's value classes have
    docstrings, so these commands never need it. Any attribute read imports the real module, and this
    stand-in then holds the real module's names, so whoever imported it sees inspect itself."""

    def __getattr__(self, attr: str) -> object:
        if sys.modules.get("inspect") is self:
            del sys.modules["inspect"]
        real = __import__("inspect")
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def _defer_inspect() -> None:
    if "inspect" not in sys.modules and "dataclasses" not in sys.modules:
        sys.modules["inspect"] = _DeferredInspect("inspect")


def run(argv: list[str]) -> int | None:
    """The exit code, or None when the full CLI should run `argv`."""
    if not argv or ARGUMENTS.get(argv[0]) != len(argv) - 1 or any(a.startswith("-") for a in argv):
        return None
    from plg.registry import gitreads

    gitreads.start_ahead(*gitreads.reads_for(argv))
    _defer_inspect()
    try:
        return _run(argv)
    finally:
        gitreads.discard()


def _run(argv: list[str]) -> int | None:
    from plg.errors import PlgError

    try:
        from plg.cli import views
        from plg.registry.versions import Registry

        registry = Registry(".")
        if argv[0] == "list":
            text = views.list_text(registry)
        elif argv[0] == "log":
            text = views.log_text(registry, argv[1])
        else:
            text = views.show_text(views.show_info(registry, argv[1]))
    except PlgError as err:
        sys.stderr.write(f"plg: error: {err.message}\n")
        return err.exit_code
    except Exception:  # noqa: BLE001 - the full CLI reports it
        return None
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return 0
