"""What a domain a workspace may add is, written once: a host name under a registrable domain
of the public suffix list (``go.brand.com``, ``brand.co.uk``), never an IP address, a public
suffix itself (``co.uk``, ``github.io``) or one of the platform's own hosts. Names are kept in
ASCII (IDNA 2008 punycode) and shown with their Unicode form beside it."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import idna
from publicsuffixlist import PublicSuffixList

from qrplatform.errors import ServiceError

MAX_NAME = 253
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class InvalidName(ServiceError):
    status = 422
    code = "validation_error"

    def __init__(self, message: str):
        super().__init__(message, field="name")


@dataclass(frozen=True)
class DomainName:
    name: str          # ASCII: go.xn--bcher-kva.example
    unicode: str       # as people read it: go.bücher.example
    registrable: str   # the part a registrar sells: xn--bcher-kva.example

    @property
    def is_apex(self) -> bool:
        """The registrable domain itself, where DNS allows no CNAME."""
        return self.name == self.registrable

    @property
    def label(self) -> str:
        return self.name if self.unicode == self.name else f"{self.unicode} ({self.name})"


@cache
def _suffixes() -> PublicSuffixList:
    # The list shipped in the package (kept current by its releases); unknown TLDs refused.
    return PublicSuffixList(accept_unknown=False)


def display(name: str) -> str:
    """The Unicode form of an ASCII name (the name itself when it is not an IDN)."""
    try:
        return idna.decode(name)
    except idna.IDNAError:
        return name


def label(name: str) -> str:
    shown = display(name)
    return name if shown == name else f"{shown} ({name})"


def _ascii(text: str) -> str:
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidName(f"{text} is not a valid domain name ({exc}).") from exc


def parse(text: str, reserved: Iterable[str] = ()) -> DomainName:
    """A name people typed, checked: raises ``InvalidName`` saying what to change."""
    raw = (text or "").strip().rstrip(".")
    if not raw:
        raise InvalidName("Type the domain, such as go.brand.com.")
    if "://" in raw or "/" in raw or "@" in raw or " " in raw:
        raise InvalidName("Type just the domain, such as go.brand.com: no https://, path or "
                          "spaces.")
    if raw.startswith("[") or _is_ip(raw):
        raise InvalidName("An IP address cannot be a custom domain; use a name such as "
                          "go.brand.com.")
    if ":" in raw:
        raise InvalidName("Type the domain without a port.")
    if "*" in raw:
        raise InvalidName("Wildcards are not supported; add each domain by its name.")
    name = _ascii(raw).lower()
    if len(name) > MAX_NAME or not all(LABEL.match(part) for part in name.split(".")):
        raise InvalidName(f"{raw} is not a valid domain name: letters, digits and hyphens, "
                          "labels of at most 63 characters.")
    registrable = _suffixes().privatesuffix(name)
    if registrable is None:
        if _suffixes().publicsuffix(name) == name:
            raise InvalidName(f"{raw} is a public suffix that nobody owns; add a domain "
                              "under it, such as go.brand.com.")
        raise InvalidName(f"{raw} does not end in a known top-level domain.")
    for own in reserved:
        own_registrable = _suffixes().privatesuffix(own) or own
        for taken in {own, own_registrable}:
            if name == taken or name.endswith("." + taken):
                raise InvalidName(f"{raw} belongs to the platform itself; add a domain of "
                                  "your own.")
    return DomainName(name=name, unicode=display(name), registrable=registrable)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
