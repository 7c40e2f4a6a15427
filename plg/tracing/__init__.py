"""Span trees for eval rows and SDK calls, and their export as OpenTelemetry (OTLP).

The lowest layer after `plg.errors`: the model door records `llm.call` spans here, so tracing imports
nothing else of plg (secret scrubbing comes from `plg.redact`).
"""
