"""The banner of each domain's mail servers, and whether they offer STARTTLS."""

from __future__ import annotations

from collections.abc import Iterator

from mailtickets.assistant.checks.mx import mx_hosts
from mailtickets.assistant.findings import Facts, Finding, Severity
from mailtickets.assistant.net import Refused, Unresolved
from mailtickets.assistant.plugin import Check, CheckContext, OutOfTime
from mailtickets.assistant.smtp_dialogue import greet
from mailtickets.assistant.targets import Targets

NAME = "smtp"


def run(targets: Targets, ctx: CheckContext) -> Iterator[Finding]:
    for domain in targets.domains:
        hosts = mx_hosts(domain.name, ctx)
        if not hosts:
            yield _found(domain.name, "info", "smtp_no_mx", f"MX {domain.name}", "no MX host")
        for host in hosts:
            yield _probe(host, ctx)


def _probe(host: str, ctx: CheckContext) -> Finding:
    port = ctx.settings.smtp_port
    looked = f"SMTP {host}:{port}"
    try:
        session = greet(ctx.guard, host, port, ctx.settings.ehlo_name, ctx.budget)
    except Refused as refused:
        facts = {"address": refused.verdict.address, "kind": refused.verdict.kind}
        return _found(host, "info", "refused", looked, refused.verdict.reason, facts)
    except (Unresolved, OSError, OutOfTime) as exc:
        error = "no answer in time" if isinstance(exc, TimeoutError | OutOfTime) else str(exc)
        return _found(host, "problem", "smtp_unreachable", looked, error, {"error": error})
    session.close()
    greeting = session.greeting
    seen = f"{greeting.address}: {greeting.code} {greeting.banner}; EHLO: " + (
        " ".join(greeting.keywords) or "no keywords"
    )
    facts = {"banner": f"{greeting.code} {greeting.banner}".strip()}
    if greeting.code != 220:
        return _found(host, "problem", "smtp_rejects", looked, seen, facts)
    if not greeting.starttls:
        return _found(host, "warning", "smtp_no_starttls", looked, seen, facts)
    return _found(host, "ok", "smtp_ok", looked, seen, facts)


def _found(
    target: str, severity: Severity, code: str, looked: str, seen: str, facts: Facts | None = None
) -> Finding:
    return Finding(NAME, target, severity, code, looked, seen, facts or {})


CHECK = Check(NAME, "banner and STARTTLS of each domain's mail servers", run)
