"""Send the day's digests that are due and not yet queued: read, render, queue once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from mailtickets import digest, digest_store, store
from mailtickets.business_hours import BusinessCalendar
from mailtickets.compose import Envelope, compose
from mailtickets.db import transaction
from mailtickets.digest import DepartmentDigest, DigestTicket, Target
from mailtickets.render import Renderer
from mailtickets.settings import Department, Settings

CalendarOf = Callable[[Department], BusinessCalendar]


@dataclass(frozen=True)
class Sent:
    kind: str
    recipient: str
    detail: str


def due_targets(settings: Settings, now: datetime, calendar_of: CalendarOf) -> list[Target]:
    """The digest mails due today at `now` (sent already or not), in thread order."""
    cfg, tz = settings.digest, settings.tickets.tz

    def day_of(calendar: BusinessCalendar) -> date | None:
        if not cfg.business_days_only:
            return digest.due_day(now, tz, cfg.hour, lambda _day: True)
        return digest.due_day(now, tz, cfg.hour, lambda d: digest.is_business_day(calendar, d))

    departments = [
        (d.name, cfg.recipients_of(d))
        for d in settings.departments
        if day_of(calendar_of(d)) is not None
    ]
    site = Department(name="")  # no hours of its own: the site's [hours]
    staff = [s.email for s in settings.staff] if cfg.staff and day_of(calendar_of(site)) else []
    return list(digest.targets(departments, staff))


def send_due(
    settings: Settings, engine: Engine, renderer: Renderer, now: datetime, calendar_of: CalendarOf
) -> list[Sent]:
    """Queue every digest mail due at `now` that no sweep or worker queued yet. Before the
    hour this reads nothing; after it, one query finds the day already done."""
    if not settings.digest.enabled:
        return []
    found = due_targets(settings, now, calendar_of)
    if not found:
        return []
    day = now.astimezone(settings.tickets.tz).date()
    box = settings.mailbox_named(None)
    threads = digest.threads(found, day, box.address.rpartition("@")[2] or "localhost")
    sent: list[Sent] = []
    with transaction(engine) as session:
        done = digest_store.queued_already(session, [t.message_id for t in threads.values()])
        missing = [t for t in found if threads[t].message_id not in done]
        if not missing or _decided(found, missing):
            return []
        bounced = store.suppressed(session, {t.recipient for t in missing})
        tickets = digest_store.open_tickets(session)
        mail = _Mail(settings, renderer, now, day, tickets, calendar_of)
        for target in missing:
            if target.recipient in bounced:
                continue
            rendered = mail.render(target)
            if rendered is None:
                continue  # nothing assigned: no empty list
            context, detail = rendered
            values = _outbox_row(settings, renderer, target, threads[target], context, now)
            if digest_store.queue_once(session, values):
                sent.append(Sent(target.kind, target.recipient, detail))
    return sent


def _decided(found: list[Target], missing: list[Target]) -> bool:
    """Whether the day's mails were decided already: the department digests, always sent,
    are queued, so the lists still missing were empty then. They are not looked at again
    (a ticket assigned at 11:00 waits for tomorrow's list, it brings no list at 11:01), and
    the open tickets are read once a day, not at every sweep after the hour."""
    return any(t.kind == digest.DEPARTMENT for t in found) and not any(
        t.kind == digest.DEPARTMENT for t in missing
    )


class _Mail:
    """The day's sections, each department's computed once for all its recipients."""

    def __init__(
        self,
        settings: Settings,
        renderer: Renderer,
        now: datetime,
        day: date,
        tickets: list[DigestTicket],
        calendar_of: CalendarOf,
    ) -> None:
        self.settings, self.renderer, self.now, self.tickets = settings, renderer, now, tickets
        self.calendar_of = calendar_of
        self.base = {
            "company": settings.tickets.company_name,
            "digest_day": digest.local_noon(day, settings.tickets.tz),
        }
        self.sections: dict[str, DepartmentDigest] = {}

    def render(self, target: Target) -> tuple[dict[str, Any], str] | None:
        """The template context and a log detail, or None for an empty assigned list."""
        if target.kind == digest.ASSIGNED:
            mine = digest.assigned_to(self.tickets, target.recipient)
            if not mine:
                return None
            member = self.settings.staff_by_email(target.recipient)
            context = {
                **self.base,
                "staff_name": member.name if member else target.recipient,
                "digest_assigned": listed([self._row(t) for t in mine]),
            }
            return context, f"assigned: {len(mine)} open"
        section = self._section(target.department)
        within = int(self.settings.digest.at_risk_within.total_seconds() // 60)
        tz = self.settings.tickets.tz
        context = {**self.base, **digest_context(section, within, self._row, tz)}
        detail = (
            f"{target.department}: {section.open_count} open, {len(section.at_risk)} at risk, "
            f"{len(section.waiting)} waiting, {len(section.closing)} closing"
        )
        return context, detail

    def _section(self, name: str) -> DepartmentDigest:
        if name not in self.sections:
            dept = self.settings.department(name)
            self.sections[name] = digest.department_digest(
                name,
                self.tickets,
                self.now,
                self.calendar_of(dept),
                dept.first_response,
                self.settings.digest.at_risk_within,
                self.settings.tickets.close_after,
            )
        return self.sections[name]

    def _row(self, ticket: DigestTicket) -> dict[str, Any]:
        tz = self.settings.tickets.tz
        return {
            "code": ticket.code,
            "subject": ticket.subject,
            "status": ticket.status,
            "priority": ticket.priority,
            "department": ticket.department,
            "assignee": ticket.assignee,
            "opened": ticket.created_at.astimezone(tz),
            "age_days": (self.now - ticket.created_at).days,
            "due": None,
            "late": False,
            "closes": None,
        }


def listed(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A section for the templates: its first LISTED rows and how many more there are."""
    shown = rows[: digest.LISTED]
    return {"rows": shown, "count": len(rows), "more": len(rows) - len(shown)}


def digest_context(
    section: DepartmentDigest,
    within_minutes: int,
    row: Callable[[DigestTicket], dict[str, Any]],
    tz: ZoneInfo,
) -> dict[str, Any]:
    """The variables of the department digest's templates (times in the site's zone)."""
    at_risk = [
        {**row(r.ticket), "due": r.due.astimezone(tz), "late": r.overdue} for r in section.at_risk
    ]
    closing = [{**row(c.ticket), "closes": c.at.astimezone(tz)} for c in section.closing]
    return {
        "digest_department": section.department,
        "digest_open": section.open_count,
        "digest_bands": [{"key": key, "count": count} for key, count in section.bands],
        "digest_within_minutes": within_minutes,
        "digest_at_risk": listed(at_risk),
        "digest_waiting": listed([row(t) for t in section.waiting]),
        "digest_closing": listed(closing),
    }


def _outbox_row(
    settings: Settings,
    renderer: Renderer,
    target: Target,
    thread: digest.Thread,
    context: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    box = settings.mailbox_named(None)
    envelope = Envelope(
        from_address=box.address,
        from_name=box.smtp.from_name,
        to=(target.recipient,),
        code="",
        in_reply_to=thread.in_reply_to,
        references=thread.references,
        auto_submitted="auto-generated",
        message_id=thread.message_id,
    )
    outgoing = compose(renderer.render(target.kind, context), envelope, now)
    return {
        "ticket_id": None,
        "kind": target.kind,
        "message_id": outgoing.message_id,
        "envelope_from": outgoing.envelope_from,
        "recipients": store.recipients_json(outgoing.recipients),
        "raw": outgoing.raw,
        "state": "pending",
        "automatic": True,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "",
        "created_at": now,
        "mailbox": box.name,
    }
