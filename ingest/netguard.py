"""Refuse to fetch from loopback, private, link-local and other non-public
addresses (SSRF): a feed URL, an article link or a redirect could otherwise
make the monitor probe the machine it runs on or its internal network.

Two checks, both needed:

- :func:`check_url` before every request and every redirect hop, so a refusal
  is reported clearly and nothing is sent;
- :class:`GuardedBackend` at connect time, on the addresses actually
  connected to, so a DNS answer that changes between the check and the
  connection (rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore
from httpcore._backends.sync import SyncBackend

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedHost(Exception):
    """The URL points at an address we must not fetch."""

    def __init__(self, host: str, address: str | None, why: str):
        self.host, self.address, self.why = host, address, why
        at = f" ({address})" if address and address != host else ""
        super().__init__(
            f"refused to fetch {host}{at}: {why} address -- allow it with "
            f"NEWSWATCH_ALLOW_PRIVATE_HOSTS if this is intended"
        )


class Allowlist:
    """Hosts and networks the user explicitly allowed (settings.allow_private_hosts)."""

    def __init__(self, spec: str | Iterable[str] = ""):
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        self.hosts: set[str] = set()
        self.networks: list[Network] = []
        for raw in items:
            item = raw.strip().lower().strip("[]")
            if not item:
                continue
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.hosts.add(item.rstrip("."))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".").strip("[]") in self.hosts

    def allows_ip(self, ip: IPAddress) -> bool:
        for candidate in (ip, _embedded_v4(ip)):
            if candidate is None:
                continue
            if any(candidate.version == n.version and candidate in n for n in self.networks):
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self.hosts or self.networks)


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden inside an IPv6 one (mapped, 6to4, Teredo, NAT64)."""
    if ip.version != 6:
        return None
    assert isinstance(ip, ipaddress.IPv6Address)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify(ip: IPAddress) -> str | None:
    """Why *ip* is not a public address, or None if it is.

    An IPv6 address wrapping an IPv4 one (mapped, 6to4, Teredo, NAT64) is
    judged by the IPv4 address it reaches."""
    embedded = _embedded_v4(ip)
    for candidate in ([embedded] if embedded is not None else [ip]):
        if candidate.is_unspecified:
            return "unspecified"
        if candidate.is_loopback:
            return "loopback"
        if candidate.is_link_local:
            return "link-local"
        if candidate.is_multicast:
            return "multicast"
        if candidate.is_private:
            return "private"
        if candidate.is_reserved:
            return "reserved"
        if not candidate.is_global:
            return "non-public"
    return None


def resolve(host: str, port: int | None = None) -> list[IPAddress]:
    """Every address *host* resolves to (numeric forms such as 2130706433 or
    0x7f.1 included: getaddrinfo understands them, and so would the connect)."""
    host = host.strip("[]")
    infos = socket.getaddrinfo(host, port or 80, type=socket.SOCK_STREAM)
    out: list[IPAddress] = []
    for family, _t, _p, _c, sockaddr in infos:
        addr = str(sockaddr[0]).split("%", 1)[0]  # drop IPv6 zone id
        ip = ipaddress.ip_address(addr)
        if ip not in out:
            out.append(ip)
    return out


def check_host(host: str, port: int | None, allow: Allowlist) -> list[IPAddress]:
    """Resolve *host* and raise :class:`RefusedHost` if any address is not
    public and not allowed.  Returns the addresses (all allowed)."""
    if not host:
        raise RefusedHost(host, None, "empty host")
    if allow.allows_host(host):
        return resolve(host, port)
    addrs = resolve(host, port)  # socket.gaierror propagates: a network error, not a refusal
    for ip in addrs:
        why = classify(ip)
        if why and not allow.allows_ip(ip):
            raise RefusedHost(host, str(ip), why)
    return addrs


def check_url(url: str, allow: Allowlist) -> list[IPAddress]:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise RefusedHost(parts.hostname or url, None, f"non-http(s) ({parts.scheme or 'no scheme'})")
    return check_host(parts.hostname or "", parts.port, allow)


class GuardedBackend(SyncBackend):
    """httpcore network backend that checks the address it connects to and
    then connects to exactly that address (no second DNS lookup)."""

    def __init__(self, allow: Allowlist):
        self.allow = allow

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[override]
        try:
            addrs = check_host(host, port, self.allow)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        last: Exception | None = None
        for ip in addrs:
            try:
                return super().connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")


def install_guard(transport: object, allow: Allowlist) -> None:
    """Make an ``httpx.HTTPTransport`` connect through :class:`GuardedBackend`."""
    pool = getattr(transport, "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = GuardedBackend(allow)
