"""The mail servers of a domain, as the SMTP and TLS checks try them."""

from __future__ import annotations

import dns.exception

from mailtickets.assistant.plugin import CheckContext

MX_HOSTS = 2  # the most preferred ones: the rest are usually backups of the same setup


def mx_hosts(domain: str, ctx: CheckContext) -> list[str]:
    """The domain's MX hosts, most preferred first ([] when none or DNS fails: the DNS
    check reports that); a null MX (RFC 7505) names no host."""
    try:
        records = ctx.resolver.query(domain, "MX", ctx.budget.left(5.0))
    except dns.exception.DNSException:
        return []
    ranked = []
    for record in records:
        weight, _, host = record.partition(" ")
        host = host.rstrip(".").lower()
        if host and weight.isdigit():
            ranked.append((int(weight), host))
    return [host for _, host in sorted(ranked)][:MX_HOSTS]
