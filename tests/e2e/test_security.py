"""Nothing let in (security issue): who wrote a mail, who hears of a ticket, no amplification,
no single mail that stalls the daemon — each on the real servers."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from tests.conftest import World, eml, utc
from tests.e2e.test_people import mail_from
from tests.e2e.test_reliability import dsn_for

LUCIA = "lucia.martinez@estudiolucia.es"
SOCIA = "socia@estudiolucia.es"
MARCOS = "marcos@competidor.example"
MARCOS_CC = "marcos.personal@competidor.example"
ANA = "ana.garcia@hostingejemplo.es"
OPS = "sistemas@hostingejemplo.es"
TRUSTED = '\n[security]\ntrusted_authserv_ids = ["mx.hostingejemplo.es"]\n'
PASS = (
    "Authentication-Results: mx.hostingejemplo.es; dkim=pass header.d=estudiolucia.es "
    "header.s=s1; dmarc=pass header.from=estudiolucia.es\n"
)


def rows(world: World, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(world.tmp / "mt.db") as conn:
        try:
            return list(conn.execute(query))
        except sqlite3.OperationalError:  # the process has not made the schema yet
            return []


def add_contacts(world: World) -> None:
    for email, notify in ((LUCIA, []), (SOCIA, ["--no-notify"])):
        rc, _, err = world.cli("contacts", "add", email, "--customer", "Estudio Lucía", *notify)
        assert rc == 0, err


def lucia_ticket(world: World, subject: str = "Problema con el certificado") -> str:
    world.deliver(mail_from(LUCIA, f"{subject} de estudiolucia.es", "No carga la web."))
    world.cycle()
    return next(str(t["code"]) for t in world.tickets() if subject in str(t["subject"]))


COMPANY = 'company_name = "Hosting Ejemplo"'


def configure(world: World, text: str, **replace: str) -> None:
    config = world.config.read_text()
    for old, new in replace.items():
        config = config.replace(old, new)
    world.config.write_text(config + text)


def test_an_encoded_display_name_naming_lucia_does_not_make_marcos_lucia(world: World) -> None:
    add_contacts(world)
    code = lucia_ticket(world)
    other = lucia_ticket(world, "Renovación del dominio")
    world.deliver(eml("forged-from-colon-display-name.eml", code=code))
    world.cycle()
    # Marcos wrote it: a ticket of his own, linked, and nothing of Lucía's reaches him.
    theirs = world.show(code)
    assert [m["sender"] for m in theirs["messages"]] == [LUCIA]
    mine = [t for t in world.tickets() if t["requester"] == MARCOS]
    assert len(mine) == 1 and mine[0]["customer"] != theirs["customer"]
    to_marcos = world.sink.to(MARCOS) + world.sink.to(MARCOS_CC)
    assert to_marcos, "Marcos gets the acknowledgement of his own ticket"
    for received in to_marcos:
        assert other not in received.text and "Renovación" not in received.text
        assert code not in str(received.message["Subject"])
    # A later staff answer on Lucía's ticket goes to Lucía only.
    world.deliver(mail_from(ANA, f"Re: [{code}] x", "Ya está renovado el certificado."))
    world.cycle()
    answers = [r for r in world.sink.received if "Ya está renovado" in r.text]
    assert [r.rcpt_tos for r in answers] == [[LUCIA]]


def test_a_from_with_two_mailboxes_opens_nothing_answers_no_one_and_tells_staff(
    world: World,
) -> None:
    add_contacts(world)
    world.deliver(eml("from-two-mailboxes.eml"))
    world.cycle()
    assert world.tickets() == []
    assert world.sink.to(LUCIA) == [] and world.sink.to(MARCOS) == []
    (notice,) = world.sink.to(ANA)
    assert "remitente" in str(notice.message["Subject"]) and "2 mailboxes" in notice.text
    assert "marcos@competidor.example" in notice.text  # the From as it arrived
    assert "Cambio de contacto" in notice.text
    kept = "SELECT state, length(raw) > 0 FROM inbound JOIN inboundbody ON inbound_id = id"
    assert rows(world, kept) == [("ignored", 1)]


def test_other_tickets_are_listed_to_the_account_never_to_a_participant(world: World) -> None:
    add_contacts(world)
    first = lucia_ticket(world)
    world.deliver(
        mail_from(LUCIA, "Alta de buzón nuevo", "Quiero un buzón más.", cc="gestor@externo.example")
    )
    world.cycle()
    (to_lucia,) = [r for r in world.sink.to(LUCIA) if "Alta de buzón" in str(r.message["Subject"])]
    assert first in to_lucia.text
    (to_gestor,) = world.sink.to("gestor@externo.example")
    assert first not in to_gestor.text and "Problema con el certificado" not in to_gestor.text
    assert to_gestor.rcpt_tos == ["gestor@externo.example"]
    assert str(to_gestor.message["To"]) == f"{LUCIA}, gestor@externo.example"

    # "mis tickets" from that participant lists nothing of Lucía's.
    world.deliver(mail_from("gestor@externo.example", "mis tickets", ""))
    world.cycle()
    assert all(first not in r.text for r in world.sink.to("gestor@externo.example"))


def test_with_a_trusted_server_a_cc_joins_only_from_a_verified_mail(world: World) -> None:
    configure(world, TRUSTED)
    add_contacts(world)
    world.deliver(
        mail_from(LUCIA, "Migración", "Copio a dos.", cc=f"{SOCIA}, {MARCOS}")  # no pass
    )
    world.cycle()
    (ticket,) = world.tickets()
    code = str(ticket["code"])
    assert world.sink.to(MARCOS) == []
    assert len(world.sink.to(SOCIA)) == 1  # a contact of the same customer joins anyway
    (notice,) = world.sink.to(ANA)
    assert MARCOS in notice.text and "DKIM/DMARC" in notice.text
    assert any(e["kind"] == "participants_refused" for e in world.show(code)["events"])

    verified = PASS.encode() + mail_from(LUCIA, f"Re: [{code}] x", "Añado a mi gestor.", cc=MARCOS)
    world.deliver(verified)
    world.cycle()
    staff_pass = PASS.replace("estudiolucia.es", "hostingejemplo.es").encode()
    world.deliver(staff_pass + mail_from(ANA, f"Re: [{code}] x", "Hecho."))
    world.cycle()
    answers = [r for r in world.sink.received if "Hecho." in r.text]
    assert sorted(r.rcpt_tos[0] for r in answers) == sorted([LUCIA, MARCOS, SOCIA])


def test_without_a_trusted_server_check_and_the_start_log_say_senders_are_unverified(
    world: World,
) -> None:
    rc, out, err = world.cli("check")
    assert rc == 0, err
    lines = [line for line in (out + err).splitlines() if "not verified" in line]
    assert len(lines) == 1 and "trusted_authserv_ids" in lines[0]
    rc, _, err = world.cli("run", "--once")
    assert rc == 0 and sum("not verified" in line for line in err.splitlines()) == 1
    configure(world, TRUSTED)
    rc, out, err = world.cli("check")
    assert rc == 0 and "not verified" not in out + err


def test_five_hundred_addresses_in_cc_make_five_participants_each_told_alone(
    world: World,
) -> None:
    strangers = [f"desconocido{n}@lista{n % 7}.example" for n in range(500)]
    msg = EmailMessage()
    msg["From"] = "Spam Masivo <promo@ofertas.example>"
    msg["To"] = "soporte@hostingejemplo.es"
    msg["Cc"] = ", ".join(strangers)
    msg["Subject"] = "Oferta de servidores"
    msg["Date"] = format_datetime(utc(2026, 11, 23, 11))
    msg["Message-ID"] = make_msgid(domain="ofertas.example")
    msg.set_content("Compre servidores baratos.")
    world.deliver(msg.as_bytes())
    world.cycle()
    told = [r for r in world.sink.received if r.rcpt_tos[0] != ANA]
    assert sorted(r.rcpt_tos[0] for r in told) == sorted(["promo@ofertas.example", *strangers[:5]])
    for received in told:
        assert len(received.rcpt_tos) == 1
        shown = str(received.message["To"]).split(", ")
        assert set(shown) <= {"promo@ofertas.example", received.rcpt_tos[0]}
    (notice,) = world.sink.to(ANA)
    assert strangers[5] in notice.text and strangers[499] in notice.text


def test_a_4mb_subject_does_not_stall_the_next_mail(world: World) -> None:
    huge = "Urgente " + "muy " * 1_000_000
    msg = EmailMessage()
    msg["From"] = "Atacante <atacante@malo.example>"
    msg["To"] = "soporte@hostingejemplo.es"
    msg["Date"] = format_datetime(utc(2026, 11, 23, 11))
    msg["Message-ID"] = make_msgid(domain="malo.example")
    msg.set_content("hola")
    raw = f"Subject: {huge}\n".encode() + msg.as_bytes()
    world.deliver(raw)
    world.deliver(mail_from(LUCIA, "Consulta normal", "¿Funciona el correo?"))
    started = time.monotonic()
    report = world.cycle()
    elapsed = time.monotonic() - started
    assert {r.state for r in report.results} == {"done"} and len(report.results) == 2
    assert len(world.sink.to(LUCIA)) == 1, f"the ordinary mail waited ({elapsed:.1f} s)"
    big = next(t for t in world.tickets() if t["requester"] == "atacante@malo.example")
    assert len(str(big["subject"])) <= 250 and str(big["subject"]).endswith("…")
    replies = world.sink.to("atacante@malo.example")
    assert len(replies) == 2  # the acknowledgement and the polite over-limit notice
    assert all(len(str(r.message["Subject"])) < 400 for r in world.sink.received)


HANGING_ACK = (
    "{% if 'BUCLE' in subject %}{% for i in range(10**12) %}{% endfor %}{% endif %}"
    "Recibido {{ code }}\n"
)


def site_templates(world: World) -> str:
    folder = world.tmp / "plantillas"
    folder.mkdir()
    (folder / "ack.txt.j2").write_text(HANGING_ACK)
    return f'templates_dir = "{folder}"'


def test_a_mail_that_hangs_processing_is_cut_off_and_quarantined(world: World) -> None:
    configure(
        world,
        "\n[limits]\nmax_processing_seconds = 1\n",
        **{COMPANY: f"{COMPANY}\n{site_templates(world)}"},
    )
    world.deliver(mail_from(LUCIA, "BUCLE infinito", "Esto cuelga la plantilla."))
    world.deliver(mail_from(SOCIA, "Consulta normal", "Hola."))
    states = []
    for _ in range(3):
        report = world.cycle()
        states.append(sorted(r.state for r in report.results))
    assert states[0] == ["done", "failed, will retry"]
    assert states[1:] == [["failed, will retry"], ["quarantined"]]
    assert len(world.sink.to(SOCIA)) == 1
    rc, out, _ = world.cli("quarantine", "list")
    assert rc == 0 and "longer than 1 s" in out


def test_a_mail_that_kills_the_process_three_times_ends_in_quarantine(world: World) -> None:
    configure(
        world,
        "\n[limits]\nmax_processing_seconds = 3600\n",
        **{
            COMPANY: f"{COMPANY}\n{site_templates(world)}",
            'unknown_senders = "open"': f'unknown_senders = "open"\nops_address = "{OPS}"',
        },
    )
    world.deliver(mail_from(LUCIA, "BUCLE que mata", "El vigilante matará el proceso."))
    cmd = [sys.executable, "-m", "mailtickets", "--config", str(world.config), "run"]
    for attempt in range(1, 4):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while rows(world, "SELECT attempts FROM inbound") != [(attempt,)]:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        time.sleep(0.5)  # in hand, hanging: what a watchdog or an OOM kill would end
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert rows(world, "SELECT state FROM inbound") == [("pending",)]
    rc, out, err = world.cli("run", "--once")
    assert rc == 0, err
    assert rows(world, "SELECT state, attempts FROM inbound") == [("failed", 3)]
    assert "1 quarantined" in out and world.tickets() == []
    (report,) = world.sink.to(OPS)
    assert "never finished" in report.text


def test_a_customer_mail_with_a_dsn_attached_is_an_ordinary_ticket(world: World) -> None:
    world.deliver(eml("customer-forwards-dsn-attachment.eml"))
    world.cycle()
    (ticket,) = world.tickets()
    assert ticket["requester"] == "jose.perez@construccionesperez.es"
    shown = world.show(str(ticket["code"]))
    assert shown["messages"][0]["attachments"] == ["details.txt"]
    (notice,) = world.sink.to(ANA)
    names = [p.get_filename() for p in notice.message.walk() if p.get_filename()]
    assert names == ["details.txt"]


def test_a_bounce_is_believed_only_through_its_keyed_verp_token(world: World) -> None:
    laura = "laura.martinez@gmail.com"
    world.deliver(eml("new-gmail-plain.eml"))
    world.cycle()
    code = str(world.tickets()[0]["code"])
    ack = world.sink.to(laura)[0]
    ack_id = str(ack.message["Message-ID"]).strip()
    outbox_id = ack.mail_from.split("+b-")[1].split("-")[0]
    # Anyone who got one of our mails knows its Message-ID: the old unkeyed token (a hash
    # of it), at either length, and the Message-ID alone must not make a bounce.
    digest = hashlib.sha256(ack_id.encode()).hexdigest()
    for n, forged_to in enumerate(
        (
            f"soporte+b-{outbox_id}-{digest[:12]}@hostingejemplo.es",
            f"soporte+b-{outbox_id}-{digest[:16]}@hostingejemplo.es",
            "soporte@hostingejemplo.es",
        )
    ):
        forged = eml("dsn-bounce.eml", ack_message_id=ack_id, code=code)
        forged = forged.replace(b"Message-Id: <", f"Message-Id: <forged{n}.".encode(), 1)
        forged = forged.replace(b"pedro.gomez.floristeria@gmail.com", laura.encode())
        world.deliver(
            forged.replace(
                b"Delivered-To: soporte@hostingejemplo.es", f"Delivered-To: {forged_to}".encode()
            )
        )
    world.cycle()
    assert not any(e["kind"] == "delivery_failed" for e in world.show(code)["events"])
    assert rows(world, "SELECT count(*) FROM suppression") == [(0,)]
    assert rows(world, "SELECT state FROM outbox WHERE kind = 'ack'") == [("sent",)]
    # The real bounce, to the address the relay was given, is recorded.
    world.deliver(dsn_for(world, laura))
    world.cycle()
    assert any(e["kind"] == "delivery_failed" for e in world.show(code)["events"])
    assert rows(world, "SELECT email FROM suppression") == [(laura,)]
