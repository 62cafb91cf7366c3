"""Carry out a Decision inside the caller's transaction: one named handler per action.

The registry is `ACTIONS`; each handler gets the unit of work (writer and notifier) and the
mail, and returns the Outcome logged for it. A new kind of decision adds an Action in
decide.py and its handler here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from mailtickets import store
from mailtickets.bounces import Bounce
from mailtickets.customer_mail import (
    Incoming,
    Outcome,
    arrived_in,
    customer_reply,
    new_ticket,
)
from mailtickets.decide import Action
from mailtickets.mail import shorten
from mailtickets.models import Rating, Ticket
from mailtickets.people import staff_recipients
from mailtickets.rating_data import add_rating
from mailtickets.routing import route
from mailtickets.staffmail import apply_staff_reply
from mailtickets.work import Work

RECENT_CLOSED = timedelta(days=30)  # closed tickets a 'mis tickets' answer still lists


@dataclass(frozen=True)
class ActionHandler:
    """What one kind of decision does; `lifts_suppression`: a person wrote it, so an
    address that once hard-bounced works after all."""

    action: Action
    description: str
    run: Callable[[Work, Incoming], Outcome]
    lifts_suppression: bool = True


def apply(work: Work, incoming: Incoming) -> Outcome:
    """Run the handler registered for the decision's action."""
    handler = _BY_ACTION[incoming.decision.action]
    if handler.lifts_suppression and incoming.mail.from_addr:
        store.lift_suppression(work.session, incoming.mail.from_addr)
    return handler.run(work, incoming)


def _ticket(work: Work, incoming: Incoming) -> Ticket:
    assert incoming.decision.ticket is not None
    return work.write.ticket(incoming.decision.ticket.id)


def _ignore(_work: Work, incoming: Incoming) -> Outcome:
    decision = incoming.decision
    return Outcome("ignored", decision.action.value, "", decision.reason)


def _staff_reply(work: Work, incoming: Incoming) -> Outcome:
    decision, ticket = incoming.decision, _ticket(work, incoming)
    done = apply_staff_reply(work, decision, ticket, incoming)
    return Outcome("done", decision.action.value, ticket.code, f"{decision.reason}: {done}")


def _customer_reply(work: Work, incoming: Incoming) -> Outcome:
    return customer_reply(work, incoming, _ticket(work, incoming))


def _store_only(work: Work, incoming: Incoming) -> Outcome:
    """Machine mail on its ticket, nobody told; a signed bounce is recorded as one."""
    decision, mail, ticket = incoming.decision, incoming.mail, _ticket(work, incoming)
    work.write.store_message(ticket, mail, incoming.row, "in", mail.text)
    if incoming.bounce is not None:
        return _record_bounce(work, ticket, incoming.bounce)
    work.write.event(ticket, "automatic_mail", mail.from_addr or "(null sender)", decision.reason)
    return Outcome("done", decision.action.value, ticket.code, decision.reason)


def _rate(work: Work, incoming: Incoming) -> Outcome:
    """A rating of the ticket's latest closing: kept as its message, recorded once per
    closing, nobody told, the ticket left closed; a second one is only the message."""
    decision, mail, ticket = incoming.decision, incoming.mail, _ticket(work, incoming)
    rated = decision.rating
    assert rated is not None and ticket.id is not None and ticket.closed_at is not None
    work.write.store_message(ticket, mail, incoming.row, "in", incoming.reply)
    rating = Rating(
        ticket_id=ticket.id,
        closed_at=ticket.closed_at,
        score=rated.score,
        comment=rated.comment,
        by=mail.from_addr,
        at=work.now,
    )
    closing = ticket.closed_at.isoformat(timespec="minutes")
    if not add_rating(work.session, rating):
        why = f"the closing of {closing} is already rated: {rated.score} kept as a message only"
        work.write.event(ticket, "rating_not_counted", mail.from_addr, why)
        return Outcome("done", "rating_not_counted", ticket.code, why)
    said = " ".join(rated.comment.split())
    work.write.event(
        ticket, "rated", mail.from_addr, f"{rated.score}: {said}" if said else str(rated.score)
    )
    return Outcome("done", decision.action.value, ticket.code, decision.reason)


def _record_bounce(work: Work, ticket: Ticket, bounce: Bounce) -> Outcome:
    """A delivery failure of our mail: on the ticket, and hard bounces suppressed."""
    ours = store.bounced_mail(work.session, bounce)
    if ours is None:
        # No valid VERP token: anyone can write a DSN, so it proves nothing failed.
        detail = f"delivery report naming none of our mails: {bounce.summary()}"
        work.write.event(ticket, "automatic_mail", "bounce", detail)
        return Outcome("done", "bounce", ticket.code, "unsigned delivery report: kept")
    if not any(r.action == "failed" for r in bounce.recipients):
        # A delay warning (the relay still tries), or a note naming no failed recipient
        # ("held for review", "relayed"): the mail has not failed, whatever sent it.
        kind = "delivery_delayed" if bounce.recipients else "automatic_mail"
        detail = f"{ours.kind} {ours.message_id}: {bounce.summary()}, nothing failed"
        work.write.event(ticket, kind, "bounce", detail)
        return Outcome("done", "bounce", ticket.code, f"no failure reported: {bounce.summary()}")
    ours.state = "bounced"
    ours.last_error = bounce.summary()[:2000]
    work.session.add(ours)
    what = f"{ours.kind} {ours.message_id}"
    work.write.event(ticket, "delivery_failed", "bounce", f"{what}: {bounce.summary()}")
    sent_to = set(json.loads(ours.recipients))
    for failed in bounce.recipients:
        # Only an address that mail really went to can be suppressed by its bounce.
        if failed.hard and failed.address in sent_to:
            store.suppress(work.session, failed.address, bounce.summary(), work.now)
    return Outcome("done", "bounce", ticket.code, bounce.summary())


def _list_tickets(work: Work, incoming: Incoming) -> Outcome:
    """A contact asked for their tickets: answer with the list, open nothing."""
    decision, mail = incoming.decision, incoming.mail
    assert decision.customer_id is not None
    since = work.now - RECENT_CLOSED
    tickets = store.customer_tickets(work.session, decision.customer_id, since)
    tz = work.settings.tickets.tz
    rows = [
        {
            "code": t.code,
            "subject": t.subject,
            "status": t.status,
            "updated": t.updated_at.astimezone(tz),
        }
        for t in tickets
    ]
    context = {
        "company": work.settings.tickets.company_name,
        "tickets": rows,
        "customer_name": store.customer_name(work.session, decision.customer_id),
    }
    work.tell.queue("ticket_list", None, (mail.from_addr,), context, reply_to=mail.message_id)
    return Outcome("ignored", "ticket_list", "", f"{decision.reason}: {len(rows)} listed")


def _unverified_staff(work: Work, incoming: Incoming) -> Outcome:
    """Kept as an internal note, nothing applied or relayed; the real staff member is told."""
    decision, mail = incoming.decision, incoming.mail
    ticket = _ticket(work, incoming) if decision.ticket else None
    if ticket is not None:
        work.write.store_message(ticket, mail, incoming.row, "internal", incoming.reply)
        work.write.event(ticket, "staff_unverified", mail.from_addr, decision.reason)
    context = {
        "company": work.settings.tickets.company_name,
        "sender": mail.from_addr,
        "subject": mail.subject,
        "reason": decision.reason,
        "code": ticket.code if ticket else "",
    }
    work.tell.queue("spoof_warning", ticket, (mail.from_addr,), context, reply_to=mail.message_id)
    state = "done" if ticket else "ignored"
    return Outcome(state, decision.action.value, ticket.code if ticket else "", decision.reason)


def _unidentified(work: Work, incoming: Incoming) -> Outcome:
    """Kept in the inbound table, answered by no one; the department's staff see it."""
    decision, mail = incoming.decision, incoming.mail
    box = work.settings.mailbox_named(work.tell.mailbox)
    chosen = route(mail, work.settings.departments, arrived_in(box))
    department = work.settings.department(chosen.department)
    context = {
        "company": work.settings.tickets.company_name,
        "reason": decision.reason.removeprefix("unidentified sender: "),
        "from_header": shorten(
            _raw_from(store.inbound_raw(work.session, incoming.row.id or 0)), 500
        ),
        "subject": mail.subject,
        "text": mail.text,
        "attachments": [a.filename for a in mail.attachments],
    }
    work.tell.queue(
        "unidentified_sender",
        None,
        staff_recipients(department.staff, None),
        context,
        reply_to=mail.message_id,
        automatic="auto-generated",
        attachments=mail.attachments,
    )
    return Outcome("ignored", decision.action.value, "", f"{decision.reason}; staff told")


def _raw_from(raw: bytes) -> str:
    """The From header as it arrived, for staff to judge (not parsed: shown)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0][:65_536]
    match = re.search(rb"(?im)^from:[ \t]*((?:.|\r?\n[ \t])*)", head)
    value = match.group(1).decode("utf-8", "replace") if match else "(none)"
    return " ".join(value.split())


ACTIONS: tuple[ActionHandler, ...] = (
    ActionHandler(Action.IGNORE, "kept in the inbound table only", _ignore, False),
    ActionHandler(Action.NEW, "open a ticket, acknowledge it, tell staff", new_ticket),
    ActionHandler(Action.APPEND, "a customer-side reply on its ticket", _customer_reply),
    ActionHandler(Action.STAFF_REPLY, "apply staff commands, relay the answer", _staff_reply),
    ActionHandler(Action.STORE_ONLY, "machine mail on its ticket, nobody told", _store_only, False),
    ActionHandler(Action.LIST_TICKETS, "answer a contact with their tickets", _list_tickets),
    ActionHandler(
        Action.UNVERIFIED_STAFF, "kept internal; the real staff member is told", _unverified_staff
    ),
    ActionHandler(Action.UNIDENTIFIED, "no single sender: staff told", _unidentified),
    ActionHandler(Action.RATE, "record a rating of the closing, nobody told", _rate),
)
_BY_ACTION = {h.action: h for h in ACTIONS}
assert set(_BY_ACTION) == set(Action), "every Action has exactly one handler"
