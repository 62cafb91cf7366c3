"""DNS of each domain: addresses, MX, NS, SPF and DMARC, asked of the configured resolver."""

from __future__ import annotations

from collections.abc import Iterator

import dns.exception
import dns.resolver

from mailtickets.assistant.findings import Facts, Finding, Severity
from mailtickets.assistant.plugin import Check, CheckContext
from mailtickets.assistant.safety import judge
from mailtickets.assistant.targets import Targets

NAME = "dns"
STEP = 5.0


def run(targets: Targets, ctx: CheckContext) -> Iterator[Finding]:
    for domain in targets.domains:
        yield from _domain(domain.name, ctx)


def _domain(name: str, ctx: CheckContext) -> Iterator[Finding]:
    answers: dict[str, list[str]] = {}
    for rdtype, owner in (("A", name), ("AAAA", name), ("MX", name), ("NS", name)):
        looked = f"{rdtype} {owner} @ {ctx.resolver.where}"
        try:
            answers[rdtype] = ctx.resolver.query(owner, rdtype, ctx.budget.left(STEP))
        except dns.resolver.NXDOMAIN:
            yield _found(name, "problem", "dns_nxdomain", looked, "NXDOMAIN")
            return
        except dns.exception.Timeout as exc:  # the resolver is silent: asking more waits more
            yield _failed(name, rdtype, looked, exc)
            return
        except dns.exception.DNSException as exc:
            yield _failed(name, rdtype, looked, exc)
            answers[rdtype] = []
    yield from _addresses(name, answers["A"] + answers["AAAA"], ctx)
    yield from _listed(name, "MX", answers["MX"], ctx)
    yield from _listed(name, "NS", answers["NS"], ctx)
    yield from _policy(name, "SPF", name, "v=spf1", ctx)
    yield from _policy(name, "DMARC", f"_dmarc.{name}", "v=DMARC1", ctx)


def _addresses(name: str, found: list[str], ctx: CheckContext) -> Iterator[Finding]:
    looked = f"A/AAAA {name} @ {ctx.resolver.where}"
    seen = ", ".join(found) or "no records"
    if not found:
        yield _found(name, "warning", "dns_no_address", looked, seen)
        return
    # A customer's public name pointing into a private range is a mistake (the world cannot
    # reach it), unless it is a range the site allows: then it is the site's own network.
    hidden = [a for a in found if not judge(a, ctx.settings.allow_networks).allowed]
    facts = {"addresses": ", ".join(hidden or found)}
    if hidden:
        yield _found(name, "warning", "dns_private_address", looked, seen, facts)
    else:
        yield _found(name, "ok", "dns_address", looked, seen, facts)


def _listed(name: str, rdtype: str, found: list[str], ctx: CheckContext) -> Iterator[Finding]:
    looked = f"{rdtype} {name} @ {ctx.resolver.where}"
    code = rdtype.lower()
    if not found:
        severity: Severity = "problem" if rdtype == "MX" else "warning"
        yield _found(name, severity, f"dns_no_{code}", looked, "no records")
        return
    hosts = ", ".join(sorted(found, key=_preference))
    yield _found(name, "ok", f"dns_{code}", looked, hosts, {"hosts": hosts})


def _policy(name: str, kind: str, owner: str, prefix: str, ctx: CheckContext) -> Iterator[Finding]:
    """SPF at the domain, DMARC at _dmarc.<domain>: TXT records starting with `prefix`."""
    looked = f"TXT {owner} @ {ctx.resolver.where}"
    code = kind.lower()
    try:
        texts = [_txt(r) for r in ctx.resolver.query(owner, "TXT", ctx.budget.left(STEP))]
    except dns.resolver.NXDOMAIN:
        texts = []
    except dns.exception.DNSException as exc:
        yield _failed(name, f"TXT {owner}", looked, exc)
        return
    records = [t for t in texts if t.lower().startswith(prefix.lower())]
    seen = " | ".join(texts) or "no TXT records"
    if not records:
        yield _found(name, "warning", f"dns_no_{code}", looked, seen)
    elif len(records) > 1:
        yield _found(name, "problem", f"dns_many_{code}", looked, seen, {"count": len(records)})
    else:
        yield _found(name, "ok", f"dns_{code}", looked, seen, {"record": records[0]})


def _txt(record: str) -> str:
    """A TXT record's strings joined, as SPF and DMARC read them (RFC 7208 §3.3)."""
    parts = record.split('" "')
    return "".join(parts).strip('"')


def _preference(mx: str) -> tuple[int, str]:
    weight, _, host = mx.partition(" ")
    return (int(weight), host) if weight.isdigit() else (0, mx)


def _failed(name: str, rdtype: str, looked: str, exc: Exception) -> Finding:
    error = str(exc) or type(exc).__name__
    return _found(name, "warning", "dns_failed", looked, error, {"rdtype": rdtype, "error": error})


def _found(
    name: str,
    severity: Severity,
    code: str,
    looked: str,
    seen: str,
    facts: Facts | None = None,
) -> Finding:
    return Finding(NAME, name, severity, code, looked, seen, facts or {})


CHECK = Check(NAME, "A/AAAA, MX, NS, SPF and DMARC of each domain", run)
