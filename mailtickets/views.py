"""Tickets as plain dicts for `tickets` and `show` (JSON or text)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session

from mailtickets import store
from mailtickets.models import Customer, Ticket
from mailtickets.rating_data import ratings_of
from mailtickets.report_time_data import entries_of


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def ticket_summary(session: Session, ticket: Ticket) -> dict[str, Any]:
    """The fields SPEC §2 promises for every ticket."""
    customer = session.get(Customer, ticket.customer_id)
    linked = session.get(Ticket, ticket.linked_to_id) if ticket.linked_to_id else None
    return {
        "code": ticket.code,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "department": ticket.department,
        "requester": ticket.requester,
        "customer": customer.name if customer else None,
        "assignee": ticket.assignee,
        "linked_to": linked.code if linked else None,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
    }


def ticket_detail(session: Session, ticket: Ticket) -> dict[str, Any]:
    """Summary plus messages, events, participants and who is notified."""
    assert ticket.id is not None
    detail = ticket_summary(session, ticket)
    detail["first_response_due"] = _iso(ticket.first_response_due)
    detail["remind_at"] = _iso(ticket.remind_at)
    detail["reminder_sent_at"] = _iso(ticket.reminder_sent_at)
    detail["participants"] = store.participants(session, ticket.id)
    detail["contacts_notified"] = store.notify_contacts(session, ticket.customer_id)
    detail["messages"] = [
        {
            "direction": m.direction,
            "sender": m.sender,
            "recipients": json.loads(m.recipients),
            "date": _iso(m.date),
            "subject": m.subject,
            "message_id": m.message_id,
            "text": m.text,
            "attachments": store.attachment_names(session, m.id) if m.id else [],
        }
        for m in store.messages_of(session, ticket.id)
    ]
    detail["events"] = [
        {"at": _iso(e.at), "kind": e.kind, "actor": e.actor, "detail": e.detail}
        for e in store.events_of(session, ticket.id)
    ]
    entries = entries_of(session, ticket.id)
    detail["time_entries"] = [
        {"at": _iso(t.at), "staff": t.staff, "minutes": t.minutes} for t in entries
    ]
    detail["time_minutes"] = sum(t.minutes for t in entries)
    detail["ratings"] = [
        {
            "closed_at": _iso(r.closed_at),
            "score": r.score,
            "comment": r.comment,
            "by": r.by,
            "at": _iso(r.at),
        }
        for r in ratings_of(session, ticket.id)
    ]
    # SPEC §2: the internal notes on their own (staff #nota, the automatic checks' note)
    # and the customer's latest rating (null when none).
    detail["notes"] = [
        {"at": m["date"], "author": m["sender"], "text": m["text"]}
        for m in detail["messages"]
        if m["direction"] == "internal"
    ]
    latest = max(detail["ratings"], key=lambda r: r["at"] or "", default=None)
    detail["rating"] = latest["score"] if latest else None
    return detail


def _subject(summary: dict[str, Any]) -> str:
    # Operators read this in English; mail words a missing subject in its templates.
    return str(summary["subject"]) or "(no subject)"


def ticket_line(summary: dict[str, Any]) -> str:
    return (
        f"{summary['code']:<11} {summary['status']:<8} {summary['priority']:<7} "
        f"{summary['department']:<12} {summary['requester']:<28} {_subject(summary)}"
    )


def detail_text(detail: dict[str, Any]) -> str:
    """A readable page for one ticket."""
    lines = [f"{detail['code']}  {_subject(detail)}"]
    for key in (
        "status",
        "priority",
        "department",
        "requester",
        "customer",
        "assignee",
        "linked_to",
        "created_at",
        "updated_at",
    ):
        lines.append(f"  {key + ':':<12} {detail[key] if detail[key] is not None else '-'}")
    lines.append(f"  {'notified:':<12} {', '.join(detail['contacts_notified']) or '-'}")
    lines.append(f"  {'participants:':<12} {', '.join(detail['participants']) or '-'}")
    for m in detail["messages"]:
        lines += ["", f"--- {m['direction']} {m['date']} from {m['sender']}"]
        if m["attachments"]:
            lines.append(f"    attachments: {', '.join(m['attachments'])}")
        lines += ["    " + line for line in m["text"].splitlines()]
    if detail.get("time_entries"):
        lines += ["", f"Time spent: {_spent(detail['time_minutes'])}"]
        lines += [
            f"  {t['at']}  {t['staff']:<28} {_spent(t['minutes'])}" for t in detail["time_entries"]
        ]
    if detail.get("ratings"):
        lines += ["", "Ratings:"]
        lines += [_rating_line(r) for r in detail["ratings"]]
    lines += ["", "Events:"]
    lines += [f"  {e['at']}  {e['kind']:<14} {e['actor']}: {e['detail']}" for e in detail["events"]]
    return "\n".join(lines)


def _rating_line(rating: dict[str, Any]) -> str:
    """ "  2026-11-24T10:00:00+00:00  5/5 by laura@… (closing of …): muy bien"."""
    comment = " ".join(str(rating["comment"]).split())
    return (
        f"  {rating['at']}  {rating['score']}/5 by {rating['by']} "
        f"(closing of {rating['closed_at']})" + (f": {comment}" if comment else "")
    )


def _spent(minutes: int) -> str:
    """125 → "2h05m (125 min)": hours for reading, minutes for adding up."""
    return f"{minutes // 60}h{minutes % 60:02d}m ({minutes} min)"
