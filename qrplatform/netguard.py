"""Requests to addresses people give us (webhook endpoints, destinations checked for being
broken), guarded against server-side request forgery.

A URL is acceptable when every address its host resolves to is public: no loopback, private,
link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved or
documentation address, IPv4 hidden in IPv6 (mapped, 6to4, Teredo, NAT64) included.
``check_url`` says so when the URL is saved; ``request`` resolves the host again, checks every
address, and connects to the checked address itself (the Host header and the TLS name stay the
host's), so a DNS answer that changes between the check and the connection (DNS rebinding)
cannot send the request inside. Redirects are never followed: a 3xx is the answer.

Settings: ``QRP_NETGUARD_REQUIRE_HTTPS`` (on when QRP_ENVIRONMENT is ``production``) refuses
plain http; ``QRP_NETGUARD_ALLOW_NETWORKS`` lists networks that count as reachable although
private (a test's receiver on 127.0.0.1, an intranet on purpose): empty by default.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app

from qrplatform.errors import ServiceError

MAX_URL_LENGTH = 2000
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RESPONSE_BYTES = 4096
USER_AGENT = "QR-Platform"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# A resolver of the caller's own: host name -> its addresses.
Lookup = Callable[[str], Sequence[str]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedDestination(ServiceError):
    """The URL is refused before any connection: its form, or where its host points."""

    status = 422
    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = "url"):
        super().__init__(message, field=field)


class RequestFailed(Exception):
    """The request did not get an HTTP answer (refused, timed out, TLS failed); the message
    says which, for a delivery log."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and what to send as Host and TLS name."""

    scheme: str
    host: str  # IDNA-encoded, brackets removed from IPv6 literals
    port: int
    path: str  # path and query, never empty
    addresses: tuple[str, ...] = ()

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes  # at most max_response_bytes: a snippet, never the whole answer
    elapsed_ms: int
    address: str
    truncated: bool = False


# -- addresses ---------------------------------------------------------------------------------

def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class Policy:
    """What counts as reachable: ``https_only`` refuses plain http; ``allowed`` networks are
    reachable although private."""

    https_only: bool = False
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_config(cls, config) -> Policy:
        return cls(bool(config.get("QRP_NETGUARD_REQUIRE_HTTPS")),
                   tuple(ipaddress.ip_network(n, strict=False)
                         for n in config.get("QRP_NETGUARD_ALLOW_NETWORKS") or ()))

    @classmethod
    def current(cls) -> Policy:
        """The current app's settings."""
        return cls.from_config(current_app.config)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_public(address: IPAddress | str, allowed=()) -> bool:
    """Whether a request may go to ``address``: a global unicast address (or one inside an
    explicitly allowed network), judged by the IPv4 address hidden inside an IPv6 one."""
    address = ipaddress.ip_address(address)
    if any(address in network for network in allowed):
        return True
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)):
        return is_public(inner, allowed)
    return address.is_global and not address.is_multicast


def _system_lookup(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedDestination(f"{host} does not resolve ({exc.args[-1]}); check the host "
                                 "name.") from exc
    return [info[4][0].split("%", 1)[0] for info in infos]


def resolve(host: str, port: int, policy: Policy | None = None,
            lookup: Lookup | None = None) -> tuple[str, ...]:
    """Every address ``host`` resolves to, each checked; one that is not public refuses the
    whole host (a name answering both a public and a private address is not safe).
    ``lookup(host)`` answers instead of the system's resolver when given (a DNS server of
    the caller's choice)."""
    allowed = (policy or Policy.current()).allowed
    if lookup is not None and not _is_address(host):
        found = lookup(host)
    else:
        found = _system_lookup(host, port)
    addresses = tuple(dict.fromkeys(found))
    if not addresses:
        raise BlockedDestination(f"{host} does not resolve to any address.")
    for address in addresses:
        if not is_public(address, allowed):
            shown = host if host == address else f"{host} resolves to {address}, which"
            raise BlockedDestination(f"{shown} is not a public address (loopback, private, "
                                     "link-local or reserved); use a public host.")
    return addresses


# -- URLs --------------------------------------------------------------------------------------

def _port(parts, scheme: str) -> int:
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise BlockedDestination("The URL's port is not a number from 1 to 65535.") from None
    if not 0 < port < 65536:
        raise BlockedDestination("The URL's port is not a number from 1 to 65535.")
    return port


def _host(parts) -> str:
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BlockedDestination("The URL has no host name.")
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError:
            raise BlockedDestination(f"{host!r} is not a valid host name.") from None


def parse_url(url: str, policy: Policy | None = None) -> Target:
    """The URL's parts, checked for form only (no DNS): http(s), a host, no credentials."""
    https_only = (policy or Policy.current()).https_only
    url = (url or "").strip()
    if not url:
        raise BlockedDestination("Give a URL, such as https://example.com/hooks.")
    if len(url) > MAX_URL_LENGTH:
        raise BlockedDestination(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ord(char) < 33 for char in url):
        raise BlockedDestination("The URL may not contain spaces or control characters.")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedDestination("Use an http:// or https:// URL.")
    if https_only and scheme != "https":
        raise BlockedDestination("Use an https:// URL: plain http is refused here.")
    if parts.username is not None or parts.password is not None:
        raise BlockedDestination("Put no user name or password in the URL; send secrets in "
                                 "the path or query instead.")
    port = _port(parts, scheme)
    host = _host(parts)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port, path)


def check_url(url: str, policy: Policy | None = None, lookup: Lookup | None = None) -> Target:
    """A URL fit to receive requests: its form, then every address of its host. Raises
    ``BlockedDestination`` (a 422 naming the field ``url``) with what to change. ``policy``
    defaults to the current app's settings; ``lookup`` resolves the host instead of the
    system's resolver."""
    policy = policy or Policy.current()
    target = parse_url(url, policy)
    return Target(target.scheme, target.host, target.port, target.path,
                  resolve(target.host, target.port, policy, lookup))


# -- requests ----------------------------------------------------------------------------------

class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to one checked address, speaking to the host by name."""

    def __init__(self, target: Target, address: str, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = address
        self.tls = target.scheme == "https"

    def connect(self):
        # A socket of our own rather than create_connection(), which would resolve again.
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect((self.address, self.port))
        except OSError:
            sock.close()
            raise
        if self.tls:
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self.host)
        # Kept for reading the answer: http.client lets go of ``sock`` once it is handed over.
        self.sock = self.pinned_socket = sock


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.HTTPException):
        return f"not an HTTP answer ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


def request(method: str, url: str, *, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT,
            max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
            policy: Policy | None = None, lookup: Lookup | None = None) -> Response:
    """Send one request to ``url`` after checking it again, connecting to a checked address.

    Raises ``BlockedDestination`` when the URL is refused now (its host points inside), and
    ``RequestFailed`` when no HTTP answer came within ``timeout`` seconds in all. Any HTTP
    answer is returned, 3xx included (redirects are not followed); only the first
    ``max_response_bytes`` of the body are read. ``policy`` defaults to the app's settings;
    ``lookup(host)`` (a list of addresses) replaces the system's resolver.
    """
    target = check_url(url, policy, lookup)
    started = time.monotonic()
    deadline = started + timeout
    last_error: BaseException | None = None
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection = _PinnedConnection(target, address, remaining)
        try:
            connection.request(method, target.path, body=body, headers={
                "User-Agent": USER_AGENT, **(headers or {}), "Host": target.host_header})
            answer = connection.getresponse()
            chunks, size = [], 0
            while size < max_response_bytes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                connection.pinned_socket.settimeout(remaining)
                chunk = answer.read1(max_response_bytes - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return Response(status=answer.status, reason=answer.reason or "",
                            headers={k.lower(): v for k, v in answer.getheaders()},
                            body=b"".join(chunks),
                            elapsed_ms=round((time.monotonic() - started) * 1000),
                            address=address, truncated=size >= max_response_bytes)
        except (OSError, http.client.HTTPException) as exc:
            last_error = exc
            # A refused connection may work on the host's next address; anything after the
            # request went out must not be sent twice.
            if not isinstance(exc, ConnectionRefusedError):
                break
        finally:
            connection.close()
    raise RequestFailed(_describe(last_error, timeout) if last_error
                        else f"no answer within {timeout:g} s")
