"""Outbox retries, bounces, suppression, auto-reply limits and loops (issue 5)."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import World, eml, write_config
from tests.e2e.test_people import mail_from
from tests.servers import Dovecot, SmtpSink

LAURA = "laura.martinez@gmail.com"
ANA = "ana.garcia@hostingejemplo.es"


def rows(world: World, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(world.tmp / "mt.db") as conn:
        return list(conn.execute(query))


def later(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def test_relay_down_for_the_whole_ingest_then_every_mail_arrives_once(world: World) -> None:
    world.sink.stop()
    for name in ("new-gmail-plain.eml", "new-outlook-latin1.eml", "new-english-plain.eml"):
        world.deliver(eml(name))
    rc, out, err = world.cli("run", "--once")
    assert rc == 1 and "retrying 6" in out and f":{world.sink.port}" in err
    assert len(world.tickets()) == 3  # tickets do not wait for the relay
    world.sink.restart()
    rc, out, _ = world.cli("run", "--once")
    assert rc == 0 and "mail sent 0" in out  # backing off: not due yet
    rc, out, _ = world.cli("sweep", "--at", later(30))
    assert rc == 0 and "mail sent 6" in out
    queued = {m for (m,) in rows(world, "SELECT message_id FROM outbox")}
    received = [str(r.message["Message-ID"]).strip() for r in world.sink.received]
    assert sorted(received) == sorted(queued)  # each once, with its original Message-ID
    rc, out, _ = world.cli("sweep", "--at", later(120))
    assert "mail sent 0" in out and len(world.sink.received) == 6


def test_4xx_backs_off_with_jitter_and_5xx_fails_on_the_ticket(world: World) -> None:
    world.sink.replies = ["451 4.3.0 Intentelo mas tarde", "550 5.1.1 Usuario desconocido"]
    world.deliver(eml("new-gmail-plain.eml"))
    world.cycle()
    states = rows(
        world,
        "SELECT kind, state, attempts, last_error, next_attempt_at, created_at "
        "FROM outbox ORDER BY id",
    )
    (ack_kind, ack_state, ack_tries, ack_error, due, created), notice = states
    assert (ack_kind, ack_state, ack_tries) == ("ack", "pending", 1) and "451" in ack_error
    delay = datetime.fromisoformat(due) - datetime.fromisoformat(created)
    assert timedelta(seconds=47) <= delay <= timedelta(seconds=73)  # 60 s ± 20 %
    assert notice[1] == "failed" and "550" in notice[3]
    code = str(world.tickets()[0]["code"])
    events = world.show(code)["events"]
    assert any(e["kind"] == "delivery_failed" and "550" in e["detail"] for e in events)
    world.cli("sweep", "--at", later(5))
    assert [r.rcpt_tos for r in world.sink.received] == [[LAURA]]  # the 5xx one is not retried


def dsn_for(world: World, failed: str) -> bytes:
    """A bounce of our acknowledgement, as the relay's MTA returns it to the VERP address."""
    ack = world.sink.to(failed)[0]
    raw = eml(
        "dsn-bounce.eml",
        ack_message_id=str(ack.message["Message-ID"]).strip(),
        code=str(world.tickets()[0]["code"]),
    )
    raw = raw.replace(b"pedro.gomez.floristeria@gmail.com", failed.encode())
    return raw.replace(
        b"Delivered-To: soporte@",
        f"Delivered-To: {ack.mail_from}\nX-Original-Delivered-To: soporte@".encode(),
    )


def test_bounce_is_recorded_on_its_ticket_and_suppresses_automatic_mail(world: World) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    world.cycle(clock=lambda: datetime(2026, 11, 23, 9, tzinfo=UTC))
    code = str(world.tickets()[0]["code"])
    world.deliver(dsn_for(world, LAURA))
    world.cycle(clock=lambda: datetime(2026, 11, 23, 9, 5, tzinfo=UTC))
    assert [t["code"] for t in world.tickets()] == [code]  # not a new ticket
    events = world.show(code)["events"]
    failure = [e for e in events if e["kind"] == "delivery_failed"]
    assert failure and "5.1.1" in failure[0]["detail"] and "ack" in failure[0]["detail"]
    assert rows(world, "SELECT state FROM outbox WHERE kind = 'ack'") == [("bounced",)]

    # Staff still answer (a person wrote it); the automatic reminder is not sent.
    world.deliver(mail_from(ANA, f"Re: [{code}] x", "Pruebe con el puerto 465."))
    world.cycle(clock=lambda: datetime(2026, 11, 23, 10, tzinfo=UTC))
    before = len(world.sink.to(LAURA))
    world.cli("sweep", "--at", "2026-11-25T12:00:00+00:00")
    assert len(world.sink.to(LAURA)) == before
    assert any(e["kind"] == "not_sent" for e in world.show(code)["events"])

    # Writing again lifts the suppression.
    world.deliver(mail_from(LAURA, "Nueva consulta", "Otra cosa."))
    world.cycle(clock=lambda: datetime(2026, 11, 25, 13, tzinfo=UTC))
    assert len(world.sink.to(LAURA)) == before + 1


def test_automatic_answers_to_one_sender_are_limited_per_hour(world: World) -> None:
    for n in range(7):
        world.deliver(mail_from("impaciente@cliente.es", f"Consulta {n}", "¿Hola?"))
    world.cycle()
    assert len(world.tickets()) == 7  # every mail is a ticket
    assert len(world.sink.to("impaciente@cliente.es")) == 5  # only five acknowledgements


def test_two_instances_pointed_at_each_other_settle(
    world: World, dovecot: Dovecot, sink: SmtpSink
) -> None:
    other_user = dovecot.add_user()
    other_dir = world.tmp / "other"
    other_dir.mkdir()
    config = write_config(other_dir / "config.toml", dovecot, other_user, sink, other_dir / "mt.db")
    config.write_text(config.read_text().replace("hostingejemplo.es", "otrohosting.es"))
    other = World(dovecot, other_user, sink, config, other_dir, f"sqlite:///{other_dir / 'mt.db'}")
    # The other company's staff answer (a person wrote it) reaches our support address.
    world.deliver(mail_from("soporte@otrohosting.es", "Consulta sobre su ticket", "Hola."))
    mailboxes = {"soporte@hostingejemplo.es": world, "soporte@otrohosting.es": other}
    handed = 0
    for _ in range(5):
        for instance in (world, other):
            instance.cycle()
        new = sink.received[handed:]
        handed = len(sink.received)
        for mail in new:
            for rcpt in mail.rcpt_tos:
                if rcpt in mailboxes:
                    mailboxes[rcpt].deliver(mail.data)
    to_each_other = [m for m in sink.received if set(m.rcpt_tos) & set(mailboxes)]
    assert len(to_each_other) == 1  # our acknowledgement, which the other side never answers
    assert other.tickets() == []


TRUSTED_PASS = (
    "Authentication-Results: mx.hostingejemplo.es; dkim=pass "
    "header.d=hostingejemplo.es; dmarc=pass header.from=hostingejemplo.es\n"
)
TRUSTED_FAIL = (
    "Authentication-Results: mx.hostingejemplo.es; dkim=none; "
    "dmarc=fail header.from=hostingejemplo.es\n"
)
FORGED_TRUSTED = TRUSTED_PASS
FORGED_OTHER = TRUSTED_PASS.replace("mx.hostingejemplo.es;", "mx.atacante.example;")


def staff_mail_with(headers: list[str], code: str, body: str) -> bytes:
    """Ana's reply as it reaches the mailbox: header lines on top, in arrival order."""
    return "".join(headers).encode() + mail_from(ANA, f"Re: [{code}] x", body)


def test_staff_commands_need_dkim_or_dmarc_pass_from_the_trusted_server(world: World) -> None:
    world.config.write_text(
        world.config.read_text() + '\n[security]\ntrusted_authserv_ids = ["mx.hostingejemplo.es"]\n'
    )
    world.deliver(eml("new-gmail-plain.eml"))
    world.cycle()
    code = str(world.tickets()[0]["code"])
    forged = [
        [],  # no header at all
        [TRUSTED_FAIL, FORGED_TRUSTED],  # a forged pass below the trusted one
        [FORGED_OTHER, TRUSTED_FAIL],  # a pass above, from a server we do not trust
    ]
    for headers in forged:
        world.deliver(staff_mail_with(headers, code, "#cerrar\n#prioridad urgente\nHecho."))
    world.cycle()
    ticket = world.show(code)
    assert (ticket["status"], ticket["priority"]) == ("new", "normal")
    assert [m["direction"] for m in ticket["messages"]] == [
        "in",
        "internal",
        "internal",
        "internal",
    ]
    assert world.sink.to(LAURA)[-1].message["Subject"].startswith(f"[{code}] Hemos recibido")
    warnings = world.sink.to(ANA)[1:]
    assert len(warnings) == 3 and all(
        "no verificado" in str(w.message["Subject"]) for w in warnings
    )

    world.deliver(staff_mail_with([TRUSTED_PASS], code, "#prioridad alta\nLo miramos."))
    world.cycle()
    assert world.show(code)["priority"] == "high"
    assert "Lo miramos." in world.sink.to(LAURA)[-1].text


def test_hostile_and_oversized_mail_is_kept_and_answered_politely(world: World) -> None:
    world.config.write_text(
        world.config.read_text() + "\n[limits]\nmax_attachment_bytes = 1000000\n"
    )
    world.deliver(eml("broken-mime.eml"))
    world.deliver(eml("new-apple-mail-attachment.eml"))  # a 2 MB PDF, over the 1 MB limit
    report = world.cycle()
    assert [r.state for r in report.results] == ["done", "done"]
    apple = next(t for t in world.tickets() if t["requester"] == "carmen@estudiocarmen.com")
    detail = world.show(str(apple["code"]))
    assert detail["messages"][0]["attachments"] == []
    assert any(e["kind"] == "over_limit" for e in detail["events"])
    (notice,) = [
        m
        for m in world.sink.to("carmen@estudiocarmen.com")
        if "No hemos podido guardar" in str(m.message["Subject"])
    ]
    assert "Captura de pantalla" in notice.text and "1.0 MB por adjunto" in notice.text
    raw = rows(world, "SELECT length(raw) FROM inboundbody ORDER BY inbound_id")
    # The whole mail is kept, as the server stored it (with CRLF line ends).
    assert raw[1][0] == len(eml("new-apple-mail-attachment.eml").replace(b"\n", b"\r\n"))
    broken = next(t for t in world.tickets() if t["requester"] == "pedro@pedrosanchez.es")
    names = world.show(str(broken["code"]))["messages"][0]["attachments"]
    assert all("/" not in n and ".." not in n for n in names)


def test_passwords_never_reach_logs_or_output(world: World) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    for args in (("-v", "run", "--once"), ("check",), ("tickets", "--json")):
        rc, out, err = world.cli(*args)
        assert rc == 0, err
        assert "secret" not in out + err, args


def test_a_forged_bounce_naming_a_guessed_id_changes_nothing(world: World) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    world.cycle()
    code = str(world.tickets()[0]["code"])
    ack = world.sink.to(LAURA)[0]
    guessed = re.sub(r"-[0-9a-f]{16}@", "-0000000000000000@", ack.mail_from)
    assert guessed != ack.mail_from  # a well-formed token, only the wrong one
    forged = eml("dsn-bounce.eml", ack_message_id="<not-ours@x.example>", code="SOP-XXXXXX")
    forged = forged.replace(b"pedro.gomez.floristeria@gmail.com", LAURA.encode())
    forged = forged.replace(b"Delivered-To: soporte@", f"Delivered-To: {guessed}\nX-D: ".encode())
    world.deliver(forged)
    world.cycle()
    assert not any(e["kind"] == "delivery_failed" for e in world.show(code)["events"])
    assert rows(world, "SELECT count(*) FROM suppression") == [(0,)]
    assert rows(world, "SELECT state FROM outbox WHERE kind = 'ack'") == [("sent",)]


def test_a_broken_reminder_template_does_not_stop_the_daemon(world: World) -> None:
    site = world.tmp / "site" / "es"
    site.mkdir(parents=True)
    (site / "reminder.txt.j2").write_text("{{ staff_name }} is not known to reminders")
    world.config.write_text(
        world.config.read_text().replace(
            'company_name = "Hosting Ejemplo"',
            f'company_name = "Hosting Ejemplo"\ntemplates_dir = "{site.parent}"',
        )
    )
    world.deliver(eml("new-gmail-plain.eml"))
    world.cycle(clock=lambda: datetime(2026, 11, 23, 9, tzinfo=UTC))
    code = str(world.tickets()[0]["code"])
    world.deliver(mail_from(ANA, f"Re: [{code}] x", "Respuesta."))
    world.cycle(clock=lambda: datetime(2026, 11, 23, 10, tzinfo=UTC))
    world.deliver(eml("new-outlook-latin1.eml"))
    rc, out, err = world.cli("sweep", "--at", "2026-11-25T12:00:00+00:00")
    assert rc == 0 and "0 timer(s) fired" in out and "staff_name" in err
    assert "Traceback" in err  # logged for ops with the stack, as a logged error, not a crash
    report = world.cycle(clock=lambda: datetime(2026, 11, 25, 12, 5, tzinfo=UTC))
    assert [r.state for r in report.results] == ["done"]  # mail still flows
    assert world.show(code)["remind_at"] is not None  # the reminder is still due, not lost
