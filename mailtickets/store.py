"""Every database query: reads and writes over a session the caller opened."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, update
from sqlmodel import Session, col, select

from mailtickets import verp
from mailtickets.bounces import Bounce
from mailtickets.decide import TicketView
from mailtickets.models import (
    Attachment,
    Checkpoint,
    Contact,
    Customer,
    Event,
    Inbound,
    Message,
    Outbox,
    Participant,
    SiteSecret,
    Suppression,
    Ticket,
    Worker,
)

OPEN_STATUSES = ("new", "open", "waiting")


# --- mailbox checkpoint and inbound rows -------------------------------------------------


def checkpoint(session: Session, mailbox: str) -> Checkpoint | None:
    return session.get(Checkpoint, mailbox)


def save_checkpoint(session: Session, mailbox: str, uidvalidity: int, last_uid: int) -> None:
    row = session.get(Checkpoint, mailbox)
    if row is None:
        session.add(Checkpoint(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid))
    else:
        # Within one UIDVALIDITY the checkpoint only moves forward; a new one starts afresh.
        same = row.uidvalidity == uidvalidity
        row.uidvalidity, row.last_uid = (
            uidvalidity,
            max(last_uid, row.last_uid) if same else last_uid,
        )
        session.add(row)


def known_dedup_keys(session: Session, keys: Iterable[str]) -> set[str]:
    wanted = list(keys)
    if not wanted:
        return set()
    found = session.exec(select(Inbound.dedup_key).where(col(Inbound.dedup_key).in_(wanted)))
    return set(found)


def pending_inbound_ids(session: Session, limit: int, after: int = 0) -> list[int]:
    """Up to `limit` pending rows with an id past `after`, oldest first."""
    query = (
        select(Inbound.id)
        .where(Inbound.state == "pending", col(Inbound.id) > after)
        .order_by(col(Inbound.id))
    )
    return [i for i in session.exec(query.limit(limit)) if i is not None]


def count_attempt(session: Session, inbound_id: int, seen: int) -> bool:
    """Add one to the row's attempts if it is still pending with `seen` attempts: of two
    workers that read the same count, one wins and the other leaves the row alone."""
    result = session.execute(
        update(Inbound)
        .where(
            col(Inbound.id) == inbound_id,
            col(Inbound.state) == "pending",
            col(Inbound.attempts) == seen,
        )
        .values(attempts=seen + 1)
    )
    return getattr(result, "rowcount", 0) == 1


def claim_inbound(session: Session, inbound_id: int) -> Inbound | None:
    """The row if it is still pending; the UPDATE makes a second worker's claim fail."""
    result = session.execute(
        update(Inbound)
        .where(col(Inbound.id) == inbound_id, col(Inbound.state) == "pending")
        .values(state="working")
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return session.get(Inbound, inbound_id)


# --- people --------------------------------------------------------------------------------


def contact_by_email(session: Session, email: str) -> Contact | None:
    return session.exec(select(Contact).where(Contact.email == email.lower())).first()


def add_customer_with_contact(session: Session, email: str, name: str, now: datetime) -> Contact:
    customer = Customer(name=name or email, created_at=now)
    session.add(customer)
    session.flush()
    assert customer.id is not None
    contact = Contact(customer_id=customer.id, email=email.lower(), name=name, notify=True)
    session.add(contact)
    session.flush()
    return contact


def notify_contacts(session: Session, customer_id: int) -> list[str]:
    query = select(Contact.email).where(Contact.customer_id == customer_id, Contact.notify)
    return list(session.exec(query))


def contact_emails(session: Session, customer_id: int) -> list[str]:
    """Every contact of the customer, authorised to be notified or not."""
    return list(session.exec(select(Contact.email).where(Contact.customer_id == customer_id)))


def customer_name(session: Session, customer_id: int) -> str:
    customer = session.get(Customer, customer_id)
    return customer.name if customer else ""


def participants(session: Session, ticket_id: int) -> list[str]:
    query = select(Participant.email).where(Participant.ticket_id == ticket_id)
    return list(session.exec(query))


def add_participants(session: Session, ticket_id: int, emails: Iterable[str]) -> None:
    existing = set(participants(session, ticket_id))
    for email in emails:
        if email not in existing:
            session.add(Participant(ticket_id=ticket_id, email=email))
            existing.add(email)


# --- tickets -------------------------------------------------------------------------------


def ticket_by_code(session: Session, code: str) -> Ticket | None:
    return session.exec(select(Ticket).where(Ticket.code == code.upper())).first()


def ticket_by_message_ids(session: Session, message_ids: Sequence[str]) -> Ticket | None:
    """The ticket of the first of `message_ids` that we stored or sent."""
    if not message_ids:
        return None
    for mid in message_ids:
        ticket_id = (
            session.exec(select(Message.ticket_id).where(Message.message_id == mid)).first()
            or session.exec(select(Outbox.ticket_id).where(Outbox.message_id == mid)).first()
        )
        if ticket_id is not None:
            return session.get(Ticket, ticket_id)
    return None


def ticket_view(session: Session, ticket: Ticket) -> TicketView:
    assert ticket.id is not None
    return TicketView(
        id=ticket.id,
        code=ticket.code,
        status=ticket.status,
        customer_id=ticket.customer_id,
        requester=ticket.requester,
        participants=frozenset(participants(session, ticket.id)),
        closed_at=ticket.closed_at,
    )


def open_tickets_of(session: Session, customer_id: int, but: int | None) -> list[Ticket]:
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id, col(Ticket.status).in_(OPEN_STATUSES))
        .where(Ticket.id != but)
        .order_by(col(Ticket.created_at))
    )
    return list(session.exec(query.limit(10)))


def list_tickets(session: Session, status: str | None, department: str | None) -> list[Ticket]:
    query = select(Ticket).order_by(col(Ticket.created_at))
    if status:
        query = query.where(Ticket.status == status)
    if department:
        query = query.where(Ticket.department == department)
    return list(session.exec(query))


def messages_of(session: Session, ticket_id: int) -> list[Message]:
    query = select(Message).where(Message.ticket_id == ticket_id).order_by(col(Message.id))
    return list(session.exec(query))


def attachment_names(session: Session, message_id: int) -> list[str]:
    query = select(Attachment.filename).where(Attachment.message_id == message_id)
    return list(session.exec(query.order_by(col(Attachment.id))))


def events_of(session: Session, ticket_id: int) -> list[Event]:
    query = select(Event).where(Event.ticket_id == ticket_id).order_by(col(Event.id))
    return list(session.exec(query))


def thread_references(session: Session, ticket_id: int, limit: int = 10) -> list[str]:
    """Message-IDs of the ticket's conversation, oldest first, for a References header."""
    query = (
        select(Message.message_id)
        .where(Message.ticket_id == ticket_id, Message.direction != "internal")
        .order_by(col(Message.id).desc())
    )
    newest = list(session.exec(query.limit(limit)))
    return list(reversed(newest))


def add_event(
    session: Session, ticket_id: int, at: datetime, kind: str, actor: str, detail: str
) -> None:
    session.add(Event(ticket_id=ticket_id, at=at, kind=kind, actor=actor, detail=detail))


def add_message(session: Session, message: Message, attachments: Iterable[Attachment]) -> Message:
    session.add(message)
    session.flush()
    assert message.id is not None
    for attachment in attachments:
        attachment.message_id = message.id
        session.add(attachment)
    return message


def recipients_json(recipients: Iterable[str]) -> str:
    return json.dumps(list(recipients))


# --- outbox --------------------------------------------------------------------------------


def due_outbox(
    session: Session, now: datetime, limit: int, live_since: datetime, worker_id: str
) -> list[Outbox]:
    """Pending rows due at `now` that `worker_id` may claim (see claim_outbox), oldest first."""
    query = (
        select(Outbox)
        .where(Outbox.state == "pending", col(Outbox.next_attempt_at) <= now)
        .where(_claimable(live_since, worker_id))
        .order_by(col(Outbox.id))
    )
    return list(session.exec(query.limit(limit)))


def _claimable(live_since: datetime, worker_id: str) -> ColumnElement[bool]:
    """Held by no one, by a worker whose heartbeat is older than `live_since` or whose row
    is gone (a claim lasts only while its holder is alive: workers.py), or by `worker_id`
    itself: a worker sends one batch at a time, so a claim of its own found when it claims
    again was left by a flush that failed half way."""
    live = select(Worker.id).where(col(Worker.heartbeat_at) >= live_since)
    return or_(
        col(Outbox.claimed_by).is_(None),
        col(Outbox.claimed_by) == worker_id,
        col(Outbox.claimed_by).not_in(live),
    )


def claim_outbox(
    session: Session,
    ids: Sequence[int],
    worker_id: str,
    now: datetime,
    live_since: datetime,
    at: datetime,
) -> list[int]:
    """Claim for `worker_id` those of `ids` still due at `now` and held by no other live
    worker; the ids it won. One conditional UPDATE: of two workers, each row goes to one."""
    if not ids:
        return []
    session.execute(
        update(Outbox)
        .where(col(Outbox.id).in_(list(ids)), col(Outbox.state) == "pending")
        .where(col(Outbox.next_attempt_at) <= now, _claimable(live_since, worker_id))
        .values(claimed_by=worker_id, claimed_at=at)
        .execution_options(synchronize_session=False)
    )
    won = select(Outbox.id).where(col(Outbox.id).in_(list(ids)), Outbox.claimed_by == worker_id)
    return [i for i in session.exec(won) if i is not None]


def release_claims(session: Session, worker_id: str, ids: Sequence[int] | None = None) -> int:
    """Give back `worker_id`'s claims (only on `ids` if given); how many there were."""
    statement = update(Outbox).where(col(Outbox.claimed_by) == worker_id)
    if ids is not None:
        statement = statement.where(col(Outbox.id).in_(list(ids)))
    result = session.execute(
        statement.values(claimed_by=None, claimed_at=None).execution_options(
            synchronize_session=False
        )
    )
    return int(getattr(result, "rowcount", 0))


@dataclass(frozen=True)
class ClaimHolder:
    """Who holds pending outbox rows, how many, and since when (its row None if gone)."""

    worker_id: str
    worker: Worker | None
    claims: int
    oldest_claim: datetime

    @property
    def host(self) -> str:
        return self.worker.host if self.worker else ""

    @property
    def pid(self) -> int | None:
        return self.worker.pid if self.worker else None

    @property
    def heartbeat_at(self) -> datetime | None:
        return self.worker.heartbeat_at if self.worker else None


def outbox_claim_holders(session: Session) -> list[ClaimHolder]:
    """Every holder of a claim on a pending outbox row, the oldest claim first."""
    query = (
        select(Outbox.claimed_by, func.count(), func.min(Outbox.claimed_at))
        .where(Outbox.state == "pending", col(Outbox.claimed_by).is_not(None))
        .group_by(col(Outbox.claimed_by))
        .order_by(func.min(Outbox.claimed_at))
    )
    holders = []
    for worker_id, claims, oldest in session.exec(query):
        assert worker_id is not None and oldest is not None
        holders.append(ClaimHolder(worker_id, session.get(Worker, worker_id), claims, oldest))
    return holders


# --- workers -------------------------------------------------------------------------------


def add_worker(session: Session, worker: Worker) -> None:
    """Insert the worker's row, or overwrite one a failed stop left under the same id."""
    session.merge(worker)


def renew_worker(session: Session, worker_id: str, at: datetime) -> bool:
    """Set the worker's heartbeat; False when its row is gone (another found it dead)."""
    result = session.execute(
        update(Worker)
        .where(col(Worker.id) == worker_id)
        .values(heartbeat_at=at)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def workers(session: Session) -> list[Worker]:
    return list(session.exec(select(Worker).order_by(col(Worker.started_at))))


def remove_worker(session: Session, worker_id: str) -> int | None:
    """Remove a worker's row and give back its outbox claims; how many it held, None when
    its row was already gone (another worker removed it first)."""
    freed = release_claims(session, worker_id)
    result = session.execute(
        delete(Worker)
        .where(col(Worker.id) == worker_id)
        .execution_options(synchronize_session=False)
    )
    return freed if getattr(result, "rowcount", 0) == 1 else None


def outbox_rows(session: Session, ticket_id: int | None = None) -> list[Outbox]:
    """Every outbox row (pending, sent or failed), oldest first, for one ticket or all."""
    query = select(Outbox).order_by(col(Outbox.id))
    if ticket_id is not None:
        query = query.where(Outbox.ticket_id == ticket_id)
    return list(session.exec(query))


def inbound_rows(session: Session, states: Sequence[str]) -> list[Inbound]:
    query = select(Inbound).where(col(Inbound.state).in_(list(states)))
    return list(session.exec(query.order_by(col(Inbound.id))))


def recent_outbox_to(session: Session, kind: str, recipient: str, since: datetime) -> bool:
    """Whether a `kind` mail to exactly `recipient` was queued after `since` (rate limit)."""
    query = select(Outbox.id).where(
        Outbox.kind == kind,
        Outbox.recipients == recipients_json([recipient]),
        col(Outbox.created_at) >= since,
    )
    return session.exec(query).first() is not None


def follow_merges(session: Session, ticket: Ticket | None) -> Ticket | None:
    """The ticket a merged ticket lives on in (through chains), else `ticket` itself."""
    seen: set[int] = set()
    while ticket is not None and ticket.status == "merged" and ticket.linked_to_id:
        if ticket.linked_to_id in seen:
            break
        seen.add(ticket.linked_to_id)
        ticket = session.get(Ticket, ticket.linked_to_id)
    return ticket


def customer_tickets(session: Session, customer_id: int, closed_since: datetime) -> list[Ticket]:
    """A customer's open tickets and those closed after `closed_since`, newest first."""
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id)
        .where(or_(col(Ticket.status).in_(OPEN_STATUSES), col(Ticket.updated_at) >= closed_since))
        .where(Ticket.status != "merged")
        .order_by(col(Ticket.updated_at).desc())
    )
    return list(session.exec(query.limit(50)))


def due_ticket_ids(
    session: Session, column: Any, cutoff: datetime, limit: int, *conditions: Any
) -> list[int]:
    """Ids of tickets whose timer `column` is set and at or before `cutoff` (index range)."""
    query = (
        select(Ticket.id)
        .where(col(column).is_not(None), col(column) <= cutoff, *conditions)
        .order_by(col(column))
        .limit(limit)
    )
    return [i for i in session.exec(query) if i is not None]


def mark_reminder_sent(session: Session, outbox: Outbox, sent_at: datetime) -> None:
    """The close clock starts when the reminder really left (or could never leave), and
    only for the ticket's current reminder, not a stale one sent late."""
    ticket = session.get(Ticket, outbox.ticket_id) if outbox.ticket_id else None
    if ticket is not None and ticket.reminder_outbox_id == outbox.id and ticket.status == "waiting":
        ticket.reminder_sent_at = sent_at
        ticket.reminder_outbox_id = None
        session.add(ticket)


def to_quarantine(session: Session, mailbox: str) -> list[Inbound]:
    query = select(Inbound).where(
        Inbound.mailbox == mailbox, Inbound.server_state == "to_quarantine"
    )
    return list(session.exec(query.order_by(col(Inbound.id))))


def mark_quarantined(session: Session, ids: Sequence[int]) -> None:
    session.execute(
        update(Inbound).where(col(Inbound.id).in_(list(ids))).values(server_state="quarantined")
    )


def requeue_inbound(session: Session, inbound_id: int) -> Inbound | None:
    """Put a quarantined mail back in the queue with its attempts reset."""
    row = session.get(Inbound, inbound_id)
    if row is None or row.state != "failed":
        return None
    row.state, row.attempts = "pending", 0
    session.add(row)
    return row


def bounced_mail(session: Session, bounce: Bounce) -> Outbox | None:
    """The outgoing mail a bounce is about, only through its signed VERP address: a bounce
    naming no valid token (a forgery quoting one of our Message-IDs) is about nothing."""
    if bounce.outbox_id is None:
        return None
    row = session.get(Outbox, bounce.outbox_id)
    key = site_secret(session, "verp")
    if row is None or not verp.valid(key, bounce.outbox_id, row.message_id, bounce.verp_token):
        return None
    returned = bounce.original_message_id  # the returned headers, when the bounce has them
    return row if not returned or returned == row.message_id else None


def site_secret(session: Session, name: str) -> str:
    """A key the migrations made for this installation (see versions/0002)."""
    row = session.get(SiteSecret, name)
    if row is None:
        raise LookupError(f"site secret {name!r} is missing: run `mailtickets db upgrade`")
    return row.value


def suppressed(session: Session, emails: Iterable[str]) -> set[str]:
    wanted = list(emails)
    if not wanted:
        return set()
    query = select(Suppression.email).where(col(Suppression.email).in_(wanted))
    return set(session.exec(query))


def suppress(session: Session, email: str, reason: str, at: datetime) -> None:
    row = session.get(Suppression, email.lower())
    if row is None:
        session.add(Suppression(email=email.lower(), reason=reason, at=at))


def lift_suppression(session: Session, email: str) -> bool:
    row = session.get(Suppression, email.lower())
    if row is None:
        return False
    session.delete(row)
    return True


def automatic_mail_count(session: Session, recipient: str, since: datetime) -> int:
    """Automatic mails queued to `recipient` since `since` (for the hourly limit)."""
    query = select(Outbox.id).where(
        Outbox.automatic,
        col(Outbox.created_at) >= since,
        # Escaped: "_" and "%" in an address are letters, not LIKE wildcards.
        col(Outbox.recipients).contains(f'"{recipient}"', autoescape=True),
    )
    return len(list(session.exec(query)))


def unmarked_uids(session: Session, mailbox: str, uidvalidity: int) -> list[int]:
    query = select(Inbound.uid).where(
        Inbound.mailbox == mailbox,
        Inbound.uidvalidity == uidvalidity,
        Inbound.server_state == "to_mark",
    )
    return list(session.exec(query.order_by(col(Inbound.uid))))


def mark_server_done(session: Session, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> None:
    session.execute(
        update(Inbound)
        .where(
            col(Inbound.mailbox) == mailbox,
            col(Inbound.uidvalidity) == uidvalidity,
            col(Inbound.uid).in_(list(uids)),
            col(Inbound.server_state) == "to_mark",
        )
        .values(server_state="")
    )
