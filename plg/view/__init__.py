"""`plg view`: a local web viewer over the repository and its `.plg/` data, and its static export.

Owns the pages (prompts with score trends and label history, eval-run grids, the request log), their
links (served or exported as files), the server-side SVG charts, and the one write action: requests picked
from the log appended to a history dataset. Page data is built from plain library calls so the export needs
no web server; Starlette and uvicorn are imported only by `app.py`. Imports `plg.gate`, `plg.evals`,
`plg.runtime`, `plg.registry` and below; `plg.ci` and `plg.view` do not import each other.
"""
