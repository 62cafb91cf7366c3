"""HTTP(S) of each URL: status, the redirect chain followed hop by hop, response time.

Each hop's host is resolved and judged by the guard, and the request goes to that exact
address (the URL's name kept in the Host header and for TLS: SNI and certificate).
Nothing identifying is sent: no cookies kept between hops, no credentials, no proxy or
.netrc from the environment. At most `max_body_bytes` of a body are read.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from mailtickets.assistant.findings import Facts, Finding, Severity
from mailtickets.assistant.net import Refused, Unresolved, tls_context
from mailtickets.assistant.plugin import Check, CheckContext, OutOfTime
from mailtickets.assistant.targets import Targets
from mailtickets.assistant.urls import Url, join

NAME = "http"
STEP = 10.0
SLOW_MS = 3000
USER_AGENT = "mailtickets-checks (support ticket check)"


@dataclass(frozen=True)
class Hop:
    url: Url
    address: str
    status: int
    location: str
    ms: int
    body_bytes: int

    def seen(self) -> str:
        to = f" Location: {self.location}" if self.location else ""
        return f"GET {self.url.text} ({self.address}) -> {self.status}{to}, {self.ms} ms"


class TlsFailure(Exception):
    """The server's certificate was refused; the message says why."""


def run(targets: Targets, ctx: CheckContext) -> Iterator[Finding]:
    for url in targets.urls:
        yield _follow(url, ctx)


def _follow(start: Url, ctx: CheckContext) -> Finding:
    """The final answer of `start`, every redirect followed by us under the guard."""
    hops: list[Hop] = []
    url = start
    while True:
        try:
            hop = _request(url, ctx)
        except Refused as refused:
            return _refused(start, url, hops, refused)
        except (Unresolved, httpx.HTTPError, OSError, OutOfTime) as exc:
            return _unreachable(start, hops, url, exc)
        except TlsFailure as exc:
            return _found(start, "problem", "http_tls_error", hops, str(exc), {"error": str(exc)})
        hops.append(hop)
        target = join(url, hop.location) if hop.location else None
        if target is None or not 300 <= hop.status < 400:
            return _answered(start, hops)
        if len(hops) > ctx.settings.max_redirects:
            facts = {"max": ctx.settings.max_redirects}
            return _found(start, "problem", "http_too_many_redirects", hops, "", facts)
        url = target


def _request(url: Url, ctx: CheckContext) -> Hop:
    """One GET to an allowed address of the URL's host; the body read up to the limit."""
    address = ctx.guard.allowed_addresses(url.host, ctx.budget.left(STEP))[0]
    literal = f"[{address}]" if ":" in address else address
    wire = f"{url.scheme}://{literal}:{url.port}{url.path}"
    headers = {"Host": url.host_header, "User-Agent": USER_AGENT, "Accept": "*/*"}
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    timeout = httpx.Timeout(ctx.budget.left(STEP))
    verify = tls_context(ctx.settings)
    began = time.monotonic()
    with httpx.Client(verify=verify, trust_env=False, timeout=timeout) as client:
        request = client.build_request("GET", wire, headers=headers, extensions=extensions)
        try:
            response = client.send(request, stream=True)
        except httpx.ConnectError as exc:
            failure = _tls_failure(exc)
            if failure is not None:
                raise failure from exc
            raise
        try:
            ms = int((time.monotonic() - began) * 1000)
            read = _read_some(response, ctx.settings.max_body_bytes, ctx)
        finally:
            response.close()
    location = response.headers.get("location", "")
    return Hop(url, address, response.status_code, location, ms, read)


def _read_some(response: httpx.Response, limit: int, ctx: CheckContext) -> int:
    read = 0
    for chunk in response.iter_raw(chunk_size=min(limit, 16384) or 1):
        read += len(chunk)
        if read >= limit:
            break
        ctx.budget.left()  # OutOfTime: a body trickling in byte by byte is cut off
    return min(read, limit)


def _tls_failure(exc: httpx.ConnectError) -> TlsFailure | None:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return TlsFailure(cause.verify_message or str(cause))
        if isinstance(cause, ssl.SSLError):
            return TlsFailure(cause.reason or str(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _answered(start: Url, hops: list[Hop]) -> Finding:
    last = hops[-1]
    facts: dict[str, str | int] = {
        "status": last.status,
        "ms": last.ms,
        "hops": len(hops) - 1,
        "bytes": last.body_bytes,
    }
    severity: Severity
    if last.status >= 500:
        severity, code = "problem", "http_server_error"
    elif last.status >= 400:
        severity, code = "warning", "http_client_error"
    elif last.ms > SLOW_MS:
        severity, code = "warning", "http_slow"
    else:
        severity, code = "ok", "http_ok"
    return _found(start, severity, code, hops, f"{last.body_bytes} bytes of body read", facts)


def _refused(start: Url, url: Url, hops: list[Hop], refused: Refused) -> Finding:
    why = refused.verdict.reason
    if not hops:
        facts = {"address": refused.verdict.address, "kind": refused.verdict.kind}
        return _found(start, "info", "refused", hops, f"not connected: {why}", facts)
    facts = {"location": url.text, "why": why}
    return _found(start, "warning", "http_redirect_refused", hops, f"not followed: {why}", facts)


def _unreachable(start: Url, hops: list[Hop], url: Url, exc: Exception) -> Finding:
    error = f"{url.text}: {_describe(exc)}" if hops else _describe(exc)
    return _found(start, "problem", "http_unreachable", hops, error, {"error": error})


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException | OutOfTime):
        return "no answer in time"
    return str(exc) or type(exc).__name__


def _found(
    start: Url,
    severity: Severity,
    code: str,
    hops: list[Hop],
    last: str,
    facts: Facts,
) -> Finding:
    seen = "; ".join([*(h.seen() for h in hops), *([last] if last else [])])
    return Finding(NAME, start.text, severity, code, f"GET {start.text}", seen, facts)


CHECK = Check(NAME, "status, redirects and response time of each URL", run)
