"""The notifier: who is told, rendered and composed now, queued in the outbox (one session)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from types import MappingProxyType
from typing import Any

from mailtickets import store
from mailtickets.compose import Envelope, compose
from mailtickets.mail import ParsedAttachment, ParsedMail
from mailtickets.models import Ticket
from mailtickets.people import Recipients, customer_recipients, staff_recipients
from mailtickets.render import Renderer
from mailtickets.settings import Settings
from mailtickets.staff_commands import specs as command_specs
from mailtickets.writer import SYSTEM, TicketWriter


def ticket_context(
    settings: Settings, ticket: Ticket, customer_name: str, **extra: Any
) -> dict[str, Any]:
    """The variables every ticket template may use (one list, also `check`'s sample)."""
    cfg = settings.tickets
    context: dict[str, Any] = {
        "code": ticket.code,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "department": ticket.department,
        "assignee": ticket.assignee or "",
        "customer_name": customer_name,
        "company": cfg.company_name,
        "hours": cfg.support_hours,
        "expected": "",
        "needs_domain": False,
        "open_tickets": [],
        "not_added": [],
        "commands": _commands(cfg.locale),
        "reason": "",
        "reminder_minutes": int(cfg.reminder_after.total_seconds() // 60),
        "close_minutes": int(cfg.close_after.total_seconds() // 60),
        "reopen_minutes": int(cfg.reopen_within.total_seconds() // 60),
    }
    context.update(extra)
    return context


@cache
def _commands(locale: str) -> tuple[Mapping[str, str], ...]:
    """The staff commands as templates list them; the registry is loaded once, so this is
    worked out once per locale (read-only: every context shares it)."""
    return tuple(
        MappingProxyType({"name": spec.name, "word": spec.shown(locale)})
        for spec in command_specs()
    )


@dataclass(frozen=True)
class Queued:
    """An outbox row just queued (written at once, or held until its batch is written)."""

    message_id: str


class Notifier:
    """Mail about tickets: recipients, suppression and rate limits, rendering, the outbox
    row; its events go through the ticket writer, in the same transaction."""

    def __init__(self, writer: TicketWriter, renderer: Renderer) -> None:
        self.writer, self.renderer = writer, renderer
        self.settings, self.session, self.now = writer.settings, writer.session, writer.now
        # Old mail taken in from a mailbox's backlog: stored and threaded, nobody mailed.
        self.quiet = False
        # The mailbox the mail in hand arrived in: it answers what belongs to no ticket
        # (and a ticket opened now); a ticket's own mail comes from the ticket's mailbox.
        self.mailbox: str | None = None
        # A batch's look-ups made beforehand (`know`); None: each is read when needed.
        self.known: store.Known | None = None

    def know(self, tickets: list[Ticket]) -> None:
        """Read at once what notices about `tickets` will look up (a sweep's batch)."""
        since = self.now - timedelta(hours=1)
        self.known = store.known_about(self.session, tickets, since)

    def know_opened(
        self, ticket: Ticket, account: store.Account, participants: Sequence[str], thread: str
    ) -> None:
        """What notices about a ticket this mail has just opened will look up, known
        without reading it back: its customer's account, the participants just added, its
        one message. Addresses' suppressions and hourly counts are still read (nothing is
        `covered`). Call it once the mail's participants and message are written: a later
        write of either would not reach the notices."""
        assert ticket.id is not None and account.id == ticket.customer_id
        if self.known is None:
            self.known = store.Known({}, {}, {}, {}, frozenset(), frozenset(), {})
        self.known.contacts[ticket.customer_id] = list(account.notified)
        self.known.names[ticket.customer_id] = account.name
        self.known.participants[ticket.id] = list(participants)
        self.known.threads[ticket.id] = [thread]

    def customer_recipients(self, ticket: Ticket, exclude: tuple[str, ...] = ()) -> Recipients:
        assert ticket.id is not None
        known = self.known
        if known is not None and ticket.id in known.participants:
            contacts = known.contacts[ticket.customer_id]
            participants = known.participants[ticket.id]
        else:
            contacts = store.notify_contacts(self.session, ticket.customer_id)
            participants = store.participants(self.session, ticket.id)
        return customer_recipients(
            ticket.requester, contacts, participants, self.settings.our_addresses, exclude
        )

    def staff_recipients(self, ticket: Ticket, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
        dept = self.settings.department(ticket.department)
        return staff_recipients(dept.staff, ticket.assignee, exclude)

    def context(self, ticket: Ticket, **extra: Any) -> dict[str, Any]:
        """What every template may use about a ticket, plus `extra`."""
        known = self.known
        if known is not None and ticket.customer_id in known.contacts:
            name = known.names.get(ticket.customer_id, "")
        else:
            name = store.customer_name(self.session, ticket.customer_id)
        return ticket_context(self.settings, ticket, name, **extra)

    def queue_status_notice(self, ticket: Ticket, reason: str = "") -> None:
        """Tell the customer's side that the ticket's status changed (never who changed it)."""
        self.queue_to_customer("status", ticket, self.context(ticket, reason=reason))

    def queue_to_customer(
        self,
        kind: str,
        ticket: Ticket,
        context: dict[str, Any],
        recipients: Recipients | None = None,
        **options: Any,
    ) -> Queued | None:
        """`kind` to the account in one mail, then to each participant alone (To: the
        requester and that participant), without what only the account may see; the
        account's row (else the first queued), or None when nobody may be sent it.
        `recipients`: the ticket's customer_recipients, when the caller has them already."""
        if recipients is None:
            recipients = self.customer_recipients(ticket)
        rows = [self.queue(kind, ticket, recipients.account, context, **options)]
        shared = {**context, "open_tickets": []}
        for participant in recipients.participants:
            shown = tuple(dict.fromkeys((ticket.requester, participant)))
            rows.append(self.queue(kind, ticket, (participant,), shared, shown_to=shown, **options))
        return next((r for r in rows if r is not None), None)

    def queue_staff_notice(
        self,
        kind: str,
        ticket: Ticket,
        mail: ParsedMail,
        text: str,
        hold: timedelta | None = None,
        **extra: Any,
    ) -> None:
        """New ticket or customer reply to the department's staff (or the assignee); `hold`
        keeps it back that long for the automatic checks' summary (ticket_checks.py)."""
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
            not_before=self.now + hold if hold else None,
        )

    def _deliverable(
        self, ticket: Ticket | None, kind: str, recipients: tuple[str, ...], automatic: str
    ) -> tuple[str, ...]:
        """Automatic mail skips hard-bounced addresses; answers to people are rate-limited."""
        known = self.known
        if known is not None and known.covered.issuperset(recipients):
            dropped = {r for r in recipients if r in known.suppressed}
        else:
            dropped = store.suppressed(self.session, recipients)
        if automatic == "auto-replied":
            limit = self.settings.policy.max_auto_replies_per_hour
            dropped |= {r for r in recipients if self._count(r) >= limit}
        if dropped and ticket is not None:
            self.writer.event(
                ticket,
                "not_sent",
                SYSTEM,
                f"{kind} not sent to {', '.join(sorted(dropped))} "
                "(hard bounce, or automatic replies per hour reached)",
            )
        return tuple(r for r in recipients if r not in dropped)

    def _count(self, recipient: str) -> int:
        """Automatic replies queued to `recipient` within the hour, this batch's included."""
        known = self.known
        if known is not None and recipient in known.covered:
            return known.counts.get(recipient, 0)
        since = self.now - timedelta(hours=1)
        return store.automatic_mail_count(self.session, recipient, since)

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
        not_before: datetime | None = None,
    ) -> Queued | None:
        """Render `kind` and put it in the outbox, threaded under the ticket's messages;
        the row, or None when nobody may be sent it."""
        if self.quiet:
            if ticket is not None:
                self.writer.event(ticket, "not_sent", SYSTEM, f"{kind}: old mail from the backlog")
            return None
        if automatic:
            recipients = self._deliverable(ticket, kind, recipients, automatic)
        if not recipients:
            return None
        references: list[str] = []
        if ticket is not None and ticket.id is not None:
            known = self.known
            references = (
                known.threads[ticket.id]
                if known is not None and ticket.id in known.threads
                else store.thread_references(self.session, ticket.id)
            )
        in_reply_to = reply_to or (references[-1] if references else "")
        box = self.settings.mailbox_named(
            ticket.mailbox if ticket is not None and ticket.mailbox else self.mailbox
        )
        envelope = Envelope(
            from_address=box.address,
            from_name=from_name or box.smtp.from_name,
            to=recipients,
            code=ticket.code if ticket else "",
            in_reply_to=in_reply_to,
            references=[*references, in_reply_to],
            auto_submitted=automatic,
            shown_to=shown_to,
        )
        outgoing = compose(self.renderer.render(kind, context), envelope, self.now, attachments)
        values = {
            "ticket_id": ticket.id if ticket else None,
            "kind": kind,
            "message_id": outgoing.message_id,
            "envelope_from": outgoing.envelope_from,
            "recipients": store.recipients_json(outgoing.recipients),
            "raw": outgoing.raw,
            "state": "pending",
            "automatic": bool(automatic),
            "attempts": 0,
            "next_attempt_at": not_before or self.now,
            "last_error": "",
            "created_at": self.now,
            "mailbox": box.name,
        }
        counted = recipients if automatic == "auto-replied" else ()
        store.add_outbox(self.session, values, counted)
        if (known := self.known) is not None:  # the next notice of the batch counts this one
            for recipient in counted:
                known.counts[recipient] = known.counts.get(recipient, 0) + 1
        queued = Queued(outgoing.message_id)
        if ticket is not None:
            self.writer.event(ticket, "queued", SYSTEM, f"{kind} → {', '.join(recipients)}")
        return queued
