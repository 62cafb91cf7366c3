"""An SMTP sink in a process of its own, so that receiving costs the benchmark no CPU time
of the process it measures. Each mail accepted is one line in the log file:

    <unix time> <Message-ID> <In-Reply-To or -> <X-Mailtickets-Ticket or ->

    python bench/sink.py PORT LOGFILE [CERTFILE KEYFILE]

With a certificate and its key, the sink takes mail only after STARTTLS, as real relays do.
"""

from __future__ import annotations

import re
import signal
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

_HEADER = re.compile(rb"^(message-id|in-reply-to|x-mailtickets-ticket):[ \t]*(\S*)", re.I | re.M)


class _Log:
    def __init__(self, path: Path) -> None:
        self.out = path.open("a", buffering=1)
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        head = bytes(envelope.content).split(b"\r\n\r\n", 1)[0]
        found = {k.lower(): v.decode("ascii", "replace") for k, v in _HEADER.findall(head)}
        line = " ".join(
            [
                f"{time.time():.6f}",
                found.get(b"message-id", "-") or "-",
                found.get(b"in-reply-to", "-") or "-",
                found.get(b"x-mailtickets-ticket", "-") or "-",
            ]
        )
        with self.lock:
            self.out.write(line + "\n")
        return "250 OK"


def read_log(path: Path) -> list[tuple[float, str, str, str]]:
    """The sink's lines so far: (time, Message-ID, In-Reply-To, ticket code)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split(" ")
        if len(parts) == 4:
            rows.append((float(parts[0]), parts[1], parts[2], parts[3]))
    return rows


def main() -> None:
    port, log = int(sys.argv[1]), Path(sys.argv[2])
    tls: dict[str, Any] = {}
    if len(sys.argv) == 5:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        tls = {"tls_context": context, "require_starttls": True}
    controller = Controller(_Log(log), hostname="127.0.0.1", port=port, **tls)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
