"""What runs inside applications: the `Client` and the sources it serves versions from.

The client resolves a version through a source (`sources`: a checkout or a followed git remote;
`bundle`: a lock file), renders it, calls `plg.llm`, and logs the request through `plg.log` (`calls`: one
request's values, its log row and plg's response shape; `track`: scores, metadata and groups after the
fact; `streams`: `stream=True`). PromptLayer's shapes live above, in `plg.promptlayer`. Imports log,
registry, llm, tracing and below.
"""
