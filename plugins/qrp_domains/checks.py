"""Looking at a domain from outside: who owns it (a TXT record with the workspace's token, or a
token file served over HTTP) and whether it points at us (a CNAME to the platform's target, or
A/AAAA records with its addresses for a root domain). DNS is asked with dnspython, of the
servers in QRP_DNS_RESOLVER or the system's.

Each look gives ``Finding``s that say in plain words what is right, or what is missing or
wrong and what to do; none of them touches the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from qrp_domains.names import DomainName
from qrplatform import netguard

if TYPE_CHECKING:
    import dns.nameserver

TXT_PREFIX = "_qrplatform"
TXT_VALUE = "qrplatform-verification={token}"
HTTP_PATH = "/.well-known/qrplatform-verification.txt"
DNS_TIMEOUT = 5.0
HTTP_TIMEOUT = 5.0
# How long DNS changes may take to be seen, said when a record is missing.
PROPAGATION = "DNS changes can take up to an hour to show."


class DnsUnavailable(Exception):
    """DNS gave no answer (timeout, servers failing): nothing can be concluded."""


@dataclass
class Finding:
    record: str          # TXT, CNAME, A or HTTP
    host: str            # where the record lives (or the URL fetched)
    expected: str        # the value we look for
    ok: bool | None      # None: no answer, nothing concluded
    message: str         # plain words: right, or missing/wrong and what to do
    found: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Look:
    """One look at a domain: ``owned`` and ``pointing`` are None when DNS did not answer."""

    owned: bool | None
    pointing: bool | None
    findings: list[Finding]

    @property
    def conclusive(self) -> bool:
        return self.pointing is not None

    @property
    def problems(self) -> list[str]:
        return [f.message for f in self.findings if not f.ok]


def txt_host(name: str) -> str:
    return f"{TXT_PREFIX}.{name}"


def txt_value(token: str) -> str:
    return TXT_VALUE.format(token=token)


def token_url(name: str, port: int = 80) -> str:
    return f"http://{name}{'' if port == 80 else f':{port}'}{HTTP_PATH}"


class Lookup:
    """DNS questions, asked of ``servers`` ("ip[:port]", comma-separated) or the system's.

    dnspython is imported by the first Lookup (checks run in jobs and a few pages), not with
    the app: it was a twentieth of the app's import time."""

    def __init__(self, servers: str | None = None, timeout: float = DNS_TIMEOUT):
        import dns.resolver

        if servers:
            self.resolver = dns.resolver.Resolver(configure=False)
            self.resolver.nameservers = [_nameserver(s) for s in servers.split(",") if s.strip()]
        else:
            self.resolver = dns.resolver.Resolver()
        self.resolver.lifetime = timeout

    def records(self, name: str, rdtype: str) -> list[str]:
        """The record values of that type at ``name`` (names without their final dot); none
        when the name or the type does not exist; ``DnsUnavailable`` when DNS fails."""
        import dns.exception
        import dns.resolver

        try:
            answer = self.resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers,
                dns.resolver.LifetimeTimeout) as exc:
            raise DnsUnavailable(f"DNS did not answer for {name} ({type(exc).__name__})") from exc
        except dns.exception.DNSException as exc:
            raise DnsUnavailable(f"DNS failed for {name}: {exc}") from exc
        if rdtype == "TXT":
            return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
        return [r.to_text().rstrip(".").lower() for r in answer]

    def addresses(self, name: str) -> list[str]:
        """Every IPv4 and IPv6 address of ``name`` (CNAMEs followed)."""
        return [*self.records(name, "A"), *self.records(name, "AAAA")]


def _nameserver(text: str) -> dns.nameserver.Do53Nameserver:
    import dns.nameserver

    text = text.strip()
    if text.startswith("["):  # [::1]:5353
        host, _, port = text[1:].partition("]:")
        return dns.nameserver.Do53Nameserver(host.rstrip("]"), int(port or 53))
    if text.count(":") == 1:
        host, port = text.split(":")
        return dns.nameserver.Do53Nameserver(host, int(port))
    return dns.nameserver.Do53Nameserver(text, 53)


# -- ownership ---------------------------------------------------------------------------------

def txt_ownership(lookup: Lookup, name: str, token: str) -> Finding:
    host, expected = txt_host(name), txt_value(token)
    try:
        values = lookup.records(host, "TXT")
    except DnsUnavailable as exc:
        return Finding("TXT", host, expected, None, f"{exc}; we will look again.")
    if expected in values:
        return Finding("TXT", host, expected, True,
                       f"The TXT record at {host} holds this workspace's token.", values)
    if not values:
        return Finding("TXT", host, expected, False,
                       f"There is no TXT record at {host} yet. Create one with the value "
                       f"{expected}. {PROPAGATION}", values)
    shown = ", ".join(f"“{v}”" for v in values[:3])
    return Finding("TXT", host, expected, False,
                   f"The TXT record at {host} holds {shown}, not this workspace's token. "
                   f"Change its value to {expected}.", values)


def http_ownership(lookup: Lookup, name: str, token: str, *, port: int = 80,
                   policy: netguard.Policy | None = None) -> Finding | None:
    """The token file, fetched from the domain's web server; None when the name has no
    address at all (no web server to ask: the TXT record's finding says enough)."""
    url = token_url(name, port)
    try:
        if not lookup.addresses(name):
            return None
        answer = netguard.request("GET", url, timeout=HTTP_TIMEOUT, max_response_bytes=1024,
                                  policy=policy, lookup=lookup.addresses)
    except DnsUnavailable as exc:
        return Finding("HTTP", url, token, None, f"{exc}; we will look again.")
    except netguard.BlockedDestination as exc:
        return Finding("HTTP", url, token, False, f"We cannot fetch {url}: {exc.message}")
    except netguard.RequestFailed as exc:
        return Finding("HTTP", url, token, False, f"We could not fetch {url}: {exc}.")
    body = answer.body.decode("utf-8", "replace").strip()
    if answer.status == 200 and body == token:
        return Finding("HTTP", url, token, True, f"{url} serves this workspace's token.",
                       [body[:100]])
    if answer.status != 200:
        return Finding("HTTP", url, token, False,
                       f"{url} answered {answer.status}. Put a file there whose only content "
                       f"is {token}.", [str(answer.status)])
    return Finding("HTTP", url, token, False,
                   f"{url} does not hold the token. Its only content must be {token}.",
                   [body[:100]])


# -- pointing at us ----------------------------------------------------------------------------

def pointing(lookup: Lookup, domain: DomainName, target: str | None,
             addresses: Sequence[str]) -> Finding:
    """Whether ``domain`` sends its visitors to us: a CNAME to ``target``, or only our
    ``addresses`` (the way for a root domain, which DNS allows no CNAME, and for every domain
    when the platform has an address but no host name: ``target`` None)."""
    name = domain.name
    ours = {a.lower() for a in addresses}
    by_address = domain.is_apex or not target
    record, expected = ("A", ", ".join(addresses)) if by_address else ("CNAME", target)
    try:
        cnames = [] if by_address else lookup.records(name, "CNAME")
        if cnames:
            if cnames[0] == target:
                return Finding(record, name, expected, True,
                               f"{name} points at {target} (CNAME).", cnames)
            return Finding(record, name, expected, False,
                           f"{name} points at {cnames[0]} (CNAME), not at us. Change the "
                           f"CNAME's target to {target}.", cnames)
        found = lookup.addresses(name)
    except DnsUnavailable as exc:
        return Finding(record, name, expected, None, f"{exc}; we will look again.")
    if found and ours and set(found) <= ours:
        return Finding(record, name, expected, True,
                       f"{name} has our address{'es' if len(found) > 1 else ''} "
                       f"{', '.join(found)}.", found)
    if not found:
        what = (f"an A record with the value {expected}" if by_address
                else f"a CNAME record pointing at {target}")
        return Finding(record, name, expected, False,
                       f"{name} has no DNS record yet. Create {what}. {PROPAGATION}", found)
    strangers = [a for a in found if a not in ours]
    shown = ", ".join(strangers[:3])
    if by_address:
        return Finding(record, name, expected, False,
                       f"{name} has the address {shown}, which is not ours. Set its A record "
                       f"to {expected} and remove the other A and AAAA records.", found)
    return Finding(record, name, expected, False,
                   f"{name} has the address {shown} (A/AAAA records) and no CNAME to us. "
                   f"Remove those records and create a CNAME pointing at {target}.", found)


def look(domain: DomainName, token: str, *, lookup: Lookup, target: str | None,
         addresses: Sequence[str], owned_already: bool, http_port: int = 80,
         policy: netguard.Policy | None = None) -> Look:
    """Ownership (unless proven before: the TXT record, else the token file; both are
    reported when neither holds the token) and pointing."""
    findings: list[Finding] = []
    owned: bool | None = True
    if not owned_already:
        txt = txt_ownership(lookup, domain.name, token)
        findings.append(txt)
        owned = txt.ok
        http = None if txt.ok else http_ownership(lookup, domain.name, token, port=http_port,
                                                  policy=policy)
        if http is not None:
            findings.append(http)
            if http.ok:
                owned = True
            elif http.ok is None:
                owned = None
    points = pointing(lookup, domain, target, addresses)
    findings.append(points)
    return Look(owned=owned, pointing=points.ok, findings=findings)
