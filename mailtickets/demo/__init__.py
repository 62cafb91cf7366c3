"""`mailtickets demo`: the real daemon against embedded loopback IMAP (pymap) and SMTP."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from imapclient import IMAPClient

from mailtickets import store
from mailtickets.config import load_settings
from mailtickets.daemon import Daemon, utc_now
from mailtickets.db import open_database, transaction
from mailtickets.views import ticket_line, ticket_summary

SAMPLES = Path(__file__).resolve().parent
USER, PASSWORD = "soporte", "demo"

CONFIG = """\
[imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{user}"
password = "{password}"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from_address = "soporte@hostingejemplo.es"
from_name = "Soporte Hosting Ejemplo"

[database]
url = "sqlite:///{db}"

[tickets]
company_name = "Hosting Ejemplo"

[checks]
# The demo runs offline: its customers' domains do not exist, so the automatic checks
# would only report that. A real site leaves them on (see docs/checks.md).
enabled = false

[[departments]]
name = "Hosting"
addresses = ["hosting@hostingejemplo.es"]
staff = ["ana.garcia@hostingejemplo.es"]
default = true

[[departments]]
name = "Facturación"
addresses = ["facturacion@hostingejemplo.es"]
keywords = ["factura", "cobro"]
staff = ["pablo.ruiz@hostingejemplo.es"]

[[staff]]
email = "ana.garcia@hostingejemplo.es"
name = "Ana García"

[[staff]]
email = "pablo.ruiz@hostingejemplo.es"
name = "Pablo Ruiz"
"""


class _Collector:
    """SMTP sink: keeps what the daemon sends so the demo can print it."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_imap(port: int) -> subprocess.Popen[bytes]:
    code = "import sys; from pymap.main import main; sys.argv[0] = 'pymap'; main()"
    args = [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-tls",
        "dict",
        "--demo-user",
        USER,
        "--demo-password",
        PASSWORD,
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the embedded IMAP server (pymap) did not start")


def _append(port: int, raw: bytes) -> None:
    with IMAPClient("127.0.0.1", port=port, ssl=False, timeout=10) as client:
        client.login(USER, PASSWORD)
        client.append("INBOX", raw)


def _reply(sender: str, subject: str, in_reply_to: str, body: str) -> bytes:
    """A reply as a person's mail client sends it to the support address."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "soporte@hostingejemplo.es"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utc_now())
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].rstrip(">"))
    msg["In-Reply-To"] = in_reply_to
    msg["References"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def _staff_answer(code: str, subject: str, notice_id: str) -> bytes:
    return _reply(
        "Ana García <ana.garcia@hostingejemplo.es>",
        f"Re: [{code}] {subject}",
        notice_id,
        "Hola Laura:\n\nTu cuenta necesita autenticación SMTP. Revisa que el puerto SMTP sea "
        "el 465 con SSL y que el usuario sea la dirección completa.\n\nUn saludo,\nAna\n\n"
        "El 23/11/26 a las 10:15, Soporte escribió:\n> Desde esta mañana no puedo enviar correos\n",
    )


def _customer_thanks(answer: bytes) -> bytes:
    original = message_from_bytes(answer, policy=default_policy)
    return _reply(
        "Laura Martínez <laura.martinez@gmail.com>",
        f"Re: {original['Subject']}",
        str(original["Message-ID"]).strip(),
        "¡Funciona! Muchas gracias, Ana.\n\nLaura\n\n> Hola Laura:\n> Tu cuenta...\n",
    )


def _print_mail(rcpts: list[str], raw: bytes) -> None:
    msg = message_from_bytes(raw, policy=default_policy)
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    print(f"\n=== To: {', '.join(rcpts)}\n    From: {msg['From']}\n    Subject: {msg['Subject']}")
    print("\n".join("    | " + line for line in str(text).rstrip().splitlines()))


def run_demo(keep: Path | None) -> int:
    """Run the whole story and print the tickets and every mail sent; exit code 0."""
    workdir = keep or Path(tempfile.mkdtemp(prefix="mailtickets-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    imap_port, smtp_port = _free_port(), _free_port()
    collector = _Collector()
    smtp = Controller(collector, hostname="127.0.0.1", port=smtp_port)
    imap = _start_imap(imap_port)
    smtp.start()
    try:
        return _story(workdir, imap_port, smtp_port, collector)
    finally:
        smtp.stop()
        imap.terminate()
        imap.wait(timeout=10)
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _story(workdir: Path, imap_port: int, smtp_port: int, collector: _Collector) -> int:
    config = workdir / "config.toml"
    config.write_text(
        CONFIG.format(
            imap_port=imap_port,
            smtp_port=smtp_port,
            user=USER,
            password=PASSWORD,
            db=workdir / "demo.db",
        )
    )
    settings = load_settings(config)
    engine = open_database(settings.database_url)
    daemon = Daemon(settings, engine)
    print(f"mailtickets demo in {workdir}: IMAP 127.0.0.1:{imap_port}, SMTP 127.0.0.1:{smtp_port}")
    for sample in sorted(SAMPLES.glob("*.eml")):
        _append(imap_port, sample.read_bytes())
    # The same customer mail again, as the copy a Cc to another of our addresses would be.
    _append(imap_port, (SAMPLES / "01-gmail-correo.eml").read_bytes())
    print("\n## 1. Three customer mails (one delivered twice) arrive")
    daemon.cycle()
    code, subject, notice_id = _laura_ticket(engine)
    print(f"\n## 2. Ana answers {code} from her own mail client")
    _append(imap_port, _staff_answer(code, subject, notice_id))
    daemon.cycle()
    print("\n## 3. Laura replies to the answer")
    answer = next(
        raw
        for rcpts, raw in collector.mails
        if "laura.martinez@gmail.com" in rcpts and b"465" in raw
    )
    _append(imap_port, _customer_thanks(answer))
    daemon.cycle()
    daemon.log_out()
    _print_results(engine, collector)
    return 0


def _laura_ticket(engine: Any) -> tuple[str, str, str]:
    with transaction(engine) as session:
        ticket = store.ticket_by_code(session, _code_of(session, "laura.martinez@gmail.com"))
        assert ticket is not None and ticket.id is not None
        notice = next(o for o in store.outbox_rows(session, ticket.id) if o.kind == "staff_new")
        return ticket.code, ticket.subject, notice.message_id


def _code_of(session: Any, requester: str) -> str:
    return next(t.code for t in store.list_tickets(session, None, None) if t.requester == requester)


def _print_results(engine: Any, collector: _Collector) -> None:
    print("\n## Tickets")
    with transaction(engine) as session:
        for ticket in store.list_tickets(session, None, None):
            print("  " + ticket_line(ticket_summary(session, ticket)))
        ignored = store.inbound_rows(session, ["ignored"])
        for row in ignored:
            print(f"  (not a ticket: {row.message_id} — {row.outcome})")
    print(f"\n## Mail sent by the daemon ({len(collector.mails)})")
    for rcpts, raw in collector.mails:
        _print_mail(rcpts, raw)
    sys.stdout.flush()
