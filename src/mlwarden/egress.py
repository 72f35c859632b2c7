"""Where the server may connect: public addresses, or hosts the operator allow-listed.

Used for every request the server makes to a URL someone else chose: alert webhooks
(:mod:`mlwarden.alerts.egress`, ``MLWARDEN_ALERTS_ALLOWED_HOSTS``) and proxied versions'
endpoints (:mod:`mlwarden.server.proxy`, ``MLWARDEN_PROXY_ALLOWED_HOSTS``).

A URL names a host; the host resolves to addresses, and a name can resolve to ``127.0.0.1``
as easily as an address can be written ``2130706433`` or ``::ffff:127.0.0.1``. So the check
is on the *resolved* addresses: every one must be public (not loopback, link-local, private,
carrier-grade NAT, multicast, reserved or unspecified, in IPv4 or IPv6, IPv4-mapped and NAT64
forms unwrapped), unless the host or the address is on the operator's allow-list. The request
then goes to the address that was checked (:func:`pinned_request`), not to a second lookup a
rebinding DNS server could answer differently, and redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from mlwarden.errors import EgressRefused, ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped ``::ffff:a.b.c.d``, NAT64, 6to4)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def blocked_reason(ip: IPAddress) -> str | None:
    """Why an address is not a public destination; ``None`` when it is. A wrapped IPv4
    address is judged alone: the wrapper ranges count as "reserved" themselves, and the
    packets end up at the carried address."""
    candidate = _unwrap(ip)
    for attr, what in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    ):
        if getattr(candidate, attr):
            return what
    if not candidate.is_global:
        return "not globally routable"
    return None


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an address when it is written as one, in any form the C library reads
    (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1`` are all ``127.0.0.1``)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not host or not all(c in "0123456789abcdefx." for c in host) or not host[0].isdigit():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (literals in any form ``inet_aton`` reads too)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """A checked destination: the URL, its host, and the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


class EgressPolicy:
    """``allowed``: host names, addresses or networks (``10.0.0.0/8``) the operator lets the
    server reach even though they are not public. ``public=False``: only those, public or not.

    Subclasses name what the requests are for (``what``), the setting that lists the allowed
    hosts (``setting``) and how messages call the URL (``noun``)."""

    what = "request"
    setting = "the allow-list"
    noun = "url"

    def __init__(
        self,
        allowed: Iterable[str] = (),
        resolver: Resolver = system_resolver,
        *,
        public: bool = True,
    ):
        self.public = public
        self.hosts: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allowed:
            entry = entry.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.hosts.add(entry)
        self.resolver = resolver

    def _allowed(self, host: str, ip: IPAddress | None = None) -> bool:
        if host in self.hosts:
            return True
        if ip is None:
            return False
        return any(_unwrap(ip) in net or ip in net for net in self.networks)

    @classmethod
    def split(cls, url: str) -> tuple[str, str, int]:
        """Scheme, host (lower case, no brackets or trailing dot) and port of an http(s) URL."""
        noun = cls.noun
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ValidationError(f"invalid {noun} {url!r}: {exc}", field="url") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(
                f"a {noun} is http:// or https:// with a host, got {url!r}", field="url"
            )
        if parts.username is not None or parts.password is not None:
            raise ValidationError(f"a {noun} carries no user:password@", field="url")
        default = 443 if parts.scheme == "https" else 80
        return parts.scheme, parts.hostname.lower().rstrip("."), port or default

    def check_literal(self, url: str) -> None:
        """What can be said without DNS (at install): a literal address or ``localhost``
        that is not public and not allow-listed is refused."""
        _, host, _ = self.split(url)
        if self._allowed(host):
            return
        if host == "localhost" or host.endswith(".localhost"):
            raise self._refusal(host, "loopback")
        ip = literal_address(host)
        if ip is None:
            return
        reason = blocked_reason(ip) if self.public else "not allow-listed"
        if reason is not None and not self._allowed(host, ip):
            raise self._refusal(host, reason)

    def target(self, url: str) -> Target:
        """Resolve and check ``url``; the address to connect to, or ``EgressRefused``."""
        scheme, host, port = self.split(url)
        try:
            addresses = self.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise EgressRefused(f"cannot resolve {host!r}: {exc}", field="url") from None
        if not addresses:
            raise EgressRefused(f"{host!r} resolves to no address", field="url")
        for text in addresses:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
            reason = blocked_reason(ip) if self.public else "not allow-listed"
            if reason is not None and not self._allowed(host, ip):
                raise self._refusal(host, reason, text)
        return Target(url, scheme, host, port, addresses[0])

    def _refusal(self, host: str, reason: str, address: str | None = None) -> EgressRefused:
        at = f" ({address})" if address and address != host else ""
        return EgressRefused(
            f"{self.what} to {host}{at} refused: {reason} address; list it in "
            f"{self.setting} to allow it",
            field="url",
            host=host,
            reason=reason,
        )


def pinned_request(target: Target) -> tuple[str, dict[str, str], dict[str, str]]:
    """URL with the host replaced by the checked address, the ``Host`` header, and the
    httpx request extensions (TLS server name), so no second lookup happens."""
    parts = urlsplit(target.url)
    ip = ipaddress.ip_address(target.address.split("%", 1)[0])
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{literal}:{target.port}"
    url = parts._replace(netloc=netloc).geturl()
    default = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default else f"{target.host}:{target.port}"
    if ":" in target.host:  # an IPv6 literal host
        host_header = f"[{target.host}]" + ("" if target.port == default else f":{target.port}")
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return url, {"Host": host_header}, extensions
