"""What runs inside applications: the `Client`, its sources, the PromptLayer skin, the request log and the
history format.

The client resolves a version through a source (`sources`: a checkout or a followed git remote;
`bundle`: a lock file), renders it, calls `plg.llm`, and logs the request (`calls`: one request's values,
its log row and plg's response shape); `promptlayer` shapes the same request path as PromptLayer's SDK,
with PromptLayer's error classes in `promptlayer_errors`. The log store (SQLite) is the only module that opens the request
database. `history` is the JSONL format that `plg logs export` writes and backtests replay. Imports
registry, llm, tracing and below.
"""
