"""The start of an SMTP conversation with a mail server: its banner, its EHLO keywords,
STARTTLS if asked (RFC 5321 §3.1, §4.2; RFC 3207). Nothing is ever sent after EHLO
but STARTTLS and QUIT: no mail, no login."""

from __future__ import annotations

import contextlib
import socket
import ssl
from dataclasses import dataclass
from typing import BinaryIO

from mailtickets.assistant.net import Guard
from mailtickets.assistant.plugin import Budget

MAX_LINE = 1000  # RFC 5321 §4.5.3.1.5, with room for the CRLF
MAX_LINES = 100
STEP = 10.0  # at most this long for one answer, whatever the budget


@dataclass(frozen=True)
class Greeting:
    address: str  # the address connected to
    code: int  # the banner's code: 220 when the server will talk
    banner: str  # the banner's first line
    keywords: tuple[str, ...] = ()  # EHLO keywords, upper case ("STARTTLS", "SIZE"…)

    @property
    def starttls(self) -> bool:
        return "STARTTLS" in self.keywords


@dataclass
class Session:
    """An open conversation; `close()` says QUIT when it still can."""

    sock: socket.socket
    reader: BinaryIO
    greeting: Greeting

    def close(self) -> None:
        with contextlib.suppress(OSError):  # a server already gone needs no QUIT
            self.sock.sendall(b"QUIT\r\n")
        self.reader.close()
        self.sock.close()


def greet(guard: Guard, host: str, port: int, ehlo: str, budget: Budget) -> Session:
    """Connect to `host`, read the banner and, if it is 220, say EHLO."""
    sock, address = guard.connect(host, port, budget.left(STEP))
    try:
        reader = sock.makefile("rb")
        sock.settimeout(budget.left(STEP))
        code, lines = read_reply(reader)
        keywords: tuple[str, ...] = ()
        if code == 220:
            sock.settimeout(budget.left(STEP))
            sock.sendall(f"EHLO {ehlo}\r\n".encode("ascii"))
            ehlo_code, ehlo_lines = read_reply(reader)
            if ehlo_code == 250:
                keywords = tuple(line.split(" ", 1)[0].upper() for line in ehlo_lines[1:])
        return Session(sock, reader, Greeting(address, code, lines[0] if lines else "", keywords))
    except BaseException:
        sock.close()
        raise


def start_tls(
    session: Session, host: str, context: ssl.SSLContext, budget: Budget
) -> ssl.SSLSocket:
    """STARTTLS on `session`, the handshake checked against `host` by `context`."""
    session.sock.settimeout(budget.left(STEP))
    session.sock.sendall(b"STARTTLS\r\n")
    code, lines = read_reply(session.reader)
    if code != 220:
        raise ConnectionError(f"STARTTLS answered {code} {' '.join(lines)}".strip())
    return context.wrap_socket(session.sock, server_hostname=host)


def read_reply(reader: BinaryIO) -> tuple[int, list[str]]:
    """One SMTP reply: its code and the text of each line."""
    lines: list[str] = []
    while len(lines) < MAX_LINES:
        raw = reader.readline(MAX_LINE)
        if not raw:
            raise ConnectionError("the server closed the connection")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(line[4:])
        if len(line) < 4 or line[3] != "-":
            return (int(line[:3]) if line[:3].isdigit() else 0), lines
    raise ConnectionError(f"a reply longer than {MAX_LINES} lines")
