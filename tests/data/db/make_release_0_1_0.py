"""Make release-0.1.0.sql: a database written by release 0.1.0 (create_all, no alembic).

Run it from a checkout of that release, so its code writes the rows:

    git worktree add --detach /tmp/mt-0.1.0 2e1468e
    cd /tmp/mt-0.1.0 && PYTHONPATH=. /work/main/.venv/bin/python \
        /work/main/tests/data/db/make_release_0_1_0.py /work/main/tests/data/db/release-0.1.0.sql

It drives the real daemon on Dovecot and an SMTP sink (the 0.1.0 test servers) through a
small support day, then writes `sqlite3 .dump` of the database.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from tests.conftest import World, eml, write_config
from tests.servers import Dovecot, SmtpSink

LAURA = "laura.martinez@gmail.com"
JOSE = "jose.perez@construccionesperez.es"
ANA = "Ana García <ana.garcia@hostingejemplo.es>"

CSV = (
    "cliente;correo;nombre;notificar\r\n"
    f"Construcciones Pérez S.L.;{JOSE};José Pérez;sí\r\n"
    "Construcciones Pérez S.L.;administracion@construccionesperez.es;Administración;sí\r\n"
    "Construcciones Pérez S.L.;obra@construccionesperez.es;Jefe de obra;no\r\n"
    f"Floristería Laura;{LAURA};Laura Martínez;1\r\n"
)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def mail(
    sender: str,
    subject: str,
    body: str,
    msgid: str,
    when: datetime,
    cc: str = "",
    attach: tuple[str, bytes] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "soporte@hostingejemplo.es"
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = msgid
    msg.set_content(body)
    if attach:
        name, data = attach
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def code_of(world: World, requester: str) -> str:
    return next(str(t["code"]) for t in world.tickets() if t["requester"] == requester)


def support_day(world: World) -> None:
    rc, out, err = world.cli("contacts", "import", str(world.tmp / "contactos.csv"))
    assert rc == 0, err

    world.deliver(eml("new-gmail-plain.eml"))
    world.deliver(
        mail(
            f"José Pérez <{JOSE}>",
            "Factura duplicada de noviembre",
            "Nos han cobrado dos veces. Adjunto el extracto.\n",
            "<factura-jose@construccionesperez.es>",
            at(23, 9),
            cc="contable@gestoria.es",
            attach=("extracto banco nº 11.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 4),
        )
    )
    world.deliver(eml("broken-mime.eml"))
    world.deliver(eml("new-outlook-latin1.eml"))
    world.cycle(clock=lambda: at(23, 9, 5))

    laura = code_of(world, LAURA)
    ack = world.sink.to(LAURA)[0]
    world.deliver(eml("autoreply-vacation.eml", code=laura, ack_message_id=str(ack.message["Message-ID"]).strip()))
    world.deliver(
        mail(
            ANA,
            f"Re: [{laura}] error 500",
            "#prioridad alta\nLe adjunto la guía para revisar el .htaccess.\n",
            "<respuesta-ana@hostingejemplo.es>",
            at(23, 10),
            attach=("guia-htaccess.txt", b"RewriteEngine On\n"),
        )
    )
    world.cycle(clock=lambda: at(23, 10, 5))

    jose = code_of(world, JOSE)
    world.deliver(bounce_of(world, JOSE, jose))
    world.cycle(clock=lambda: at(23, 11))
    # Two days later the reminder to Laura fires and is delivered.
    rc, out, err = world.cli("sweep", "--at", "2026-11-25T12:00:00+00:00")
    assert rc == 0, err


def bounce_of(world: World, failed: str, code: str) -> bytes:
    """The relay's MTA returning our acknowledgement to its VERP address."""
    ack = world.sink.to(failed)[0]
    msgid = str(ack.message["Message-ID"]).strip()
    raw = eml("dsn-bounce.eml", ack_message_id=msgid, code=code)
    raw = raw.replace(b"pedro.gomez.floristeria@gmail.com", failed.encode())
    return raw.replace(
        b"Delivered-To: soporte@",
        f"Delivered-To: {ack.mail_from}\nX-Original-Delivered-To: soporte@".encode(),
    )


def main(out: Path) -> None:
    dovecot = Dovecot.start()
    sink = SmtpSink().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            (base / "contactos.csv").write_text(CSV, encoding="utf-8")
            user = dovecot.add_user()
            config = write_config(base / "config.toml", dovecot, user, sink, base / "mt.db")
            support_day(World(dovecot, user, sink, config, base, f"sqlite:///{base / 'mt.db'}"))
            dump = subprocess.run(
                ["sqlite3", str(base / "mt.db"), ".dump"],
                check=True,
                capture_output=True,
            ).stdout
            out.write_bytes(dump)
    finally:
        sink.stop()
        dovecot.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
