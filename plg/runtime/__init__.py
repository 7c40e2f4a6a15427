"""What runs inside applications: the PromptLayer-shaped `Client`, the request log and the history format.

The client resolves a version through `plg.registry`, renders it, calls `plg.llm`, and logs the request;
the log store (SQLite) is the only module that opens the request database. `history` is the JSONL format
that `plg logs export` writes and backtests replay. Imports registry, llm, tracing and below.
"""
