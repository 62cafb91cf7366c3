"""Every database table, and nothing else: the state that matters lives here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Index, LargeBinary, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class AwareDateTime(TypeDecorator[datetime]):
    """Stores UTC, hands back timezone-aware datetimes on every backend (SQLite drops tz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(**kw: Any) -> Any:
    return Field(sa_type=AwareDateTime, **kw)


class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    created_at: datetime = _when()
    # From the contacts import (SPEC §11): the kind of service, which help-centre answers
    # apply ("Web autogestionada", "Web gestionada"), and the customer's own domains.
    plan: str = ""
    domains: str = "[]"  # JSON list of domain names


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    email: str = Field(unique=True)
    name: str = ""
    notify: bool = True


class Ticket(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    subject: str
    status: str = Field(index=True)
    priority: str = "normal"
    department: str = Field(index=True)
    requester: str
    customer_id: int = Field(foreign_key="customer.id", index=True)
    assignee: str | None = None
    linked_to_id: int | None = Field(default=None, foreign_key="ticket.id")
    created_at: datetime = _when()
    updated_at: datetime = _when()
    last_customer_at: datetime | None = _when(default=None)
    last_staff_at: datetime | None = _when(default=None)
    closed_at: datetime | None = _when(default=None)
    # Timers live here, in indexed columns: a sweep reads only what is due.
    remind_at: datetime | None = _when(default=None, index=True)
    reminder_sent_at: datetime | None = _when(default=None, index=True)
    reminder_outbox_id: int | None = None  # the reminder whose delivery starts the close clock
    first_response_due: datetime | None = _when(default=None, index=True)
    sla_escalated_at: datetime | None = _when(default=None)
    # The [[mailboxes]] name its mail is answered from; None: the first mailbox (SPEC §3).
    mailbox: str | None = None


class Participant(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("ticket_id", "email"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    email: str


class Message(SQLModel, table=True):
    """One mail of a ticket's conversation, incoming or outgoing, or an internal note."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    inbound_id: int | None = Field(default=None, foreign_key="inbound.id")
    direction: str  # in | out | internal
    message_id: str = Field(index=True)
    sender: str
    recipients: str = "[]"  # JSON list
    subject: str = ""
    date: datetime = _when()
    text: str = ""
    html: str = ""


class Attachment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    filename: str
    content_type: str
    size: int
    data: bytes = Field(sa_type=LargeBinary)


class Event(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    at: datetime = _when()
    kind: str
    actor: str
    detail: str = ""


class Inbound(SQLModel, table=True):
    """A fetched mail, saved before anything is decided or the server is touched; its bytes
    are in InboundBody."""

    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid"),
        Index("ix_inbound_sender_id", "sender", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    mailbox: str
    uidvalidity: int
    uid: int
    dedup_key: str = Field(unique=True)
    message_id: str = ""
    # The From address, lower case ("" if none is usable): one sender's mails are processed
    # in order, never two at once by two workers (store.pending_inbound says why).
    sender: str = ""
    internal_date: datetime | None = _when(default=None)
    fetched_at: datetime = _when()
    state: str = Field(default="pending", index=True)  # pending|done|ignored|failed|spam
    attempts: int = 0
    # The worker that counted the latest attempt: while it lives the row is its to process,
    # so another worker does not take it for a retry and count an attempt that never was
    # (workers.py's liveness; no foreign key, as for outbox claims).
    attempted_by: str | None = None
    error: str = ""
    outcome: str = ""
    ticket_code: str = ""
    processed_at: datetime | None = _when(default=None)
    quarantined_at: datetime | None = _when(default=None)
    # "" nothing to do on the server; "to_quarantine" to move/flag; "quarantined" done.
    server_state: str = Field(default="", index=True)
    # When ops released it from the spam hold (`spam release`): processed as ordinary mail
    # from then on, never judged spam again (state "spam" is a held mail; spam.py).
    spam_released_at: datetime | None = _when(default=None)


class InboundBody(SQLModel, table=True):
    """The bytes of an inbound mail, in a table of their own: updating an inbound row (its
    claim, its state, its server flag) makes SQLite rewrite the row whole, which cost a
    copy of a 25 MB mail each time while the bytes lived in it."""

    inbound_id: int = Field(foreign_key="inbound.id", primary_key=True)
    raw: bytes = Field(sa_type=LargeBinary)


class Outbox(SQLModel, table=True):
    """A rendered mail waiting for the SMTP relay; kept after sending as the audit trail."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    kind: str
    message_id: str = Field(unique=True)
    envelope_from: str
    recipients: str  # JSON list
    state: str = Field(default="pending", index=True)  # pending|sent|failed|bounced
    automatic: bool = False  # written by no person: rate-limited, never to suppressed addresses
    attempts: int = 0
    next_attempt_at: datetime = _when(index=True)
    last_error: str = ""
    created_at: datetime = _when()
    sent_at: datetime | None = _when(default=None)
    # Who is sending it now (a Worker id) and since when; free again once that worker's
    # heartbeat is stale or its row is gone (workers.py). No foreign key: a holder's row
    # is removed when it stops or is found dead, and a claim naming no row is simply free.
    claimed_by: str | None = Field(default=None, index=True)
    claimed_at: datetime | None = _when(default=None)
    # Whose relay sends it: a [[mailboxes]] name; None: the first mailbox's (SPEC §3).
    mailbox: str | None = None


class OutboxBody(SQLModel, table=True):
    """The bytes of an outbox mail, in a table of their own (as InboundBody): claiming an
    outbox row and recording the relay's answer made SQLite rewrite it whole, the mail and
    its attachments with it, twice for every mail sent."""

    outbox_id: int = Field(foreign_key="outbox.id", primary_key=True)
    raw: bytes = Field(sa_type=LargeBinary)


class AutoMail(SQLModel, table=True):
    """One automatic mail queued to one address, for the hourly limit per address: counted
    by an index instead of searching the outbox's recipient lists. Rows older than the
    limit's hour are dropped when that address is next counted."""

    __table_args__ = (Index("ix_automail_email_at", "email", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    email: str
    at: datetime = _when()


class Checkpoint(SQLModel, table=True):
    """How far a mailbox has been read: UIDVALIDITY and the last UID saved."""

    mailbox: str = Field(primary_key=True)
    uidvalidity: int
    last_uid: int


class Suppression(SQLModel, table=True):
    """An address that hard-bounced: no automatic mail until it writes to us again."""

    email: str = Field(primary_key=True)
    reason: str
    at: datetime = _when()


class SiteSecret(SQLModel, table=True):
    """A key made once per installation (at the first start), e.g. for signing VERP addresses."""

    name: str = Field(primary_key=True)
    value: str = Field(repr=False)


class TicketCheck(SQLModel, table=True):
    """One automatic check of a ticket (SPEC §11, ticket_checks.py): queued with the ticket
    (`round` 1) or its reopening (2, 3 …), run by whichever worker claims it, its findings
    kept once done; `reported_at` set on a round's rows once its note is written."""

    __tablename__ = "ticket_check"
    __table_args__ = (UniqueConstraint("ticket_id", "round", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    round: int = 1
    name: str
    state: str = Field(default="pending", index=True)  # pending | done
    targets: str  # JSON: assistant.targets.Targets.as_data()
    findings: str = ""  # JSON list of assistant.findings.Finding.as_data(), once done
    queued_at: datetime = _when()
    deadline: datetime = _when()  # queued_at + total_budget: the staff notice waits till then
    claimed_by: str | None = None
    claimed_at: datetime | None = _when(default=None)
    finished_at: datetime | None = _when(default=None)
    reported_at: datetime | None = _when(default=None, index=True)  # IS NULL: to report


class TimeEntry(SQLModel, table=True):
    """Time a staff member spent on a ticket (`#tiempo 25m`, SPEC §12), for invoicing."""

    __tablename__ = "time_entry"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    staff: str = Field(index=True)  # the staff member's address
    minutes: int
    at: datetime = _when(index=True)
    message_id: str = ""  # the staff mail that recorded it: the same mail twice counts once


class Rating(SQLModel, table=True):
    """A customer's satisfaction rating of one closing (SPEC §12): 1 to 5 and a comment."""

    __table_args__ = (UniqueConstraint("ticket_id", "closed_at"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    closed_at: datetime = _when()  # the closing it rates: once per closing
    score: int
    comment: str = ""
    by: str  # the requester or an authorised contact
    at: datetime = _when(index=True)


class Alert(SQLModel, table=True):
    """A problem a person must act on, raised once (alerts.py): `key` names it, e.g.
    "imap:soporte" for a mailbox login whose credential is refused; open while `cleared_at`
    is None."""

    key: str = Field(primary_key=True)
    detail: str
    raised_at: datetime = _when()
    cleared_at: datetime | None = _when(default=None)


class Worker(SQLModel, table=True):
    """A running mailtickets process: outbox claims name it and last only while it beats."""

    id: str = Field(primary_key=True)  # host:pid:random, unique per process
    host: str
    pid: int
    # Which OS process this is (boot, PID namespace, pid, start time), so a process on the
    # same machine can tell at once that this one is gone, whatever its heartbeat says.
    process: str
    started_at: datetime = _when()
    heartbeat_at: datetime = _when()


class MailboxWatch(SQLModel, table=True):
    """Who watches a mailbox (a Worker id) and how its fetches went: the lease of watch.py,
    valid only while that worker beats; what `status` reports per mailbox."""

    __tablename__ = "mailbox_watch"
    mailbox: str = Field(primary_key=True)  # ingest.mailbox_key
    # No foreign key, as for outbox claims: a holder whose row is gone simply holds nothing.
    holder: str | None = None
    held_since: datetime | None = _when(default=None)
    last_fetch_at: datetime | None = _when(default=None)  # the last fetch that succeeded
    last_error: str = ""
    last_error_at: datetime | None = _when(default=None)
