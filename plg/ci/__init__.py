"""Continuous integration: what a push or pull request changed, the report, GitHub outputs and comments.

Also scaffolds a repository (`plg init`) with the workflows in `templates/`. Imports `plg.gate`,
`plg.evals` and `plg.registry`; only `plg.cli` sits above it.
"""
