"""Everything plg keeps in git: prompt files and their templates, versions, labels and recorded scores.

Owns the prompt file format (front matter, role sections, the sandboxed Jinja2 template), version numbering
from first-parent history, `name@ref` resolution, label tags with their move history, and score notes.
`gitstore` (with `gitremote`, its half that talks to remotes) is the only place in plg that runs git. Imports only `plg.errors`, `plg.config`, `plg.redact`.
"""
