"""Eval pipelines: config, datasets, scorers, the engine, runs, reports and lint.

Runs a prompt version (from `plg.registry`) over rows through `plg.llm`, scores outputs, keeps each run as a
resumable JSONL file and records version scores through `plg.registry.scores`. Imports registry, llm,
tracing and below; never the gate, CI, runtime or CLI.
"""
