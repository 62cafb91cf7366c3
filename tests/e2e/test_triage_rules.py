"""Robots that are not bounces, and status questions that are not requests (issue 15), on
the real servers."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.conftest import World, eml
from tests.e2e.test_people import mail_from

LAURA = "laura.martinez@gmail.com"
MONITOR = "noreply@floristerialaura.es"


def rows(world: World, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(world.tmp / "mt.db") as conn:
        return list(conn.execute(query))


def laura_ticket(world: World) -> str:
    """Floristería Laura, with Laura and her shop's monitor as contacts, and one ticket."""
    for address, *flags in ((LAURA,), (MONITOR, "--no-notify")):
        rc, _, err = world.cli(
            "contacts", "add", address, "--customer", "Floristería Laura", *flags
        )
        assert rc == 0, err
    world.deliver(eml("new-gmail-plain.eml"))
    world.cycle()
    (ticket,) = world.tickets()
    return str(ticket["code"])


def test_a_noreply_robot_quoting_a_code_is_kept_unanswered_and_is_no_bounce(world: World) -> None:
    code = laura_ticket(world)
    sent_before = len(world.sink.received)
    world.deliver(eml("robot-noreply-monitoring.eml", code=code))
    world.cycle()

    assert [t["code"] for t in world.tickets()] == [code]  # no new ticket
    assert len(world.sink.received) == sent_before  # nobody answered or told
    shown = world.show(code)
    assert len(shown["messages"]) == 2  # the alert is kept on the ticket
    events = shown["events"]
    assert not [e for e in events if e["kind"] == "delivery_failed"]
    (robot,) = [e for e in events if e["kind"] == "automatic_mail"]
    assert robot["actor"] == MONITOR and f"robot sender {MONITOR}" in robot["detail"]
    assert "delivery report" not in robot["detail"]
    assert rows(world, "SELECT state FROM outbox WHERE kind = 'ack'") == [("sent",)]
    assert rows(world, "SELECT count(*) FROM suppression") == [(0,)]


def test_asking_how_my_requests_are_going_lists_them_and_opens_nothing(world: World) -> None:
    code = laura_ticket(world)
    body = "Hola,\n\n¿Me podéis decir cómo van mis consultas?\n\nGracias,\nLaura"
    world.deliver(mail_from(LAURA, "mis tickets", body))
    world.cycle()
    listing = world.sink.received[-1]
    assert listing.rcpt_tos == [LAURA] and code in listing.text
    assert [t["code"] for t in world.tickets()] == [code]

    # The same subject with a request in the body is a ticket for a person.
    request = "¿Cómo van mis consultas? Además la web floristerialaura.es da error 500."
    world.deliver(mail_from(LAURA, "mis tickets", request))
    world.cycle()
    assert len(world.tickets()) == 2
