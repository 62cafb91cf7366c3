"""One mail's SMTP transaction on an open aiosmtplib connection, its bytes sent as composed.

aiosmtplib's `sendmail` rewrites every message's line endings by a regular expression
twice (once to announce its SIZE, once for DATA) and dot-stuffs it by another: about a
fifth of delivery's CPU on 30 KB mails. What we queue is CRLF already (compose.py), so
checking that costs three byte counts, and dot-stuffing is one replace; other bytes get
the same rewrite as aiosmtplib's, so what follows DATA is the same either way. MAIL and
RCPT are written as aiosmtplib's mail() and rcpt() write them, each address parsed once;
the answers are checked, and the errors raised, as they do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import suppress
from functools import lru_cache

import aiosmtplib
from aiosmtplib.email import quote_address
from aiosmtplib.typing import SMTPStatus

END = b".\r\n"
# A line end of any kind: CRLF, a lone LF, a lone CR (as aiosmtplib 5.1 rewrites them).
LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")


@lru_cache(maxsize=4096)
def _quoted(address: str) -> bytes:
    """`<address>` as MAIL and RCPT carry it, checked as aiosmtplib checks it; ASCII only.
    Kept: a department's staff addresses come back in every notice."""
    return quote_address(address).encode("ascii")


def wire_lines(raw: bytes) -> bytes:
    """`raw` as DATA carries it before dot-stuffing: every line, the last one too, ended by
    CRLF; `raw` itself when it is so already."""
    crlf = raw.count(b"\r\n")
    if raw.count(b"\n") != crlf or raw.count(b"\r") != crlf:  # a lone CR or LF somewhere
        raw = LINE_END.sub(b"\r\n", raw)
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


def stuffed(lines: bytes) -> bytes:
    """CRLF-ended `lines` dot-stuffed (RFC 5321 §4.5.2) and closed by the lone dot."""
    body = lines.replace(b"\r\n.", b"\r\n..")
    return (b"." + body if body.startswith(b".") else body) + END


async def send(
    client: aiosmtplib.SMTP, sender: str, recipients: Sequence[str], raw: bytes
) -> dict[str, aiosmtplib.SMTPResponse]:
    """MAIL, RCPT each, DATA: the refused recipients, or raises, as `sendmail` does (the
    envelope reset after a refusal); a bad or non-ASCII address raises before MAIL."""
    # A bad address raises before the relay has seen the envelope. `sendmail` checks only
    # the form, so a non-ASCII recipient raised after MAIL, and the next mail on the
    # connection met "503 nested MAIL".
    mail_from = quote_address(sender).encode("ascii")  # VERP: a new one for every mail
    rcpt_to = [_quoted(address) for address in recipients]
    lines = wire_lines(raw)
    await _greeted(client)  # SIZE is known from EHLO's answer
    options = [f"SIZE={len(lines)}".encode()] if client.supports_extension("size") else []
    try:
        # What aiosmtplib's mail() and rcpt() send and check, without parsing each
        # address again (a tenth of delivery's time when they did).
        answer = await client.execute_command(b"MAIL", b"FROM:" + mail_from, *options)
        if answer.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(answer.code, answer.message, sender)
        refused: list[aiosmtplib.SMTPRecipientRefused] = []
        for recipient, quoted in zip(recipients, rcpt_to, strict=True):
            answer = await client.execute_command(b"RCPT", b"TO:" + quoted)
            if answer.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
                refused.append(
                    aiosmtplib.SMTPRecipientRefused(answer.code, answer.message, recipient)
                )
        if len(refused) == len(recipients):
            raise aiosmtplib.SMTPRecipientsRefused(refused)
        await _data(client, stuffed(lines))
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        # Disconnected, or a bad answer to RSET: the first error is the one to tell.
        with suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await client.rset()
        raise
    return {r.recipient: aiosmtplib.SMTPResponse(r.code, r.message) for r in refused}


async def _greeted(client: aiosmtplib.SMTP) -> None:
    """EHLO, or HELO where EHLO is refused, unless this connection did it already."""
    if not client.is_ehlo_or_helo_needed:
        return
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not client.is_connected:
            raise
        await client.helo()


async def _data(client: aiosmtplib.SMTP, payload: bytes) -> None:
    """DATA, then the stuffed bytes in one write; a lost connection closes the client."""
    start = await client.execute_command(b"DATA")
    if start.code != SMTPStatus.start_input:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    # Written and read on the protocol as its own DATA does, without its command lock: one
    # coroutine uses a connection at a time (outbox._deliver). read_response, called
    # before anything can arrive, is what makes the protocol keep the relay's answer; the
    # e2e tests compare every answer with sendmail's, and fail if an upgrade changes that.
    try:
        protocol.write(payload)
        done = await protocol.read_response(timeout=client.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()
        raise
    if done.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(done.code, done.message)
