"""International web addresses: what a person typed, the ASCII form a Location header needs
(IDNA host via the ``idna`` library, UTS #46 mapping; percent-encoded UTF-8 path, query and
fragment), and what an editor should show about an IDN host (its punycode, mixed scripts)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import idna

# Characters left as they are: RFC 3986's reserved and unreserved ones, and "%" so that an
# address typed already encoded is not encoded twice.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
# Scripts that are written together in one word without being a trick (Japanese).
_WRITTEN_TOGETHER = ({"Han", "Hiragana", "Katakana", "Latin"},)


class InvalidAddress(ValueError):
    """The host is no valid internationalised domain name."""


def ascii_host(host: str) -> str:
    if host.isascii():
        return host.lower()
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidAddress(f"{host!r} is not a valid domain name ({exc}).") from exc


def ascii_url(url: str) -> str:
    """``url`` as an ASCII URI: what a Location header and every HTTP client can carry."""
    if url.isascii():
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.hostname:
        userinfo, _, hostport = netloc.rpartition("@")
        host, colon, port = hostport.partition(":") if not hostport.startswith("[") else (
            hostport, "", "")
        netloc = ((quote(userinfo, safe=":%") + "@") if userinfo else "") \
            + ascii_host(host) + colon + port
    return urlunsplit((parts.scheme, netloc, quote(parts.path, safe=_PATH_SAFE),
                       quote(parts.query, safe=_QUERY_SAFE),
                       quote(parts.fragment, safe=_QUERY_SAFE)))


def _script(char: str) -> str | None:
    """The script of a letter from its Unicode name (LATIN SMALL LETTER A → Latin)."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    first = name.split(" ", 1)[0]
    return "Han" if first == "CJK" else first.capitalize() or None


@dataclass(frozen=True)
class HostInfo:
    """What an editor shows about an address's host."""

    host: str
    ascii: str
    scripts: tuple[str, ...]  # the scripts of a label that mixes them, else ()

    @property
    def mixed_scripts(self) -> bool:
        return bool(self.scripts)


def host_info(url: str) -> HostInfo | None:
    """For an IDN host: its punycode and whether a label mixes scripts (a homograph such as
    a Cyrillic letter a in an "apple.com" look-alike); None for an ASCII host or an address
    without one."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host or host.isascii():
        return None
    try:
        encoded = ascii_host(host)
    except InvalidAddress:
        return None
    mixed: set[str] = set()
    for label in host.split("."):
        scripts = {s for s in map(_script, label) if s}
        if len(scripts) > 1 and not any(scripts <= allowed for allowed in _WRITTEN_TOGETHER):
            mixed |= scripts
    return HostInfo(host, encoded, tuple(sorted(mixed)))
