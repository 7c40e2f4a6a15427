"""The door to model providers: completions and embeddings through litellm, the offline model, the cache.

`door` is the only module in plg that imports litellm, and it does so lazily so that commands calling no
model never pay for it; `provider` makes the calls, with retries, timeouts, secret scrubbing and the
response cache.
Imports only `plg.errors`, `plg.config`, `plg.redact` and `plg.tracing`.
"""
