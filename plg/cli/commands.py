"""Which module defines each command, so the root group imports only the module of the command being run
(tests/cli/test_lazy_commands.py checks this map against the commands the modules define)."""

COMMAND_MODULES = {
    "plg.cli.bundle_cmds": ("bundle",),
    "plg.cli.ci_cmds": ("ci", "fetch", "notes"),
    "plg.cli.doctor_cmds": ("doctor",),
    "plg.cli.eval_cmds": ("eval", "batch", "scores"),
    "plg.cli.logs_cmds": ("logs",),
    "plg.cli.registry_cmds": (
        "init", "new", "list", "show", "render", "log", "diff", "lint", "promote", "rollback", "backtest", "labels",
    ),
    "plg.cli.runs_cmds": ("runs",),
    "plg.cli.serve_cmds": ("serve",),
    "plg.cli.view_cmds": ("view",),
}
