"""Which addresses a check may connect to (SPEC §8): only public ones, unless the site's
`allow_networks` covers the address (pure).

An IPv6 address that carries an IPv4 one (mapped ::ffff:0:0/96, NAT64 64:ff9b::/96,
6to4 2002::/16) is judged by the IPv4 address it reaches as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
_NAT64 = ip_network("64:ff9b::/96")
_SHARED = ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class Verdict:
    """allowed, or not and why: `kind` names the range ("loopback", "private"…)."""

    address: str
    allowed: bool
    kind: str = ""  # the forbidden range's kind, or "allowed" / "public"
    reason: str = ""  # "127.0.0.1 is a loopback address" / "allowed by 127.0.0.0/8"


def parse_networks(texts: Iterable[str]) -> tuple[Network, ...]:
    """`allow_networks` from config ("127.0.0.0/8", "::1/128"); ValueError names a bad one."""
    return tuple(ip_network(text.strip(), strict=False) for text in texts)


def judge(address: str | Address, allow: Iterable[Network] = ()) -> Verdict:
    """May a check connect to `address`? Public, or covered by `allow`."""
    ip = ip_address(address) if isinstance(address, str) else address
    allow = tuple(allow)
    reached = _embedded(ip)
    for net in allow:
        if any(a.version == net.version and a in net for a in (ip, *reached)):
            return Verdict(str(ip), True, "allowed", f"allowed by {net}")
    for inner in reached:
        kind = _forbidden_kind(inner)
        if kind:
            return Verdict(str(ip), False, kind, f"{ip} reaches {inner}, {_a(kind)} address")
    kind = _forbidden_kind(ip) if not reached else ""
    if kind:
        return Verdict(str(ip), False, kind, f"{ip} is {_a(kind)} address")
    return Verdict(str(ip), True, "public", f"{ip} is a public address")


def _embedded(ip: Address) -> tuple[IPv4Address, ...]:
    if isinstance(ip, IPv4Address):
        return ()
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip in _NAT64:
        return (IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    return ()


def _forbidden_kind(ip: Address) -> str:
    """The kind of non-public range `ip` is in, or "" for a public address."""
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("shared", isinstance(ip, IPv4Address) and ip in _SHARED),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-global", not ip.is_global),
    )
    return next((kind for kind, hit in checks if hit), "")


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
