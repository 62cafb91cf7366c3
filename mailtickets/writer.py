"""The ticket writer: tickets, their messages, participants, status and events (one session)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from mailtickets import store
from mailtickets.mail import ParsedMail
from mailtickets.models import Ticket
from mailtickets.people import Admission, admit_participants, new_participants
from mailtickets.settings import Settings

SYSTEM = "mailtickets"


class TicketWriter:
    """Writes a decision makes to tickets, inside the caller's transaction; sends nothing."""

    def __init__(self, settings: Settings, session: Session, now: datetime) -> None:
        self.settings, self.session, self.now = settings, session, now
        # The department and wall time of a ticket's first staff answer made here, for the
        # first-response metric: only this moment knows it is the first (last_staff_at is
        # overwritten by every answer).
        self.first_answer: tuple[str, timedelta] | None = None

    def ticket(self, ticket_id: int) -> Ticket:
        ticket = store.ticket_by_id(self.session, ticket_id)
        assert ticket is not None
        return ticket

    def store_message(
        self, ticket: Ticket, mail: ParsedMail, row: store.InHand, direction: str, text: str
    ) -> str:
        """The mail as one message of the ticket, with its attachments; its Message-ID."""
        assert ticket.id is not None
        message = {
            "ticket_id": ticket.id,
            "inbound_id": row.id,
            "direction": direction,
            "message_id": mail.message_id or f"<inbound-{row.id}@mailtickets.invalid>",
            "sender": mail.from_addr,
            "recipients": store.recipients_json((*mail.to, *mail.cc)),
            "subject": mail.subject,
            "date": mail.date or row.internal_date or self.now,
            "text": text,
            "html": mail.html if direction != "internal" else "",
        }
        attachments = [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": len(a.data),
                "data": a.data,
            }
            for a in mail.attachments
        ]
        store.add_message(self.session, message, attachments)
        self.touch(ticket)
        return str(message["message_id"])

    def touch(self, ticket: Ticket) -> None:
        # Setting the same instant again would still mark the row changed, and the next
        # read of tickets would run the ORM's flush for nothing (a new ticket, every mail).
        if ticket.updated_at != self.now:
            ticket.updated_at = self.now
        self.session.add(ticket)

    def add_participants(
        self,
        ticket: Ticket,
        mail: ParsedMail,
        verified: bool,
        account: store.Account | None = None,
        existing: Sequence[str] | None = None,
    ) -> Admission:
        """Copied addresses join the ticket, within the caps and only from a verified mail
        unless they are the customer's contacts; they never become contacts themselves.
        `account` and `existing` (the participants): when the caller has them already."""
        assert ticket.id is not None
        assert account is None or account.id == ticket.customer_id
        staff = frozenset(s.email for s in self.settings.staff)
        copied = new_participants(mail.to, mail.cc, self.settings.our_addresses, staff)
        limits = self.settings.limits
        if existing is None:
            existing = store.participants(self.session, ticket.id)
        if account is None:
            contacts = frozenset(store.contact_emails(self.session, ticket.customer_id))
        else:
            contacts = frozenset(account.contacts)
        admission = admit_participants(
            (a for a in copied if a != ticket.requester),
            existing,
            contacts,
            verified,
            limits.max_participants_per_mail,
            limits.max_participants_per_ticket,
        )
        store.add_participants(self.session, ticket.id, admission.added, existing)
        if admission.refused:
            listed = ", ".join(f"{a} ({why})" for a, why in admission.refused[:20])
            more = len(admission.refused) - 20
            suffix = f" and {more} more" if more > 0 else ""
            self.event(ticket, "participants_refused", SYSTEM, f"not added: {listed}{suffix}")
        return admission

    def set_status(self, ticket: Ticket, status: str, actor: str, reason: str) -> bool:
        """Change the status with an event; False when it already was `status`."""
        if status == ticket.status:
            return False
        self.event(ticket, "status", actor, f"{ticket.status} → {status}: {reason}")
        ticket.status = status
        ticket.closed_at = self.now if status == "closed" else None
        if status != "waiting":
            ticket.remind_at = ticket.reminder_sent_at = ticket.reminder_outbox_id = None
        if status in ("closed", "merged"):
            ticket.first_response_due = None
        self.touch(ticket)
        return True

    def answered_by_staff(self, ticket: Ticket) -> None:
        """A staff answer reached the customer: SLA met, reminder clock starts."""
        if ticket.last_staff_at is None:
            self.first_answer = (ticket.department, self.now - ticket.created_at)
        ticket.last_staff_at = self.now
        ticket.first_response_due = None
        if ticket.status == "waiting":
            ticket.remind_at = self.now + self.settings.tickets.reminder_after
            ticket.reminder_sent_at = ticket.reminder_outbox_id = None
        self.touch(ticket)

    def heard_from_customer(self, ticket: Ticket) -> None:
        """Any customer message cancels a pending reminder and auto-close."""
        ticket.last_customer_at = self.now
        ticket.remind_at = ticket.reminder_sent_at = ticket.reminder_outbox_id = None
        self.touch(ticket)

    def event(self, ticket: Ticket, kind: str, actor: str, detail: str) -> None:
        assert ticket.id is not None
        store.add_event(self.session, ticket.id, self.now, kind, actor, detail)
