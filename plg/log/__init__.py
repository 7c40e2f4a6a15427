"""The request log: every request an application makes, kept so real traffic becomes the next backtest.

`records` is one row's shape; `query` the filters `plg logs`, the viewer and exports share; `store` opens
the configured store (`sqlite_log`, the default, the only module here that imports sqlite3;
`postgres_log` with `postgres_schema`, the only psycopg user, behind `writer`'s background queue and its
local spill file); `transfer` copies rows between stores and moves a spill over; `history` is the JSONL
format `plg logs export` writes and backtests replay. Schemas change only through numbered migrations
recorded in the database. Imports tracing and below.
"""
