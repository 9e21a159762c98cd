"""What must never leave the process in a log line or an error report.

Log lines and Sentry events both pass through here:

- values under a key that names a secret (``password``, ``token``, ``authorization``,
  ``cookie``, ``secret``, ``dsn``, ...) are replaced whole;
- inside every other string, Bearer credentials, our API tokens (``qrp_…``), passwords in URLs
  (``scheme://user:secret@host``) and IPv4/IPv6 addresses are masked;
- for error reports (``emails=True``) e-mail addresses are masked too. Log lines keep them:
  the embedded e-mail backend writes messages to the log on purpose.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

# Substrings of a key (lower-cased, "-" read as "_") whose value is a secret as a whole.
SECRET_KEY_PARTS = (
    "password", "passwd", "secret", "token", "authorization", "cookie", "session", "csrf",
    "api_key", "apikey", "private_key", "credential", "dsn", "signature",
)
# Keys whose value is a network address or contact detail, masked in error reports.
PERSONAL_KEYS = {"email", "e_mail", "ip", "ip_address", "remote_addr", "x_forwarded_for",
                 "x_real_ip", "client_ip"}

_BEARER = re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE)
_API_TOKEN = re.compile(r"\bqrp_[A-Za-z0-9_-]{32,}")  # 43 characters: never a module name
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+):[^\s@/]+@")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)"
                   r"(?![\w.])")
# Full eight-group addresses, and compressed ones (with "::"); times like 08:04:42 stay.
_IPV6 = re.compile(
    r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?)"
    r"(?![\w:])"
)


# One pass telling whether any of the masks above could apply: most strings (a route, a
# request id, a message) hold none, and every log line goes through here.
_ANY_MASKED = re.compile("|".join(
    f"(?i:{pattern.pattern})" if pattern.flags & re.IGNORECASE else f"(?:{pattern.pattern})"
    for pattern in (_BEARER, _API_TOKEN, _URL_PASSWORD, _IPV6, _IPV4)))


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    normalised = key.lower().replace("-", "_")
    return any(part in normalised for part in SECRET_KEY_PARTS)


def redact_text(text: str, *, emails: bool = False) -> str:
    if not emails and _ANY_MASKED.search(text) is None:
        return text
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _API_TOKEN.sub(REDACTED, text)
    text = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)
    if emails:
        text = _EMAIL.sub(REDACTED, text)
    text = _IPV6.sub(REDACTED, text)
    return _IPV4.sub(REDACTED, text)


def redact(value: Any, *, emails: bool = False, _depth: int = 0) -> Any:
    """A copy of ``value`` (dicts, lists, strings, anything JSON-like) with secrets masked."""
    if _depth > 30:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value, emails=emails)
    if value is None or isinstance(value, int | float):  # most fields of a log line
        return value
    if isinstance(value, dict | Mapping):
        cleaned = {}
        for key, item in value.items():
            name = str(key)
            if is_secret_key(name) or (emails and name.lower() in PERSONAL_KEYS):
                cleaned[key] = REDACTED if item not in (None, "", {}, []) else item
            else:
                cleaned[key] = redact(item, emails=emails, _depth=_depth + 1)
        return cleaned
    if isinstance(value, list | tuple):
        return type(value)(redact(item, emails=emails, _depth=_depth + 1) for item in value)
    return value
