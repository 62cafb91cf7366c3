"""A vacation reply to our VERP address is no bounce; bounces in formats other than RFC 3464
are read as bounces (issue 15), on the real servers."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from tests.conftest import World, eml
from tests.e2e.test_people import mail_from
from tests.servers import Received

ANA = "ana.garcia@hostingejemplo.es"
MIGUEL = "miguel@tallerhernandez.es"


def rows(world: World, query: str, *params: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(world.tmp / "mt.db") as conn:
        return list(conn.execute(query, params))


def message_id(sent: Received) -> str:
    return str(sent.message["Message-ID"]).strip()


def answered_ticket(world: World) -> tuple[str, Received]:
    """Miguel's ticket, and Ana's answer as the relay got it (sent from its VERP address)."""
    world.deliver(eml("new-thunderbird-windows1252.eml"))
    world.cycle()
    (ticket,) = world.tickets()
    code = str(ticket["code"])
    world.deliver(mail_from(ANA, f"Re: [{code}] Renovación", "Ya está renovado el dominio."))
    world.cycle()
    _ack, answer = world.sink.to(MIGUEL)
    assert "Ya está renovado" in answer.text and "+b-" in answer.mail_from
    return code, answer


def test_a_dovecot_vacation_reply_to_an_answer_is_kept_and_is_no_bounce(world: World) -> None:
    code, answer = answered_ticket(world)
    before = world.show(code)
    sent_before = len(world.sink.received)
    world.deliver(
        eml(
            "autoreply-dovecot-vacation.eml",
            code=code,
            verp_address=answer.mail_from,
            answer_message_id=message_id(answer),
        )
    )
    world.cycle()

    shown = world.show(code)
    assert [t["code"] for t in world.tickets()] == [code]
    assert shown["status"] == before["status"]
    kinds = [e["kind"] for e in shown["events"]]
    assert "delivery_failed" not in kinds
    (vacation,) = shown["events"][len(before["events"]) :]  # one event, nothing else
    assert (vacation["kind"], vacation["actor"]) == ("automatic_mail", MIGUEL)
    assert "Auto-Submitted: auto-replied" in vacation["detail"]
    stored = shown["messages"][-1]
    assert len(shown["messages"]) == len(before["messages"]) + 1
    assert (stored["direction"], stored["sender"]) == ("in", MIGUEL)
    assert "fuera del taller hasta el lunes 30" in stored["text"]
    # The answer reached Miguel: it stays sent, and nothing is suppressed or sent.
    state = rows(world, "SELECT state FROM outbox WHERE message_id = ?", message_id(answer))
    assert state == [("sent",)]
    assert rows(world, "SELECT count(*) FROM suppression") == [(0,)]
    assert len(world.sink.received) == sent_before


# Each format, the address it bounces, and the subject of the customer's mail.
FORMATS = [
    ("bounce-qmail.eml", "ventas@ceramicasolmedo.es", "No funciona el formulario de contacto"),
    ("bounce-exim-plain.eml", "pedidos@ferreteriagarcia.es", "Certificado SSL caducado"),
    (
        "bounce-exchange-ims-undeliverable.eml",
        "compras@grupoindustrialnorte.es",
        "Ampliar el buzon de compras",
    ),
    ("bounce-yahoo.eml", "antonio.ruiz.b@yahoo.es", "Cambio de titular del dominio"),
    ("bounce-ionos-simple.eml", "info@academiaidiomasluna.es", "Copia de seguridad de la web"),
]


@pytest.mark.parametrize(("name", "customer", "subject"), FORMATS)
def test_a_bounce_in_another_format_fails_the_mail_and_suppresses_the_address(
    world: World, name: str, customer: str, subject: str
) -> None:
    world.deliver(mail_from(customer, subject, "Buenos días, ¿podéis revisarlo? Gracias."))
    world.cycle()
    (ticket,) = world.tickets()
    code = str(ticket["code"])
    (ack,) = world.sink.to(customer)
    world.deliver(eml(name, code=code, verp_address=ack.mail_from, ack_message_id=message_id(ack)))
    world.cycle()

    assert [t["code"] for t in world.tickets()] == [code]  # not a ticket of its own
    failed = [e for e in world.show(code)["events"] if e["kind"] == "delivery_failed"]
    assert len(failed) == 1 and f"{customer} failed" in failed[0]["detail"]
    assert rows(world, "SELECT state FROM outbox WHERE kind = 'ack'") == [("bounced",)]
    assert rows(world, "SELECT email FROM suppression") == [(customer,)]


def test_a_delay_warning_is_recorded_as_a_delay_and_fails_nothing(world: World) -> None:
    customer = "pedidos@ferreteriagarcia.es"
    world.deliver(mail_from(customer, "Pedido sin confirmar", "¿Os ha llegado el pedido?"))
    world.cycle()
    code = str(world.tickets()[0]["code"])
    (ack,) = world.sink.to(customer)
    world.deliver(eml("bounce-exim-delay-warning.eml", code=code, verp_address=ack.mail_from))
    world.cycle()
    events = world.show(code)["events"]
    assert not any(e["kind"] == "delivery_failed" for e in events)
    assert [e["kind"] for e in events if e["kind"] == "delivery_delayed"] == ["delivery_delayed"]
    assert rows(world, "SELECT state FROM outbox WHERE kind = 'ack'") == [("sent",)]
    assert rows(world, "SELECT count(*) FROM suppression") == [(0,)]
