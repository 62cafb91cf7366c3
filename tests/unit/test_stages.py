"""The stages in milliseconds: ticket writer, notifier, staff mail and timers over a real
SQLite file and the real templates, with no mail servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailtickets import pipeline, store
from mailtickets.apply import apply
from mailtickets.customer_mail import Incoming
from mailtickets.db import transaction
from mailtickets.decide import Action, Decision
from mailtickets.mail import ParsedMail, parse_mail
from mailtickets.models import Contact, Event, Inbound, Outbox, Ticket
from mailtickets.people import customer_recipients
from mailtickets.render import Renderer
from mailtickets.settings import Settings
from mailtickets.staffmail import apply_staff_reply
from mailtickets.timers import Sweeper, delivery_hooks
from mailtickets.work import Work, open_work
from tests.conftest import both_databases

pytestmark = both_databases

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)  # a Monday, in business hours
LUCIA = "lucia@estudiolucia.es"
ANA = "ana.garcia@hostingejemplo.es"


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with transaction(engine) as session:
        yield session


def work_at(settings: Settings, session: Session, now: datetime = NOW) -> Work:
    return open_work(settings, Renderer("es"), session, now)


def mail(sender: str, subject: str, body: str, cc: str = "") -> tuple[ParsedMail, Inbound]:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "soporte@hostingejemplo.es", subject
    msg["Message-ID"] = f"<{abs(hash((sender, subject, body)))}@test>"
    if cc:
        msg["Cc"] = cc
    msg.set_content(body)
    raw = msg.as_bytes()
    row = Inbound(mailbox="m", uidvalidity=1, uid=1, dedup_key=str(hash(raw)), fetched_at=NOW)
    return parse_mail(raw), row


def ticket_of(session: Session, status: str = "new") -> Ticket:
    customer_id = store.add_customer_with_contact(session, LUCIA, "Lucía", NOW).id
    ticket = Ticket(
        code="SOP-ABCDEF",
        subject="No carga la web",
        status=status,
        department="Hosting",
        requester=LUCIA,
        customer_id=customer_id,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(ticket)
    session.flush()
    return ticket


def outbox(session: Session) -> list[Outbox]:
    return list(session.exec(select(Outbox).order_by(Outbox.id)))  # type: ignore[arg-type]


def raw_of(session: Session, row: Outbox) -> bytes:
    assert row.id is not None
    return store.outbox_raw(session, row.id)


def events(session: Session, kind: str) -> list[str]:
    return [e.detail for e in session.exec(select(Event).where(Event.kind == kind))]


def test_the_writer_changes_status_with_an_event_and_clears_stale_timers(
    settings: Settings, session: Session
) -> None:
    work = work_at(settings, session)
    ticket = ticket_of(session, "waiting")
    ticket.remind_at = NOW
    assert work.write.set_status(ticket, "closed", ANA, "#cerrar")
    assert not work.write.set_status(ticket, "closed", ANA, "#cerrar")  # already closed
    assert ticket.closed_at == NOW and ticket.remind_at is None
    assert events(session, "status") == ["waiting → closed: #cerrar"]


def test_the_writer_admits_copied_addresses_within_the_cap(
    settings: Settings, session: Session
) -> None:
    work = work_at(settings, session)
    ticket = ticket_of(session)
    cc = ", ".join(f"p{n}@otro.example" for n in range(8))
    parsed, _ = mail(LUCIA, "x", "y", cc=cc)
    admission = work.write.add_participants(ticket, parsed, verified=True)
    assert len(admission.added) == 5 and len(admission.refused) == 3
    assert ticket.id is not None and len(store.participants(session, ticket.id)) == 5
    assert events(session, "participants_refused")[0].startswith("not added: p5@otro.example")


def test_the_notifier_tells_the_account_together_and_each_participant_alone(
    settings: Settings, session: Session
) -> None:
    work = work_at(settings, session)
    ticket = ticket_of(session)
    assert ticket.id is not None
    store.add_participants(session, ticket.id, ["gestor@otro.example"])
    other = {"code": "SOP-GHJKMN", "subject": "Otra", "status": "open"}
    context = work.tell.context(ticket, open_tickets=[other])
    first = work.tell.queue_to_customer("ack", ticket, context)
    account, copy = outbox(session)
    assert first is not None and first.message_id == account.message_id
    assert json.loads(account.recipients) == [LUCIA]
    assert json.loads(copy.recipients) == ["gestor@otro.example"]
    shown = message_from_bytes(raw_of(session, copy), policy=default)
    assert str(shown["To"]) == f"{LUCIA}, gestor@otro.example"
    assert b"SOP-GHJKMN" in raw_of(session, account)
    assert b"SOP-GHJKMN" not in raw_of(session, copy)


def test_the_notifier_is_quiet_for_backlog_mail_and_skips_suppressed_addresses(
    settings: Settings, session: Session
) -> None:
    work = work_at(settings, session)
    ticket = ticket_of(session)
    work.tell.quiet = True
    work.tell.queue_status_notice(ticket)
    assert outbox(session) == []
    assert events(session, "not_sent") == ["status: old mail from the backlog"]
    work.tell.quiet = False
    store.suppress(session, LUCIA, "5.1.1", NOW)
    work.tell.queue_status_notice(ticket)
    assert outbox(session) == [] and "hard bounce" in events(session, "not_sent")[1]


def in_hand(session: Session, row: Inbound) -> store.InHand:
    """The saved row as the pipeline hands it to the handlers."""
    found = store.inbound_in_hand(session, row.id or 0)
    assert found is not None
    return found


PEOPLE_TABLES = frozenset(("participant", "contact", "customer", "message"))


def _reads_of_people(engine: Engine) -> tuple[list[set[str]], Any]:
    """The tables each SELECT of participants, contacts, customers or messages reads."""
    seen: list[set[str]] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.split()
        tables = {after for word, after in pairwise(words) if word in ("FROM", "JOIN")}
        if words[0] == "SELECT" and tables & PEOPLE_TABLES:
            seen.append(tables)

    return seen, record


ACCOUNT_READ = {"customer", "contact"}  # store.account: the name and contacts, joined
STRANGERS = tuple(f"colega{n}@otro.example" for n in range(7))
# Who is copied in, whether the sender's customer is known, whether the mail's sender was
# verified, whether it has a Message-ID: the ways a new ticket's people are decided.
NEW_TICKETS = {
    "customer": ("gestor@otro.example, jefe@estudiolucia.es", True, True, True),
    "stranger": ("gestor@otro.example, jefe@estudiolucia.es", False, True, True),
    "unverified": ("gestor@otro.example, becario@estudiolucia.es", True, False, True),
    "over the cap": (", ".join(STRANGERS), True, True, True),
    "no message-id": ("gestor@otro.example", True, True, False),
}


@pytest.mark.parametrize("case", NEW_TICKETS.values(), ids=NEW_TICKETS.keys())
def test_a_new_ticket_mails_whom_the_database_names_without_reading_it_back(
    settings: Settings, session: Session, engine: Engine, case: tuple[str, bool, bool, bool]
) -> None:
    cc, known, verified, identified = case
    work = work_at(settings, session)
    customer_id = None
    if known:
        customer_id = store.add_customer_with_contact(session, LUCIA, "Lucía", NOW).id
        for email, notify in (("jefe@estudiolucia.es", True), ("becario@estudiolucia.es", False)):
            session.add(Contact(customer_id=customer_id, email=email, notify=notify))
    parsed, row = mail(LUCIA, "No carga la web", "Desde esta mañana.", cc=cc)
    if not identified:
        parsed = replace(parsed, message_id="")
    session.add(row)
    session.flush()
    decision = Decision(Action.NEW, "new", customer_id=customer_id, copies_verified=verified)
    reads, record = _reads_of_people(engine)
    event.listen(engine, "before_cursor_execute", record)
    try:
        outcome = apply(work, Incoming(decision, parsed, in_hand(session, row)))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # The account (name and contacts) read once when the customer was there; nothing else.
    assert reads == ([ACCOUNT_READ] if known else [])
    ticket = store.ticket_by_code(session, outcome.ticket_code)
    assert ticket is not None and ticket.id is not None
    # What the notices went out with is what the database now says.
    said = customer_recipients(
        LUCIA,
        store.notify_contacts(session, ticket.customer_id),
        store.participants(session, ticket.id),
        settings.our_addresses,
    )
    acks = [o for o in outbox(session) if o.kind == "ack"]
    assert [json.loads(o.recipients) for o in acks] == [list(said.account)] + [
        [p] for p in said.participants
    ]
    told = {r for o in outbox(session) for r in json.loads(o.recipients)}
    refused = {a for a in cc.split(", ") if a not in said.everyone}
    assert told.isdisjoint(refused)
    expected_refused = {
        "customer": set(),
        "stranger": set(),
        "unverified": {"gestor@otro.example"},  # a stranger; the contact may join
        "over the cap": set(STRANGERS[5:]),
        "no message-id": set(),
    }
    assert refused == next(v for k, v in expected_refused.items() if NEW_TICKETS[k] == case)
    thread = store.thread_references(session, ticket.id)
    assert len(thread) == 1 and (thread[0] == parsed.message_id or not identified)
    for sent in outbox(session):
        shown = message_from_bytes(raw_of(session, sent), policy=default)
        assert str(shown["References"]).split() == thread
    name = store.customer_name(session, ticket.customer_id)
    body = message_from_bytes(raw_of(session, acks[0]), policy=default).get_body(("plain",))
    assert body is not None and name in body.get_content()


def test_a_staff_reply_applies_its_commands_and_relays_the_rest(
    settings: Settings, session: Session
) -> None:
    work = work_at(settings, session)
    ticket = ticket_of(session)
    parsed, row = mail(ANA, "Re: [SOP-ABCDEF] x", "#prioridad alta\n\nYa funciona.")
    session.add(row)
    session.flush()
    decision = Decision(Action.STAFF_REPLY, "staff answer")
    done = apply_staff_reply(
        work, decision, ticket, Incoming(decision, parsed, in_hand(session, row), None)
    )
    assert done == "priority high; answer relayed"
    assert (ticket.priority, ticket.status) == ("high", "waiting")
    assert ticket.remind_at == NOW + settings.tickets.reminder_after
    (answer,) = outbox(session)
    relayed = raw_of(session, answer)
    assert answer.kind == "answer" and b"Ya funciona." in relayed
    assert b"#prioridad" not in relayed and json.loads(answer.recipients) == [LUCIA]


def test_a_wrong_command_changes_nothing_and_tells_the_staff_member(
    settings: Settings, session: Session
) -> None:
    work = work_at(settings, session)
    ticket = ticket_of(session)
    parsed, row = mail(ANA, "Re: [SOP-ABCDEF] x", "#prioridad altísima\n#fusionar SOP-ABCDEF\nHola")
    session.add(row)
    session.flush()
    decision = Decision(Action.STAFF_REPLY, "staff")
    apply_staff_reply(
        work, decision, ticket, Incoming(decision, parsed, in_hand(session, row), None)
    )
    assert (ticket.priority, ticket.status) == ("normal", "new")
    (error,) = outbox(session)
    assert error.kind == "command_error" and json.loads(error.recipients) == [ANA]
    text = message_from_bytes(raw_of(session, error), policy=default).get_body(("plain",))
    assert text is not None and "into itself" in text.get_content()
    assert "#cerrar" in text.get_content()  # the valid commands, from the registry


def test_a_reminder_fires_once_and_its_delivery_starts_the_close_clock(
    settings: Settings, engine: Engine
) -> None:
    with transaction(engine) as session:
        ticket = ticket_of(session, "waiting")
        ticket.remind_at = NOW - timedelta(minutes=1)
    sweeper = Sweeper(settings, engine, Renderer("es"))
    assert [f.kind for f in sweeper.sweep(NOW)] == ["reminder"]
    assert sweeper.sweep(NOW) == []  # claimed: a second sweep finds nothing
    with transaction(engine) as session:
        (reminder,) = outbox(session)
        assert reminder.id is not None
        row = store.outbox_in_hand(session, [reminder.id])[reminder.id]
        delivery_hooks()[reminder.kind](session, row, NOW + timedelta(minutes=2))
    with transaction(engine) as session:
        waiting = session.exec(select(Ticket)).one()
        assert waiting.reminder_sent_at == NOW + timedelta(minutes=2)
    later = NOW + timedelta(minutes=2) + settings.tickets.close_after
    assert [f.kind for f in sweeper.sweep(later)] == ["autoclose"]


def test_a_batch_commits_every_batch_seconds_and_lets_other_writers_in_between(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The heartbeat must get the database between transactions: with no time at all per
    # transaction, each of three mails is committed alone, `between` running after each.
    with transaction(engine) as session:
        for n in range(3):
            _parsed, row = mail(LUCIA, f"Consulta {n}", "Hola.")
            row.uid, row.dedup_key = n + 1, f"k{n}"
            raw = (
                f"From: {LUCIA}\r\nTo: soporte@hostingejemplo.es\r\nSubject: Consulta {n}\r\n"
                f"Message-ID: <c{n}@test>\r\n\r\nHola.\r\n"
            )
            store.add_inbound(session, row, raw.encode())
    monkeypatch.setattr(pipeline, "BATCH_SECONDS", 0.0)
    commits: list[int] = []

    def between() -> None:
        with transaction(engine) as session:  # would wait if a transaction were still open
            done = session.exec(select(Inbound).where(Inbound.state == "done")).all()
            commits.append(len(done))

    runner = pipeline.Pipeline(settings, engine, Renderer("es"), lambda: NOW)
    results = runner.process_pending(batch=100, between=between)
    assert [r.state for r in results] == ["done"] * 3
    assert commits == [1, 2, 3]
