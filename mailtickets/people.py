"""Who is told about a ticket: one function computes every recipient list (pure)."""

from __future__ import annotations

from collections.abc import Iterable


def customer_recipients(
    requester: str,
    notify_contacts: Iterable[str],
    participants: Iterable[str],
    ours: frozenset[str],
    exclude: Iterable[str] = (),
) -> tuple[str, ...]:
    """Requester + contacts with the notify flag + participants, minus ours and `exclude`."""
    skip = set(ours) | {e.lower() for e in exclude}
    ordered = [requester, *sorted(notify_contacts), *sorted(participants)]
    return tuple(dict.fromkeys(a.lower() for a in ordered if a and a.lower() not in skip))


def staff_recipients(
    department_staff: Iterable[str], assignee: str | None, exclude: Iterable[str] = ()
) -> tuple[str, ...]:
    """The assignee alone when there is one, else the department's staff; minus `exclude`."""
    skip = {e.lower() for e in exclude}
    chosen = [assignee] if assignee else list(department_staff)
    return tuple(dict.fromkeys(a.lower() for a in chosen if a and a.lower() not in skip))


def new_participants(
    to: Iterable[str], cc: Iterable[str], ours: frozenset[str], staff: frozenset[str]
) -> tuple[str, ...]:
    """Addresses copied on a customer's mail that join the ticket (never ours or staff)."""
    return tuple(dict.fromkeys(a for a in (*to, *cc) if a not in ours and a not in staff))


def escalation_recipients(department_staff: Iterable[str], lead: str) -> tuple[str, ...]:
    """A breached promise goes to the whole department and its lead, assignee or not."""
    return tuple(dict.fromkeys(a.lower() for a in (*department_staff, lead) if a))
