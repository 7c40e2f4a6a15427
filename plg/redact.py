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


_URL_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/?#@:]*):(?P<password>[^/?#@]*)@")
_URL_SECRET_PARAMS = re.compile(
    r"(?i)(?P<key>(?:^|[?&;])(?:password|passwd|pass|pwd|sslpassword|sslkey|sslcert|sslrootcert|sslcrl|"
    r"passfile|secret|client_secret|token|access_token|auth_token|api_key|apikey|key|sig|signature)=)"
    r"[^&;#]*"
)


def mask_url(url: str) -> str:
    """A URL as plg may print, log or store it: the userinfo password dropped (`user@host`) and the value
    of every credential-like query parameter (`password`, `sslpassword`, `sslkey`, `token`, ...) replaced
    by `[REDACTED]`. Works on text, not a parsed URL, so a malformed one (`postgresql://[::1`) is masked
    too, never raised on. Every place that shows a log location or a remote uses this one function."""
    text = _URL_USERINFO.sub(lambda m: m.group("head") + (m.group("user") + "@" if m.group("user") else ""), url)
    if "?" in text or ";" in text:
        head, sep, query = text.partition("?")
        if sep:
            text = head + sep + _URL_SECRET_PARAMS.sub(lambda m: m.group("key") + "[REDACTED]", query)
    return text


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def mask_urls_in(text: str) -> str:
    """`mask_url` applied to every URL inside a message (git's or a driver's error text, a CLI line)."""
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
