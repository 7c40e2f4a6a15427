"""PromptLayer compatibility: PromptLayer's API over a git registry, in process and over HTTP.

`shapes` builds PromptLayer's request and response shapes (templates, blueprints, metadata) once, for
every surface; `sync_client` and `async_client` are the in-process `PromptLayer`/`AsyncPromptLayer`
skins over `plg.runtime.Client`; `errors` holds PromptLayer's error classes. `plg serve` speaks the same
API over HTTP: `service` answers each call (the in-process templates use it too), `server` is the
Starlette door (keys from `access`, OTLP bodies read by `otlp_in`, publishing to a review branch in
`publish`, LiteLLM's prompt API in `litellm_prompts`). Imports runtime, log, registry and below.
"""
