"""The door to model providers: completions and embeddings through litellm, the offline model, the cache.

`provider` is the only module in plg that imports litellm, and it does so lazily so that commands calling
no model never pay for it. Retries, timeouts, secret scrubbing and the response cache live here.
Imports only `plg.errors`, `plg.config`, `plg.redact` and `plg.tracing`.
"""
