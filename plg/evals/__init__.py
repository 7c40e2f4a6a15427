"""Eval pipelines: config, datasets, scorers, the engine, runs and reports."""
