"""Who is told about a ticket: one function computes every recipient list (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Recipients:
    """Who hears about a ticket: the account (requester and authorised contacts), who may
    see everything about it, and participants, who each get their own copy."""

    account: tuple[str, ...]
    participants: tuple[str, ...]

    @property
    def everyone(self) -> tuple[str, ...]:
        return (*self.account, *self.participants)


@dataclass(frozen=True)
class Admission:
    """Which copied addresses join a ticket, and why each of the others did not."""

    added: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]  # (address, "cap" | "unverified")


def customer_recipients(
    requester: str,
    notify_contacts: Iterable[str],
    participants: Iterable[str],
    ours: frozenset[str],
    exclude: Iterable[str] = (),
) -> Recipients:
    """Requester + contacts with the notify flag, then participants; minus ours and `exclude`."""
    skip = set(ours) | {e.lower() for e in exclude}
    account = [a.lower() for a in [requester, *sorted(notify_contacts)] if a]
    account = [a for a in dict.fromkeys(account) if a not in skip]
    others = (a.lower() for a in sorted(participants) if a)
    return Recipients(
        tuple(account),
        tuple(a for a in dict.fromkeys(others) if a not in skip and a not in account),
    )


def admit_participants(
    candidates: Iterable[str],
    existing: Iterable[str],
    contacts: frozenset[str],
    verified: bool,
    per_mail: int,
    per_ticket: int,
) -> Admission:
    """SPEC §8: a copied address joins only from a mail whose sender was verified, or as a
    contact of the same customer, and only up to the caps: one mail Cc'ing 500 strangers
    must not make the support address mail them all."""
    have = set(existing)
    added: list[str] = []
    refused: list[tuple[str, str]] = []
    for address in dict.fromkeys(candidates):
        if address in have:
            continue
        if not verified and address not in contacts:
            refused.append((address, "unverified"))
        elif len(added) >= per_mail or len(have) + len(added) >= per_ticket:
            refused.append((address, "cap"))
        else:
            added.append(address)
    return Admission(tuple(added), tuple(refused))


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
