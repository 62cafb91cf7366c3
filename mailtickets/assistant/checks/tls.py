"""The certificate of each HTTPS host and of each domain's mail servers (by STARTTLS):
expiry, name match, and whether the chain is trusted, or the verifier's reason why not."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator

from mailtickets.assistant.certs import (
    BadCertificate,
    CertFacts,
    days_between,
    name_matches,
    read_certificate,
)
from mailtickets.assistant.checks.mx import mx_hosts
from mailtickets.assistant.findings import Facts, Finding, Severity
from mailtickets.assistant.net import Refused, Unresolved, tls_context
from mailtickets.assistant.plugin import Check, CheckContext, OutOfTime
from mailtickets.assistant.smtp_dialogue import greet, start_tls
from mailtickets.assistant.targets import Targets

NAME = "tls"
STEP = 10.0
# Opens a TLS connection with the given context, to the given address (a pinned literal).
Handshake = Callable[[ssl.SSLContext, str], ssl.SSLSocket]


def run(targets: Targets, ctx: CheckContext) -> Iterator[Finding]:
    done: set[tuple[str, int]] = set()
    for url in targets.urls:
        if url.scheme == "https" and (url.host, url.port) not in done:
            done.add((url.host, url.port))
            handshake = _direct(url.host, url.port, ctx)
            yield _inspect(url.host, f"TLS {url.host}:{url.port}", handshake, ctx)
    for domain in targets.domains:
        for host in mx_hosts(domain.name, ctx):
            port = ctx.settings.smtp_port
            if (host, port) not in done:
                done.add((host, port))
                yield _inspect(host, f"STARTTLS {host}:{port}", _starttls(host, port, ctx), ctx)


def _direct(host: str, port: int, ctx: CheckContext) -> Handshake:
    def handshake(context: ssl.SSLContext, address: str) -> ssl.SSLSocket:
        sock, _ = ctx.guard.connect(address, port, ctx.budget.left(STEP))
        return _wrap(context, sock, host)

    return handshake


def _starttls(host: str, port: int, ctx: CheckContext) -> Handshake:
    def handshake(context: ssl.SSLContext, address: str) -> ssl.SSLSocket:
        session = greet(ctx.guard, address, port, ctx.settings.ehlo_name, ctx.budget)
        if not session.greeting.starttls:
            session.close()
            raise ConnectionError("the server does not offer STARTTLS")
        try:
            return start_tls(session, host, context, ctx.budget)
        except BaseException:
            session.close()
            raise
        finally:
            session.reader.close()  # the TLS socket reads for itself from here on

    return handshake


def _wrap(context: ssl.SSLContext, sock: socket.socket, host: str) -> ssl.SSLSocket:
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


def _inspect(host: str, looked: str, handshake: Handshake, ctx: CheckContext) -> Finding:
    """Handshake verified; if the certificate is refused, again accepting anything, only
    to read its dates and names. Both go to the one address the guard allowed."""
    try:
        address = ctx.guard.allowed_addresses(host, ctx.budget.left(STEP))[0]
        error = ""
        try:
            der = _certificate(handshake(tls_context(ctx.settings), address))
        except ssl.SSLCertVerificationError as exc:
            error = exc.verify_message or str(exc)
            der = _certificate(handshake(tls_context(ctx.settings, verify=False), address))
        cert = read_certificate(der)
    except Refused as refused:
        verdict = refused.verdict
        facts = {"address": verdict.address, "kind": verdict.kind}
        return _found(host, "info", "refused", looked, verdict.reason, facts)
    except (Unresolved, OSError, OutOfTime, BadCertificate) as exc:
        message = "no answer in time" if isinstance(exc, TimeoutError | OutOfTime) else str(exc)
        return _found(host, "warning", "tls_failed", looked, message, {"error": message})
    return _judge(host, looked, address, cert, error, ctx)


def _certificate(tls: ssl.SSLSocket) -> bytes:
    with tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise BadCertificate("the server sent no certificate")
    return der


def _judge(
    host: str, looked: str, address: str, cert: CertFacts, error: str, ctx: CheckContext
) -> Finding:
    """Expired first (the customer's site or mail is down for everyone), then the wrong
    name, then an untrusted chain; a trusted one expiring soon is a warning."""
    days = days_between(ctx.now, cert.not_after)
    names = ", ".join(cert.names) or cert.subject_cn or "-"
    seen = (
        f"{address}: names {names}; not after {cert.not_after:%Y-%m-%d %H:%M} UTC; "
        f"verification: {error or 'ok'}"
    )
    severity: Severity
    facts: dict[str, str | int] = {"days": abs(days), "names": names, "error": error}
    if cert.not_after <= ctx.now:
        severity, code = "problem", "tls_expired"
    elif not name_matches(host, cert.names or (cert.subject_cn,)):
        severity, code = "problem", "tls_wrong_name"
    elif error:
        severity, code = "problem", "tls_untrusted"
    elif days <= ctx.settings.cert_warning_days:
        severity, code = "warning", "tls_expiring"
    else:
        severity, code = "ok", "tls_ok"
    return _found(host, severity, code, looked, seen, facts)


def _found(
    target: str, severity: Severity, code: str, looked: str, seen: str, facts: Facts
) -> Finding:
    return Finding(NAME, target, severity, code, looked, seen, facts)


CHECK = Check(NAME, "certificate of each HTTPS host and mail server: expiry, name, chain", run)
