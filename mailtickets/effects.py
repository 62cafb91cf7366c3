"""The writes every decision is made of: messages, status, events, queued mail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from mailtickets import store
from mailtickets.compose import Envelope, compose
from mailtickets.config import Department, Settings
from mailtickets.mail import ParsedAttachment, ParsedMail
from mailtickets.models import Attachment, Inbound, Message, Outbox, Ticket
from mailtickets.notify import Renderer
from mailtickets.people import (
    Admission,
    Recipients,
    admit_participants,
    customer_recipients,
    new_participants,
    staff_recipients,
)

SYSTEM = "mailtickets"


class Effects:
    """Writes inside the caller's transaction; mail is rendered now and sent later."""

    def __init__(self, settings: Settings, renderer: Renderer, session: Session, now: datetime):
        self.settings, self.renderer, self.session, self.now = settings, renderer, session, now
        # Old mail taken in from a mailbox's backlog: stored and threaded, nobody mailed.
        self.quiet = False

    def ticket(self, ticket_id: int) -> Ticket:
        ticket = self.session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket

    def department(self, name: str) -> Department:
        found = (d for d in self.settings.departments if d.name == name)
        return next(found, self.settings.default_department)

    def store_message(
        self, ticket: Ticket, mail: ParsedMail, row: Inbound, direction: str, text: str
    ) -> None:
        """The mail as one message of the ticket, with its attachments."""
        assert ticket.id is not None
        message = Message(
            ticket_id=ticket.id,
            inbound_id=row.id,
            direction=direction,
            message_id=mail.message_id or f"<inbound-{row.id}@mailtickets.invalid>",
            sender=mail.from_addr,
            recipients=store.recipients_json((*mail.to, *mail.cc)),
            subject=mail.subject,
            date=mail.date or row.internal_date or self.now,
            text=text,
            html=mail.html if direction != "internal" else "",
        )
        attachments = [
            Attachment(
                message_id=0,
                filename=a.filename,
                content_type=a.content_type,
                size=len(a.data),
                data=a.data,
            )
            for a in mail.attachments
        ]
        store.add_message(self.session, message, attachments)
        self.touch(ticket)

    def touch(self, ticket: Ticket) -> None:
        ticket.updated_at = self.now
        self.session.add(ticket)

    def add_participants(self, ticket: Ticket, mail: ParsedMail, verified: bool) -> Admission:
        """Copied addresses join the ticket, within the caps and only from a verified mail
        unless they are the customer's contacts; they never become contacts themselves."""
        assert ticket.id is not None
        staff = frozenset(s.email for s in self.settings.staff)
        copied = new_participants(mail.to, mail.cc, self.settings.our_addresses, staff)
        limits = self.settings.limits
        admission = admit_participants(
            (a for a in copied if a != ticket.requester),
            store.participants(self.session, ticket.id),
            frozenset(store.contact_emails(self.session, ticket.customer_id)),
            verified,
            limits.max_participants_per_mail,
            limits.max_participants_per_ticket,
        )
        store.add_participants(self.session, ticket.id, admission.added)
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

    def customer_recipients(self, ticket: Ticket, exclude: tuple[str, ...] = ()) -> Recipients:
        assert ticket.id is not None
        return customer_recipients(
            ticket.requester,
            store.notify_contacts(self.session, ticket.customer_id),
            store.participants(self.session, ticket.id),
            self.settings.our_addresses,
            exclude,
        )

    def staff_recipients(self, ticket: Ticket, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
        dept = self.department(ticket.department)
        return staff_recipients(dept.staff, ticket.assignee, exclude)

    def context(self, ticket: Ticket, **extra: Any) -> dict[str, Any]:
        """What every template may use about a ticket, plus `extra`."""
        cfg = self.settings.tickets
        context: dict[str, Any] = {
            "code": ticket.code,
            "subject": ticket.subject,
            "status": ticket.status,
            "priority": ticket.priority,
            "department": ticket.department,
            "assignee": ticket.assignee or "",
            "customer_name": store.customer_name(self.session, ticket.customer_id),
            "company": cfg.company_name,
            "hours": cfg.support_hours,
            "expected": "",
            "needs_domain": False,
            "open_tickets": [],
            "not_added": [],
            "reason": "",
            "reminder_minutes": int(cfg.reminder_after.total_seconds() // 60),
            "close_minutes": int(cfg.close_after.total_seconds() // 60),
            "reopen_minutes": int(cfg.reopen_within.total_seconds() // 60),
        }
        context.update(extra)
        return context

    def queue_status_notice(self, ticket: Ticket, reason: str = "") -> None:
        """Tell the customer's side that the ticket's status changed (never who changed it)."""
        self.queue_to_customer("status", ticket, self.context(ticket, reason=reason))

    def queue_to_customer(
        self, kind: str, ticket: Ticket, context: dict[str, Any], **options: Any
    ) -> Outbox | None:
        """`kind` to the account in one mail, then to each participant alone (To: the
        requester and that participant), without what only the account may see; the
        account's row (else the first queued), or None when nobody may be sent it."""
        recipients = self.customer_recipients(ticket)
        rows = [self.queue(kind, ticket, recipients.account, context, **options)]
        shared = {**context, "open_tickets": []}
        for participant in recipients.participants:
            shown = tuple(dict.fromkeys((ticket.requester, participant)))
            rows.append(self.queue(kind, ticket, (participant,), shared, shown_to=shown, **options))
        return next((r for r in rows if r is not None), None)

    def queue_staff_notice(
        self, kind: str, ticket: Ticket, mail: ParsedMail, text: str, **extra: Any
    ) -> None:
        """New ticket or customer reply to the department's staff (or the assignee)."""
        context = self.context(
            ticket,
            text=text,
            sender=mail.from_addr,
            attachments=[a.filename for a in mail.attachments],
            **{"reopened": False, **extra},
        )
        recipients = self.staff_recipients(ticket, exclude=(mail.from_addr,))
        self.queue(
            kind,
            ticket,
            recipients,
            context,
            reply_to=mail.message_id,
            automatic="auto-generated",
            attachments=mail.attachments,
        )

    def _deliverable(
        self, ticket: Ticket | None, kind: str, recipients: tuple[str, ...], automatic: str
    ) -> tuple[str, ...]:
        """Automatic mail skips hard-bounced addresses; answers to people are rate-limited."""
        dropped = store.suppressed(self.session, recipients)
        if automatic == "auto-replied":
            since = self.now - timedelta(hours=1)
            limit = self.settings.policy.max_auto_replies_per_hour
            dropped |= {
                r for r in recipients if store.automatic_mail_count(self.session, r, since) >= limit
            }
        if dropped and ticket is not None:
            self.event(
                ticket,
                "not_sent",
                SYSTEM,
                f"{kind} not sent to {', '.join(sorted(dropped))} "
                "(hard bounce, or automatic replies per hour reached)",
            )
        return tuple(r for r in recipients if r not in dropped)

    def queue(
        self,
        kind: str,
        ticket: Ticket | None,
        recipients: tuple[str, ...],
        context: dict[str, Any],
        reply_to: str = "",
        from_name: str = "",
        automatic: str = "auto-replied",
        attachments: Sequence[ParsedAttachment] = (),
        shown_to: tuple[str, ...] = (),
    ) -> Outbox | None:
        """Render `kind` and put it in the outbox, threaded under the ticket's messages;
        the row, or None when nobody may be sent it."""
        if self.quiet:
            if ticket is not None:
                self.event(ticket, "not_sent", SYSTEM, f"{kind}: old mail from the backlog")
            return None
        if automatic:
            recipients = self._deliverable(ticket, kind, recipients, automatic)
        if not recipients:
            return None
        references = (
            store.thread_references(self.session, ticket.id) if ticket and ticket.id else []
        )
        in_reply_to = reply_to or (references[-1] if references else "")
        envelope = Envelope(
            from_address=self.settings.smtp.from_address,
            from_name=from_name or self.settings.smtp.from_name,
            to=recipients,
            code=ticket.code if ticket else "",
            in_reply_to=in_reply_to,
            references=[*references, in_reply_to],
            auto_submitted=automatic,
            shown_to=shown_to,
        )
        outgoing = compose(self.renderer.render(kind, context), envelope, self.now, attachments)
        row = Outbox(
            ticket_id=ticket.id if ticket else None,
            kind=kind,
            message_id=outgoing.message_id,
            envelope_from=outgoing.envelope_from,
            recipients=store.recipients_json(outgoing.recipients),
            raw=outgoing.raw,
            automatic=bool(automatic),
            next_attempt_at=self.now,
            created_at=self.now,
        )
        self.session.add(row)
        self.session.flush()
        if ticket is not None:
            self.event(ticket, "queued", SYSTEM, f"{kind} → {', '.join(recipients)}")
        return row
