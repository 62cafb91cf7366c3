"""Decide what an incoming mail does to the tickets (pure: plain data in, Decision out)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from mailtickets.codes import strip_reply_prefixes
from mailtickets.routing import fold
from mailtickets.triage import Triage


class Action(StrEnum):
    NEW = "new"  # open a ticket
    APPEND = "append"  # a customer-side mail added to a ticket
    STAFF_REPLY = "staff_reply"  # a staff answer to relay
    STORE_ONLY = "store_only"  # machine mail added to its ticket, nobody told
    IGNORE = "ignore"  # kept in the inbound table only
    LIST_TICKETS = "list_tickets"  # a contact asked for their tickets by mail
    UNVERIFIED_STAFF = "unverified_staff"  # a staff address that failed authentication
    UNIDENTIFIED = "unidentified"  # From names no single mailbox: kept, staff told


@dataclass(frozen=True)
class TicketView:
    """What the decision needs to know about a ticket."""

    id: int
    code: str
    status: str
    customer_id: int
    requester: str
    participants: frozenset[str]
    closed_at: datetime | None


@dataclass(frozen=True)
class Thread:
    """The ticket the mail points at, and how it was found ('' when none)."""

    ticket: TicketView | None
    found_by: str


@dataclass(frozen=True)
class Sender:
    email: str
    is_staff: bool
    customer_id: int | None
    unverified: str = ""  # why a staff address was not trusted; "" when it was or is none
    unidentified: str = ""  # why the mail has no usable sender ("" when it has one)
    verified: bool = True  # DKIM/DMARC passed at a trusted server, or none is configured


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    ticket: TicketView | None = None
    linked_to: TicketView | None = None
    reopen: bool = False
    customer_id: int | None = None
    copies_verified: bool = True  # To/Cc of a verified mail may join the ticket


def find_thread(by_code: TicketView | None, by_reference: TicketView | None) -> Thread:
    """SPEC §4: the code in the subject wins, then In-Reply-To/References, else none."""
    if by_code is not None:
        return Thread(by_code, f"code {by_code.code} in subject")
    if by_reference is not None:
        return Thread(by_reference, "In-Reply-To/References")
    return Thread(None, "")


def may_write(sender: Sender, ticket: TicketView) -> bool:
    """Requester, the customer's contacts, participants and staff may add to a ticket."""
    return (
        sender.is_staff
        or sender.email == ticket.requester
        or sender.email in ticket.participants
        or (sender.customer_id is not None and sender.customer_id == ticket.customer_id)
    )


LIST_SUBJECTS = frozenset({"tickets", "mis tickets", "estado", "my tickets", "status"})


def is_list_request(subject: str, text: str = "") -> bool:
    """Subject 'tickets', 'mis tickets' or 'estado' and next to no text: a mail that says
    more ("Estado: ¿cómo va el traslado?") is a request for a person, not for the list."""
    asked = fold(strip_reply_prefixes(subject)).strip(" .:!?¿¡") in LIST_SUBJECTS
    return asked and len(text.split()) <= 4


def decide(
    thread: Thread,
    sender: Sender,
    verdict: Triage,
    now: datetime,
    reopen_within: timedelta,
    wants_list: bool = False,
) -> Decision:
    """What to do with one mail; the reason names the rule that chose."""
    decision = _decide(thread, sender, verdict, now, reopen_within, wants_list)
    return replace(decision, copies_verified=sender.verified)


def _decide(
    thread: Thread,
    sender: Sender,
    verdict: Triage,
    now: datetime,
    reopen_within: timedelta,
    wants_list: bool,
) -> Decision:
    ticket = thread.ticket
    if sender.unverified and not verdict.automatic:
        return Decision(
            Action.UNVERIFIED_STAFF, f"staff address not authenticated: {sender.unverified}", ticket
        )
    if verdict.automatic:
        why = "; ".join(verdict.reasons)
        # A robot joins a ticket only as a bounce of our own mail or on behalf of someone
        # who may write to it: a fake auto-reply must not slip text into a stranger's ticket.
        if ticket is not None and (
            thread.found_by.startswith("bounce") or may_write(sender, ticket)
        ):
            return Decision(Action.STORE_ONLY, f"automatic mail ({why})", ticket)
        return Decision(Action.IGNORE, f"automatic mail ({why})")
    if sender.unidentified:
        # A code in the subject is no key: who wrote this cannot be told, so it touches no
        # ticket and gets no automatic answer.
        return Decision(Action.UNIDENTIFIED, f"unidentified sender: {sender.unidentified}")
    if ticket is None:
        if sender.is_staff:
            return Decision(Action.IGNORE, "staff mail that names no ticket")
        if wants_list and sender.customer_id is not None:
            return Decision(
                Action.LIST_TICKETS,
                "a contact asked for their tickets",
                customer_id=sender.customer_id,
            )
        return Decision(Action.NEW, "no ticket code or reference")
    if not may_write(sender, ticket):
        return Decision(
            Action.NEW,
            f"{sender.email} may not write to {ticket.code}: new ticket linked to it",
            linked_to=ticket,
        )
    if sender.is_staff:
        return Decision(Action.STAFF_REPLY, f"staff answer ({thread.found_by})", ticket)
    if ticket.status == "closed":
        return _closed(ticket, thread, now, reopen_within)
    return Decision(Action.APPEND, f"customer reply ({thread.found_by})", ticket)


def _closed(ticket: TicketView, thread: Thread, now: datetime, within: timedelta) -> Decision:
    if ticket.closed_at is None or now - ticket.closed_at <= within:
        return Decision(
            Action.APPEND, f"reply within {within} of closing reopens it", ticket, reopen=True
        )
    return Decision(
        Action.NEW,
        f"{ticket.code} closed more than {within} ago: new linked ticket",
        linked_to=ticket,
    )


def status_after(action: Action, current: str, reopen: bool) -> str:
    """SPEC §4 status machine: new stays new until staff answers; replies reopen."""
    if action is Action.STAFF_REPLY:
        return "waiting"
    if action is Action.APPEND:
        if reopen:
            return "open"
        return "new" if current == "new" else "open"
    return current
