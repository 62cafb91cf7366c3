"""The checks' network edge: names resolved once through the configured resolver, every
address judged by safety.py, and connections opened to exactly the address judged.

Nothing here resolves a name twice or lets the system resolver pick an address: what is
judged is what is connected to (no time-of-check/time-of-use gap for DNS rebinding).
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from ipaddress import ip_address

import dns.exception
import dns.resolver
from dns.rdatatype import RdataType

from mailtickets.assistant.safety import Network, Verdict, judge
from mailtickets.assistant.settings import ChecksSettings


class Refused(Exception):
    """Every address of the target is one the checks may not connect to."""

    def __init__(self, target: str, verdict: Verdict) -> None:
        super().__init__(f"{target}: {verdict.reason}")
        self.target = target
        self.verdict = verdict


class Unresolved(Exception):
    """The name has no address, or the resolver did not say."""


class Resolver:
    """dnspython pointed at `[checks] resolvers` (the system's resolv.conf when empty), with
    a cache shared by the checks of one run."""

    def __init__(self, settings: ChecksSettings) -> None:
        self._resolver = dns.resolver.Resolver(configure=not settings.resolvers)
        if settings.resolvers:
            self._resolver.nameservers = list(settings.resolvers)
        self._resolver.port = settings.resolver_port
        self._resolver.cache = dns.resolver.Cache()

    @property
    def where(self) -> str:
        """The servers asked, for the findings: "127.0.0.1:53"."""
        servers = ", ".join(str(s) for s in self._resolver.nameservers)
        return f"{servers}:{self._resolver.port}"

    def query(self, name: str, rdtype: str, timeout: float) -> list[str]:
        """The records of `name` (text form); [] when it exists without them. Raises
        dns.resolver.NXDOMAIN, or dns.exception.DNSException when the servers fail."""
        answer = self._resolver.resolve(
            name, RdataType.make(rdtype), lifetime=max(timeout, 0.01), raise_on_no_answer=False
        )
        return [record.to_text() for record in answer]

    def addresses(self, host: str, timeout: float) -> list[str]:
        """The IPv4 then IPv6 addresses of `host` (an address stands for itself)."""
        if _is_address(host):
            return [host]
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                found += self.query(host, rdtype, timeout)
            except dns.resolver.NXDOMAIN as exc:
                raise Unresolved(f"{host} does not exist (NXDOMAIN)") from exc
            except dns.exception.DNSException as exc:
                if not found and rdtype == "AAAA":
                    raise Unresolved(f"{host}: {exc}") from exc
        if not found:
            raise Unresolved(f"{host} has no A or AAAA record")
        return found


@dataclass(frozen=True)
class Guard:
    """Where the checks may connect: the resolver they use and the allowed networks."""

    resolver: Resolver
    allow: tuple[Network, ...]

    def allowed_addresses(self, host: str, timeout: float) -> list[str]:
        """The addresses of `host` a check may connect to, in resolver order; Refused when
        there are addresses but none allowed, Unresolved when there are none."""
        verdicts = [judge(a, self.allow) for a in self.resolver.addresses(host, timeout)]
        allowed = [v.address for v in verdicts if v.allowed]
        if not allowed:
            raise Refused(host, verdicts[0])
        return allowed

    def connect(self, host: str, port: int, timeout: float) -> tuple[socket.socket, str]:
        """A TCP connection to an allowed address of `host`, and that address."""
        error: OSError = OSError(f"no address of {host} answered")
        for address in self.allowed_addresses(host, timeout):
            try:
                # An address literal: create_connection resolves nothing more.
                return socket.create_connection((address, port), timeout=timeout), address
            except OSError as exc:
                error = exc
        raise error


def tls_context(settings: ChecksSettings, verify: bool = True) -> ssl.SSLContext:
    """The context a check opens TLS with: the site's CA file or the system's, and when not
    `verify` one that accepts any certificate (to read a broken one's dates and names)."""
    context = ssl.create_default_context(cafile=settings.ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _is_address(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True
