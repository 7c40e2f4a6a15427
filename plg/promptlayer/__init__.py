"""PromptLayer compatibility: PromptLayer's API over a git registry, in process and over HTTP.

`shapes` builds PromptLayer's request and response shapes (templates, blueprints, metadata) once, for
every surface; `sync_client` and `async_client` are the in-process `PromptLayer`/`AsyncPromptLayer`
skins over `plg.runtime.Client`; `errors` holds PromptLayer's error classes. Imports runtime, log,
registry and below.
"""
