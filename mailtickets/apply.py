"""Carry out a Decision inside the caller's transaction: ticket, message, events, outbox."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from mailtickets import store
from mailtickets.codes import clean_subject, new_code
from mailtickets.compose import Envelope, compose
from mailtickets.config import Settings
from mailtickets.decide import Action, Decision, TicketView, status_after
from mailtickets.mail import ParsedMail
from mailtickets.models import Attachment, Inbound, Message, Outbox, Ticket
from mailtickets.notify import Renderer
from mailtickets.people import customer_recipients, new_participants, staff_recipients
from mailtickets.quoting import latest_reply
from mailtickets.routing import route

SYSTEM = "mailtickets"
_DOMAIN_OR_URL = re.compile(
    r"(https?://\S+|\b(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:[a-z]{2,24})\b)", re.I
)


@dataclass(frozen=True)
class Outcome:
    state: str  # done | ignored
    action: str
    ticket_code: str
    detail: str


def mentions_domain(text: str, ignore: frozenset[str] = frozenset()) -> bool:
    """True when `text` names a domain or URL other than the addresses in `ignore`."""
    for match in _DOMAIN_OR_URL.finditer(text):
        found = match.group(0).lower()
        if found.startswith("http") or not any(found in a for a in ignore):
            return True
    return False


class Applier:
    """Writes one decision's effects; every mail it queues is rendered now, sent later."""

    def __init__(self, settings: Settings, renderer: Renderer, session: Session, now: datetime):
        self.settings, self.renderer, self.session, self.now = settings, renderer, session, now

    def apply(self, decision: Decision, mail: ParsedMail, row: Inbound) -> Outcome:
        if decision.action is Action.IGNORE:
            return Outcome("ignored", decision.action.value, "", decision.reason)
        if decision.action is Action.NEW:
            return self.new_ticket(decision, mail, row)
        ticket = self._ticket(decision.ticket)
        if decision.action is Action.STAFF_REPLY:
            return self.staff_reply(decision, ticket, mail, row)
        if decision.action is Action.STORE_ONLY:
            self._store_message(ticket, mail, row, "in", mail.text)
            self._event(
                ticket, "automatic_mail", mail.from_addr or "(null sender)", decision.reason
            )
            return Outcome("done", decision.action.value, ticket.code, decision.reason)
        return self.customer_reply(decision, ticket, mail, row)

    # --- the three ways a mail changes a ticket ------------------------------------------

    def new_ticket(self, decision: Decision, mail: ParsedMail, row: Inbound) -> Outcome:
        contact = store.contact_by_email(self.session, mail.from_addr)
        if contact is None and self.settings.unknown_senders == "reject":
            return self.reject_unknown(mail)
        if contact is None:
            contact = store.add_customer_with_contact(
                self.session, mail.from_addr, mail.from_name, self.now
            )
        chosen = route(mail, self.settings.departments)
        ticket = Ticket(
            code=self._unused_code(),
            subject=clean_subject(mail.subject, self.settings.tickets.code_prefix),
            status="new",
            priority=chosen.priority,
            department=chosen.department,
            requester=mail.from_addr,
            customer_id=contact.customer_id,
            created_at=self.now,
            updated_at=self.now,
            last_customer_at=self.now,
            linked_to_id=decision.linked_to.id if decision.linked_to else None,
        )
        self.session.add(ticket)
        self.session.flush()
        self._store_message(ticket, mail, row, "in", mail.text)
        self._add_participants(ticket, mail)
        self._event(ticket, "created", mail.from_addr, decision.reason)
        for why in chosen.reasons:
            self._event(ticket, "routed", SYSTEM, why)
        if decision.linked_to:
            self._event(ticket, "linked", SYSTEM, f"linked to {decision.linked_to.code}")
        self._queue_acknowledgement(ticket, mail)
        self._queue_staff_notice("staff_new", ticket, mail, mail.text)
        return Outcome("done", "new", ticket.code, decision.reason)

    def customer_reply(
        self, decision: Decision, ticket: Ticket, mail: ParsedMail, row: Inbound
    ) -> Outcome:
        text = latest_reply(mail.text)
        self._store_message(ticket, mail, row, "in", text)
        self._add_participants(ticket, mail)
        self._set_status(
            ticket,
            status_after(decision.action, ticket.status, decision.reopen),
            mail.from_addr,
            decision.reason,
        )
        ticket.last_customer_at = self.now
        self._queue_staff_notice("staff_reply", ticket, mail, text, reopened=decision.reopen)
        return Outcome(
            "done", "reopen" if decision.reopen else "append", ticket.code, decision.reason
        )

    def staff_reply(
        self, decision: Decision, ticket: Ticket, mail: ParsedMail, row: Inbound
    ) -> Outcome:
        text = latest_reply(mail.text)
        self._store_message(ticket, mail, row, "out", text)
        self._set_status(ticket, "waiting", mail.from_addr, decision.reason)
        ticket.last_staff_at = self.now
        staff = self.settings.staff_by_email(mail.from_addr)
        staff_name = staff.name if staff else self.settings.tickets.company_name
        context = self._context(ticket, text=text, staff_name=staff_name)
        recipients = self._customer_recipients(ticket)
        from_name = f"{staff_name} ({self.settings.tickets.company_name})"
        self._queue("answer", ticket, recipients, context, from_name=from_name, automatic="")
        return Outcome("done", "staff_reply", ticket.code, decision.reason)

    def reject_unknown(self, mail: ParsedMail) -> Outcome:
        recipients = (mail.from_addr,)
        if not self._rejected_recently(mail.from_addr):
            context = {
                "sender": mail.from_addr,
                "subject": mail.subject,
                "code": "",
                "company": self.settings.tickets.company_name,
            }
            self._queue("reject", None, recipients, context, reply_to=mail.message_id)
        return Outcome(
            "ignored", "rejected", "", f"unknown sender {mail.from_addr} (policy reject)"
        )

    # --- helpers -------------------------------------------------------------------------

    def _ticket(self, view: TicketView | None) -> Ticket:
        assert view is not None
        ticket = self.session.get(Ticket, view.id)
        assert ticket is not None
        return ticket

    def _unused_code(self) -> str:
        while True:
            code = new_code(self.settings.tickets.code_prefix)
            if store.ticket_by_code(self.session, code) is None:
                return code

    def _store_message(
        self, ticket: Ticket, mail: ParsedMail, row: Inbound, direction: str, text: str
    ) -> None:
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
            html=mail.html,
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
        ticket.updated_at = self.now
        self.session.add(ticket)

    def _add_participants(self, ticket: Ticket, mail: ParsedMail) -> None:
        assert ticket.id is not None
        staff = frozenset(s.email for s in self.settings.staff)
        added = new_participants(mail.to, mail.cc, self.settings.our_addresses, staff)
        store.add_participants(self.session, ticket.id, (a for a in added if a != ticket.requester))

    def _set_status(self, ticket: Ticket, status: str, actor: str, reason: str) -> None:
        if status == ticket.status:
            return
        self._event(ticket, "status", actor, f"{ticket.status} → {status}: {reason}")
        ticket.status = status
        ticket.closed_at = self.now if status == "closed" else None
        self.session.add(ticket)

    def _event(self, ticket: Ticket, kind: str, actor: str, detail: str) -> None:
        assert ticket.id is not None
        store.add_event(self.session, ticket.id, self.now, kind, actor, detail)

    def _customer_recipients(
        self, ticket: Ticket, exclude: tuple[str, ...] = ()
    ) -> tuple[str, ...]:
        assert ticket.id is not None
        return customer_recipients(
            ticket.requester,
            store.notify_contacts(self.session, ticket.customer_id),
            store.participants(self.session, ticket.id),
            self.settings.our_addresses,
            exclude,
        )

    def _rejected_recently(self, sender: str) -> bool:
        since = self.now - timedelta(days=1)
        return store.recent_outbox_to(self.session, "reject", sender, since)

    def _queue_acknowledgement(self, ticket: Ticket, mail: ParsedMail) -> None:
        assert ticket.id is not None
        others = store.open_tickets_of(self.session, ticket.customer_id, but=ticket.id)
        context = self._context(
            ticket,
            needs_domain=not mentions_domain(
                f"{mail.subject}\n{mail.text}", frozenset((mail.from_addr, *mail.to, *mail.cc))
            ),
            open_tickets=[
                {"code": t.code, "subject": t.subject, "status": t.status} for t in others
            ],
        )
        recipients = self._customer_recipients(ticket)
        self._queue("ack", ticket, recipients, context, reply_to=mail.message_id)

    def _queue_staff_notice(
        self, kind: str, ticket: Ticket, mail: ParsedMail, text: str, reopened: bool = False
    ) -> None:
        dept = next(d for d in self.settings.departments if d.name == ticket.department)
        recipients = staff_recipients(dept.staff, ticket.assignee, exclude=(mail.from_addr,))
        context = self._context(
            ticket,
            text=text,
            sender=mail.from_addr,
            reopened=reopened,
            attachments=[a.filename for a in mail.attachments],
        )
        self._queue(
            kind, ticket, recipients, context, reply_to=mail.message_id, automatic="auto-generated"
        )

    def _context(self, ticket: Ticket, **extra: Any) -> dict[str, Any]:
        cfg = self.settings.tickets
        context: dict[str, Any] = {
            "code": ticket.code,
            "subject": ticket.subject,
            "status": ticket.status,
            "priority": ticket.priority,
            "department": ticket.department,
            "customer_name": store.customer_name(self.session, ticket.customer_id),
            "company": cfg.company_name,
            "hours": cfg.support_hours,
            "expected": "",
            "needs_domain": False,
            "open_tickets": [],
            "reminder_minutes": int(cfg.reminder_after.total_seconds() // 60),
            "close_minutes": int(cfg.close_after.total_seconds() // 60),
            "reopen_minutes": int(cfg.reopen_within.total_seconds() // 60),
        }
        context.update(extra)
        return context

    def _queue(
        self,
        kind: str,
        ticket: Ticket | None,
        recipients: tuple[str, ...],
        context: dict[str, Any],
        reply_to: str = "",
        from_name: str = "",
        automatic: str = "auto-replied",
    ) -> None:
        if not recipients:
            return
        code = ticket.code if ticket else ""
        references = (
            store.thread_references(self.session, ticket.id) if ticket and ticket.id else []
        )
        in_reply_to = reply_to or (references[-1] if references else "")
        envelope = Envelope(
            from_address=self.settings.smtp.from_address,
            from_name=from_name or self.settings.smtp.from_name,
            to=recipients,
            code=code,
            in_reply_to=in_reply_to,
            references=[*references, in_reply_to],
            auto_submitted=automatic,
        )
        outgoing = compose(self.renderer.render(kind, context), envelope, self.now)
        self.session.add(
            Outbox(
                ticket_id=ticket.id if ticket else None,
                kind=kind,
                message_id=outgoing.message_id,
                envelope_from=outgoing.envelope_from,
                recipients=store.recipients_json(outgoing.recipients),
                raw=outgoing.raw,
                next_attempt_at=self.now,
                created_at=self.now,
            )
        )
        if ticket is not None:
            self._event(ticket, "queued", SYSTEM, f"{kind} → {', '.join(recipients)}")
