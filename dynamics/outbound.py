"""Which addresses the client may connect to (SPEC N8). Plain Python: no Django here.

The CRM URL and the sign-in authority are typed by a tenant administrator, and the server
connects to them. Without a rule, that is a way into the operator's own network: the
cloud metadata service, the database, an admin interface on loopback. So every address
the client connects to must be a public one, unless the operator allows it:

- refused: loopback, link-local (169.254.0.0/16 with the cloud metadata service,
  fe80::/10), private (10/8, 172.16/12, 192.168/16, fc00::/7, the old fec0::/10), shared
  (100.64/10), multicast, unspecified (0.0.0.0/8, ::) and the reserved and
  special-purpose ranges (documentation, benchmarking, 240/4, broadcast, ::/8 …);
- IPv6 addresses that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
  IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged
  by the IPv4 address they lead to as well;
- IPv4 in the spellings the C library also accepts (``127.1``, ``2130706433``,
  ``0x7f000001``, octal ``0177.0.0.1``, a trailing dot) is read as the address it is;
- a host name is resolved and *every* address it resolves to must be allowed (an
  attacker's name that answers one public and one internal address is refused);
- the operator's allowlist (``OutboundPolicy(allowed=…)``: networks in CIDR notation,
  single addresses, exact host names) overrides the refusal. An allowed host name is
  allowed whatever it resolves to, and is not looked up when a setting is saved.

The check happens where the connection is made (``dynamics/guarded_http.py``): the
client resolves once per connection, checks, and connects to the address it checked, so
a name whose DNS answer changes between the check and the connection (DNS rebinding)
cannot lead it elsewhere.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from dynamics.errors import DestinationRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# How long a save-time look-up may take; the client uses its connect timeout instead.
RESOLVE_TIMEOUT_S = 5.0

# Refusal codes, also the keys of the explanation texts on the Django side.
LOOPBACK = "loopback"
LINK_LOCAL = "link_local"
PRIVATE = "private"
SHARED = "shared"
MULTICAST = "multicast"
UNSPECIFIED = "unspecified"
RESERVED = "reserved"
UNRESOLVABLE = "unresolvable"  # save-time only: the name does not resolve
CODES = (LOOPBACK, LINK_LOCAL, PRIVATE, SHARED, MULTICAST, UNSPECIFIED, RESERVED, UNRESOLVABLE)


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# First match decides the code. Anything else that Python does not count as global is
# refused as RESERVED too, so a range these tables forget is still refused.
_IPV4_CLASSES: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    (UNSPECIFIED, _nets("0.0.0.0/8")),
    (LOOPBACK, _nets("127.0.0.0/8")),
    (LINK_LOCAL, _nets("169.254.0.0/16")),
    (PRIVATE, _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
    (SHARED, _nets("100.64.0.0/10")),
    (MULTICAST, _nets("224.0.0.0/4")),
    (RESERVED, _nets("192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
                     "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4")),
)
_IPV6_CLASSES: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    (UNSPECIFIED, _nets("::/128")),
    (LOOPBACK, _nets("::1/128")),
    (LINK_LOCAL, _nets("fe80::/10")),
    (PRIVATE, _nets("fc00::/7", "fec0::/10")),
    (MULTICAST, _nets("ff00::/8")),
    (RESERVED, _nets("::/8", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20",
                     "64:ff9b:1::/48")),
)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

def normalise_host(host: str) -> str:
    """Lower case, without IPv6 brackets and without the one trailing dot of a FQDN."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    return host


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """IPv4 as the C library's inet_aton reads it — the reading every resolver on the
    machine applies: 1-4 numbers, decimal, octal or hex, the last one filling the remaining
    bytes (``127.1``, ``2130706433``, ``0x7f.1``, ``0177.0.0.1``). ASCII without blanks
    only: inet_aton stops at a blank and would read ``127.0.0.1 x`` as an address."""
    if not host.isascii() or any(c.isspace() for c in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any spelling a resolver would accept, else None."""
    name = normalise_host(host)
    if not name:
        return None
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    return _inet_aton(name)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to: mapped, compatible, NAT64 or 6to4."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return low32
    if address in _NAT64:
        return low32
    return address.sixtofour


def classify(address: IPAddress) -> str | None:
    """The refusal code of ``address`` (ignoring any allowlist), or None if it is public."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        code = classify(embedded)
        if code is not None:
            return code
        if isinstance(address, ipaddress.IPv6Address) and (
                address.ipv4_mapped is not None or address in _NAT64):
            return None  # the connection goes to that public IPv4 address
    table = _IPV4_CLASSES if address.version == 4 else _IPV6_CLASSES
    for code, networks in table:
        if any(address in net for net in networks):
            return code
    if not address.is_global:
        return RESERVED
    return None


Resolver = Callable[[str, int | None, float | None], list[IPAddress]]


def system_resolver(host: str, port: int | None, timeout: float | None) -> list[IPAddress]:
    """``socket.getaddrinfo`` with a time limit (the C resolver has none of its own).
    Raises ``socket.gaierror`` when the name does not resolve or the time runs out."""
    outcome: list[object] = []

    def look_up() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError, ValueError) as exc:  # ValueError: a NUL in the name
            outcome.append(exc)

    worker = threading.Thread(target=look_up, name="dynamics-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise socket.gaierror(socket.EAI_AGAIN, f"resolving {host} took too long")
    result = outcome[0]
    if isinstance(result, ValueError):  # UnicodeError included
        raise socket.gaierror(socket.EAI_NONAME, f"{host!r} is not a valid host name")
    if isinstance(result, OSError):
        raise result
    addresses: list[IPAddress] = []
    assert isinstance(result, list)
    for _family, _type, _proto, _canon, sockaddr in result:
        address = ipaddress.ip_address(str(sockaddr[0]))
        if address not in addresses:
            addresses.append(address)
    return addresses


def resolve_host(host: str, port: int | None, timeout: float | None) -> list[IPAddress]:
    """The look-up every policy uses unless given another; tests replace this function
    (``monkeypatch.setattr(dynamics.outbound, "resolve_host", …)``) to play DNS."""
    return system_resolver(host, port, timeout)


@dataclass(frozen=True)
class OutboundPolicy:
    """The address rule with the operator's allowlist (see the module docstring)."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    resolver: Resolver | None = field(default=None, compare=False)

    @classmethod
    def from_entries(cls, entries: Iterable[str] = (),
                     resolver: Resolver | None = None) -> OutboundPolicy:
        """Entries as an operator writes them: ``10.20.0.0/16``, ``192.0.2.7``,
        ``fd00::/8``, ``crm.intern.example``. Raises ValueError naming a bad entry."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(normalise_host(entry), strict=False))
                continue
            except ValueError:
                pass
            name = normalise_host(entry)
            if "/" in name or not _looks_like_host_name(name):
                raise ValueError(f"{entry!r} is neither a network in CIDR notation nor a "
                                 "host name")
            if parse_ip_literal(name) is not None:
                raise ValueError(f"{entry!r} spells an IP address in an unusual way; write "
                                 "it as a.b.c.d")
            hosts.add(name)
        return cls(tuple(networks), frozenset(hosts), resolver)

    # -- the rule --------------------------------------------------------------------

    def host_allowed(self, host: str) -> bool:
        """True for a host name the operator allows by name."""
        return normalise_host(host) in self.hosts

    def _in_allowlist(self, address: IPAddress) -> bool:
        candidates = [address]
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            candidates.append(embedded)
        return any(a.version == net.version and a in net
                   for a in candidates for net in self.networks)

    def check_address(self, address: IPAddress, host: str, *, resolved: bool) -> None:
        """Raise ``DestinationRefused`` unless ``address`` may be connected to."""
        if self._in_allowlist(address):
            return
        code = classify(address)
        if code is not None:
            raise DestinationRefused(code, host=host, address=str(address), resolved=resolved)

    def resolve(self, host: str, port: int | None = None,
                timeout: float | None = RESOLVE_TIMEOUT_S) -> list[IPAddress]:
        """The addresses to connect to for ``host``, every one of them checked.

        Raises ``DestinationRefused`` for a refused address and ``socket.gaierror`` when
        the name does not resolve (the client reports that as "could not be reached").
        """
        name = normalise_host(host)
        literal = parse_ip_literal(name)
        if literal is not None:
            self.check_address(literal, name, resolved=False)
            return [literal]
        resolver = self.resolver or resolve_host
        addresses = resolver(name, port, timeout)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, f"{name} has no address")
        if not self.host_allowed(name):
            for address in addresses:
                self.check_address(address, name, resolved=True)
        return addresses

    def check_url(self, url: str, timeout: float | None = RESOLVE_TIMEOUT_S) -> None:
        """The save-time check of a URL typed by an administrator: its host must resolve
        and lead only to allowed addresses. A host name the operator allows is not
        looked up. Raises ``DestinationRefused`` (code ``unresolvable`` when the name
        does not resolve) or ValueError for a URL without a host."""
        parts = urlsplit(url.strip())
        host = normalise_host(parts.hostname or "")
        if not host:
            raise ValueError("the URL has no host")
        if self.host_allowed(host):
            return
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError("the URL's port is not a number") from None
        try:
            self.resolve(host, port, timeout)
        except OSError:
            raise DestinationRefused(UNRESOLVABLE, host=host, resolved=True) from None


def _looks_like_host_name(name: str) -> bool:
    labels = name.split(".")
    return bool(name) and len(name) <= 253 and all(
        re.match(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$", label) for label in labels)
