"""The TLS client context every IMAP and SMTP connection shares.

Made once per process: building one loads the system's CA certificates, about 45 ms of CPU
on the test machine, and aiosmtplib built one for every connection it opened (one or two a
flush, and the daemon flushes after each new mail), ingest one for every IMAP login, plain
ones included. A context is safe to share between connections and threads; it verifies the
server's certificate and name, as `ssl.create_default_context` does.
"""

from __future__ import annotations

import ssl
from functools import cache


@cache
def client_context() -> ssl.SSLContext:
    """The default context for servers we connect to (CA certificates read at first use).
    Shared by every connection: never change its settings, make another context instead."""
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


def context_for(security: str) -> ssl.SSLContext | None:
    """The shared context for a connection with `security` "ssl" or "starttls"; None for
    "none" (plain: no certificates to load)."""
    return None if security == "none" else client_context()
