"""Carry out a Decision inside the caller's transaction: ticket, message, events, outbox."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mailtickets import store
from mailtickets.bounces import Bounce
from mailtickets.codes import clean_subject, new_code
from mailtickets.commands import split_commands
from mailtickets.decide import Action, Decision, status_after
from mailtickets.effects import SYSTEM, Effects
from mailtickets.mail import ParsedMail, shorten
from mailtickets.models import Inbound, Ticket
from mailtickets.people import Admission, staff_recipients
from mailtickets.quoting import latest_reply
from mailtickets.routing import route
from mailtickets.staffmail import apply_staff_reply
from mailtickets.timers import first_response_due

_DOMAIN_OR_URL = re.compile(
    r"(https?://\S+|\b(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:[a-z]{2,24})\b)", re.I
)
RECENT_CLOSED = timedelta(days=30)
CUSTOMER_CLOSE = ("#close", "#cerrar")


@dataclass(frozen=True)
class Outcome:
    state: str  # done | ignored
    action: str
    ticket_code: str
    detail: str


def _refused(admission: Admission) -> list[dict[str, str]]:
    return [{"address": a, "why": why} for a, why in admission.refused]


def _raw_from(raw: bytes) -> str:
    """The From header as it arrived, for staff to judge (not parsed: shown)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0][:65_536]
    match = re.search(rb"(?im)^from:[ \t]*((?:.|\r?\n[ \t])*)", head)
    value = match.group(1).decode("utf-8", "replace") if match else "(none)"
    return " ".join(value.split())


def mentions_domain(text: str, ours: frozenset[str] = frozenset()) -> bool:
    """True when `text` names a domain or URL (in an address too) that is not one of `ours`."""
    for match in _DOMAIN_OR_URL.finditer(text):
        found = match.group(0).lower().removeprefix("www.")
        if found.startswith("http") or found not in ours:
            return True
    return False


def expected_label(due: datetime | None, now: datetime, tz: ZoneInfo) -> dict[str, Any] | None:
    """The parts a template needs to say "antes del lunes a las 10:30" in its language."""
    if due is None:
        return None
    local, today = due.astimezone(tz), now.astimezone(tz).date()
    days = (local.date() - today).days
    relative = {0: "today", 1: "tomorrow"}.get(days, "")
    return {
        "weekday": local.weekday(),
        "day": local.day,
        "month": local.month,
        "time": local.strftime("%H:%M"),
        "relative": relative,
    }


class Applier(Effects):
    """One decision's effects, by action."""

    def apply(
        self, decision: Decision, mail: ParsedMail, row: Inbound, bounce: Bounce | None = None
    ) -> Outcome:
        action = decision.action
        if action not in (Action.IGNORE, Action.STORE_ONLY) and mail.from_addr:
            # Writing again lifts a hard-bounce suppression: the address works after all.
            store.lift_suppression(self.session, mail.from_addr)
        if action is Action.IGNORE:
            return Outcome("ignored", action.value, "", decision.reason)
        if action is Action.NEW:
            return self.new_ticket(decision, mail, row)
        if action is Action.LIST_TICKETS:
            return self.list_tickets(decision, mail)
        if action is Action.UNVERIFIED_STAFF:
            return self.unverified_staff(decision, mail, row)
        if action is Action.UNIDENTIFIED:
            return self.unidentified(decision, mail, row)
        assert decision.ticket is not None
        ticket = self.ticket(decision.ticket.id)
        if action is Action.STAFF_REPLY:
            done = apply_staff_reply(self, decision, ticket, mail, row)
            return Outcome("done", action.value, ticket.code, f"{decision.reason}: {done}")
        if action is Action.STORE_ONLY:
            self.store_message(ticket, mail, row, "in", mail.text)
            if bounce is not None:
                return self.record_bounce(ticket, bounce)
            self.event(ticket, "automatic_mail", mail.from_addr or "(null sender)", decision.reason)
            return Outcome("done", action.value, ticket.code, decision.reason)
        return self.customer_reply(decision, ticket, mail, row)

    def new_ticket(self, decision: Decision, mail: ParsedMail, row: Inbound) -> Outcome:
        contact = store.contact_by_email(self.session, mail.from_addr)
        if contact is None and self.settings.policy.unknown_senders == "reject":
            return self.reject_unknown(mail)
        if contact is None:
            contact = store.add_customer_with_contact(
                self.session, mail.from_addr, mail.from_name, self.now
            )
            self.session.flush()
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
        department = self.department(chosen.department)
        if department.first_response is not None:
            ticket.first_response_due = first_response_due(self.settings, department, self.now)
        self.session.add(ticket)
        self.session.flush()
        self.store_message(ticket, mail, row, "in", mail.text)
        admission = self.add_participants(ticket, mail, decision.copies_verified)
        self.event(ticket, "created", mail.from_addr, decision.reason)
        for why in chosen.reasons:
            self.event(ticket, "routed", SYSTEM, why)
        if decision.linked_to:
            self.event(ticket, "linked", SYSTEM, f"linked to {decision.linked_to.code}")
        self._queue_acknowledgement(ticket, mail)
        self.queue_staff_notice("staff_new", ticket, mail, mail.text, not_added=_refused(admission))
        self._report_problems(ticket, mail)
        return Outcome("done", "new", ticket.code, decision.reason)

    def customer_reply(
        self, decision: Decision, ticket: Ticket, mail: ParsedMail, row: Inbound
    ) -> Outcome:
        text = latest_reply(mail.text)
        commands, rest = split_commands(text)
        self.store_message(ticket, mail, row, "in", text)
        admission = self.add_participants(ticket, mail, decision.copies_verified)
        self.heard_from_customer(ticket)
        if any(c.split()[0].lower() in CUSTOMER_CLOSE for c in commands):
            if self._may_close(ticket, mail.from_addr):
                return self._customer_close(decision, ticket, mail, rest)
            self.event(
                ticket,
                "close_refused",
                mail.from_addr,
                "not the requester or an authorised contact",
            )
        self._report_problems(ticket, mail)
        status = status_after(decision.action, ticket.status, decision.reopen)
        self.set_status(ticket, status, mail.from_addr, decision.reason)
        self.queue_staff_notice(
            "staff_reply",
            ticket,
            mail,
            text,
            reopened=decision.reopen,
            not_added=_refused(admission),
        )
        action = "reopen" if decision.reopen else "append"
        return Outcome("done", action, ticket.code, decision.reason)

    def _report_problems(self, ticket: Ticket, mail: ParsedMail) -> None:
        """A mail over the limits is kept whole in the inbound table; its sender is told
        politely what we could not take, and staff see it on the ticket."""
        if not mail.problems:
            return
        self.event(ticket, "over_limit", SYSTEM, "; ".join(mail.problems))
        context = self.context(ticket, problems=list(mail.problems), limits=self.settings.limits)
        self.queue("over_limit", ticket, (mail.from_addr,), context, reply_to=mail.message_id)

    def _may_close(self, ticket: Ticket, sender: str) -> bool:
        authorised = store.notify_contacts(self.session, ticket.customer_id)
        return sender == ticket.requester or sender in authorised

    def _customer_close(
        self, decision: Decision, ticket: Ticket, mail: ParsedMail, rest: str
    ) -> Outcome:
        self.set_status(ticket, "closed", mail.from_addr, "closed by the customer (#cerrar)")
        self.queue_status_notice(ticket)
        self.queue_staff_notice("staff_reply", ticket, mail, rest or "#cerrar")
        return Outcome("done", "customer_close", ticket.code, decision.reason)

    def list_tickets(self, decision: Decision, mail: ParsedMail) -> Outcome:
        """A contact asked for their tickets: answer with the list, open nothing."""
        assert decision.customer_id is not None
        tickets = store.customer_tickets(
            self.session, decision.customer_id, self.now - RECENT_CLOSED
        )
        tz = self.settings.tickets.tz
        rows = [
            {
                "code": t.code,
                "subject": t.subject,
                "status": t.status,
                "updated": t.updated_at.astimezone(tz).strftime("%d/%m/%Y %H:%M"),
            }
            for t in tickets
        ]
        context = {
            "company": self.settings.tickets.company_name,
            "tickets": rows,
            "customer_name": store.customer_name(self.session, decision.customer_id),
        }
        self.queue("ticket_list", None, (mail.from_addr,), context, reply_to=mail.message_id)
        return Outcome("ignored", "ticket_list", "", f"{decision.reason}: {len(rows)} listed")

    def unverified_staff(self, decision: Decision, mail: ParsedMail, row: Inbound) -> Outcome:
        """Kept as an internal note, nothing applied or relayed; the real staff member is told."""
        ticket = self.ticket(decision.ticket.id) if decision.ticket else None
        if ticket is not None:
            self.store_message(ticket, mail, row, "internal", latest_reply(mail.text))
            self.event(ticket, "staff_unverified", mail.from_addr, decision.reason)
        context = {
            "company": self.settings.tickets.company_name,
            "sender": mail.from_addr,
            "subject": mail.subject,
            "reason": decision.reason,
            "code": ticket.code if ticket else "",
        }
        self.queue("spoof_warning", ticket, (mail.from_addr,), context, reply_to=mail.message_id)
        state = "done" if ticket else "ignored"
        return Outcome(state, decision.action.value, ticket.code if ticket else "", decision.reason)

    def unidentified(self, decision: Decision, mail: ParsedMail, row: Inbound) -> Outcome:
        """Kept in the inbound table, answered by no one; the department's staff see it."""
        department = self.department(route(mail, self.settings.departments).department)
        context = {
            "company": self.settings.tickets.company_name,
            "reason": decision.reason.removeprefix("unidentified sender: "),
            "from_header": shorten(_raw_from(row.raw), 500),
            "subject": mail.subject,
            "text": mail.text,
            "attachments": [a.filename for a in mail.attachments],
        }
        self.queue(
            "unidentified_sender",
            None,
            staff_recipients(department.staff, None),
            context,
            reply_to=mail.message_id,
            automatic="auto-generated",
            attachments=mail.attachments,
        )
        return Outcome("ignored", decision.action.value, "", f"{decision.reason}; staff told")

    def record_bounce(self, ticket: Ticket, bounce: Bounce) -> Outcome:
        """A delivery failure of our mail: on the ticket, and hard bounces suppressed."""
        ours = store.bounced_mail(self.session, bounce)
        if ours is None:
            # No valid VERP token: anyone can write a DSN, so it proves nothing failed.
            detail = f"delivery report naming none of our mails: {bounce.summary()}"
            self.event(ticket, "automatic_mail", "bounce", detail)
            return Outcome("done", "bounce", ticket.code, "unsigned delivery report: kept")
        ours.state = "bounced"
        ours.last_error = bounce.summary()[:2000]
        self.session.add(ours)
        what = f"{ours.kind} {ours.message_id}"
        self.event(ticket, "delivery_failed", "bounce", f"{what}: {bounce.summary()}")
        sent_to = set(json.loads(ours.recipients))
        for failed in bounce.recipients:
            # Only an address that mail really went to can be suppressed by its bounce.
            if failed.hard and failed.address in sent_to:
                store.suppress(self.session, failed.address, bounce.summary(), self.now)
        return Outcome("done", "bounce", ticket.code, bounce.summary())

    def reject_unknown(self, mail: ParsedMail) -> Outcome:
        since = self.now - timedelta(days=1)
        if not store.recent_outbox_to(self.session, "reject", mail.from_addr, since):
            context = {
                "sender": mail.from_addr,
                "subject": mail.subject,
                "company": self.settings.tickets.company_name,
            }
            self.queue("reject", None, (mail.from_addr,), context, reply_to=mail.message_id)
        reason = f"unknown sender {mail.from_addr} (policy reject)"
        return Outcome("ignored", "rejected", "", reason)

    def _unused_code(self) -> str:
        while True:
            code = new_code(self.settings.tickets.code_prefix)
            if store.ticket_by_code(self.session, code) is None:
                return code

    def _queue_acknowledgement(self, ticket: Ticket, mail: ParsedMail) -> None:
        assert ticket.id is not None
        others = store.open_tickets_of(self.session, ticket.customer_id, but=ticket.id)
        ours = frozenset(a.rpartition("@")[2] for a in self.settings.our_addresses)
        mentioned = mentions_domain(f"{mail.subject}\n{mail.text}", ours)
        context = self.context(
            ticket,
            expected=expected_label(ticket.first_response_due, self.now, self.settings.tickets.tz),
            needs_domain=not mentioned,
            open_tickets=[
                {"code": t.code, "subject": t.subject, "status": t.status} for t in others
            ],
        )
        self.queue_to_customer("ack", ticket, context, reply_to=mail.message_id)
