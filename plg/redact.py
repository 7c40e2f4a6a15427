"""Secret scrubbing for every string plg stores or prints.

Provider libraries have leaked keys in exception text (query-string keys, bearer headers); anything that
writes an error to a log, a run file, a trace, a report or the terminal passes it through here first.
"""

from __future__ import annotations

import os
import re

_SECRET_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?)?key=)[^&\s'\"]+"),
    re.compile(r"(?i)(x-api-key['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+"),
]


def scrub_secrets(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[REDACTED]", text)
    for name, value in os.environ.items():
        if value and len(value) >= 12 and any(t in name.upper() for t in ("KEY", "TOKEN", "SECRET")):
            text = text.replace(value, "[REDACTED]")
    return text
