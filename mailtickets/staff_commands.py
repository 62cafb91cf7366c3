"""The staff commands: one named handler each, in one tuple, plus the site's own.

A command is a `StaffCommand`: its `spec` (name, the words that call it per locale, how
its argument is checked), an optional `check` that refuses it for this ticket, an optional
`answer` (text it writes to the customer above the staff member's own, e.g. a canned
answer), and its `apply`, which changes the ticket through the unit of work and says what
it did. The staff notice, the error mail and the aliases are derived from `registry()`.

A site adds one without editing the package: a distribution that declares, in the
`mailtickets.commands` entry-point group, an object that is a `StaffCommand`, e.g.

    [project.entry-points."mailtickets.commands"]
    etiqueta = "hosting_ejemplo.commands:LABEL"
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from mailtickets import report_time_data, store
from mailtickets.canned import canned_list, render_canned, render_problem
from mailtickets.commands import (
    Command,
    CommandSite,
    CommandSpec,
    canned_name,
    department,
    minutes,
    priority,
    staff_member,
    ticket_code,
)
from mailtickets.models import Customer, Ticket
from mailtickets.settings import Settings

if TYPE_CHECKING:  # the notifier lists these commands, so work imports this module
    from mailtickets.work import Work

log = logging.getLogger("mailtickets.commands")

ENTRY_POINT_GROUP = "mailtickets.commands"


@dataclass(frozen=True)
class StaffCommand:
    """One staff command: what it parses, and its effect on the ticket."""

    spec: CommandSpec
    apply: Callable[[Work, Ticket, Command, str], str]  # (work, ticket, command, actor)
    check: Callable[[Work, Ticket, Command], str] | None = None  # a problem, "" when none
    internal: bool = False  # the whole reply stays an internal note
    # Text for the customer, put above what the staff member wrote below the commands.
    answer: Callable[[Work, Ticket, Command], str] | None = None


def _status(status: str) -> Callable[[Work, Ticket, Command, str], str]:
    def apply(work: Work, ticket: Ticket, command: Command, actor: str) -> str:
        if work.write.set_status(ticket, status, actor, command.line):
            work.tell.queue_status_notice(ticket)
        return status

    return apply


def _field(field: str) -> Callable[[Work, Ticket, Command, str], str]:
    """Set a ticket column to the command's (checked) argument, with an event."""

    def apply(work: Work, ticket: Ticket, command: Command, actor: str) -> str:
        old = getattr(ticket, field)
        setattr(ticket, field, command.argument)
        work.write.touch(ticket)
        work.write.event(
            ticket, command.name, actor, f"{old or '-'} → {command.argument} ({command.line})"
        )
        return f"{command.name} {command.argument}"

    return apply


def _note(work: Work, ticket: Ticket, _command: Command, actor: str) -> str:
    work.write.event(ticket, "note", actor, "internal note")
    return "note"


def _merge_target(work: Work, command: Command) -> Ticket | None:
    return store.follow_merges(work.session, store.ticket_by_code(work.session, command.argument))


def _check_merge(work: Work, ticket: Ticket, command: Command) -> str:
    target = _merge_target(work, command)
    if target is None:
        return f"there is no ticket {command.argument}"
    if target.id == ticket.id:
        return "that would merge the ticket into itself"
    return ""


def _merge(work: Work, ticket: Ticket, command: Command, actor: str) -> str:
    """Fold the ticket into another; its people follow it — unless the target is another
    customer's: then only that customer's contacts do, or merging would show one
    customer's ticket to another's people (the staff member is told who was left out)."""
    target = _merge_target(work, command)
    assert target is not None and target.id is not None and ticket.id is not None
    people = {ticket.requester, *store.participants(work.session, ticket.id)}
    people.discard(target.requester)
    left_out: set[str] = set()
    if target.customer_id != ticket.customer_id:
        theirs = set(store.contact_emails(work.session, target.customer_id))
        people, left_out = people & theirs, people - theirs
    store.add_participants(work.session, target.id, sorted(people))
    ticket.linked_to_id = target.id
    work.write.set_status(ticket, "merged", actor, f"merged into {target.code}")
    work.write.event(target, "merged", actor, f"{ticket.code} merged into this ticket")
    # The merged ticket's people learn where it went on only when it is their own customer's.
    same_customer = target.customer_id == ticket.customer_id
    work.tell.queue_status_notice(ticket, reason=target.code if same_customer else "")
    if not left_out:
        return f"merged into {target.code}"
    listed = ", ".join(sorted(left_out))
    work.write.event(target, "participants_refused", actor, f"from {ticket.code}: {listed}")
    context = work.tell.context(target, merged_code=ticket.code, left_out=sorted(left_out))
    # Sent about no ticket: a reply to it must not be relayed to the target's customer.
    work.tell.queue("merge_left_out", None, (actor,), context, automatic="auto-generated")
    return f"merged into {target.code}; not carried over: {listed}"


def staff_name(settings: Settings, email: str) -> str:
    """How a staff member signs to customers: their configured name, else the company's."""
    staff = settings.staff_by_email(email)
    return staff.name if staff else settings.tickets.company_name


def canned_context(work: Work, ticket: Ticket, staff: str) -> dict[str, Any]:
    """A ticket's variables, plus who writes, to whom, and the customer's plan and first
    domain (from the contacts import; "" when unknown), for a canned answer."""
    contact = store.contact_by_email(work.session, ticket.requester)
    customer = work.session.get(Customer, ticket.customer_id)
    domains = json.loads(customer.domains) if customer and customer.domains else []
    return work.tell.context(
        ticket,
        staff_name=staff_name(work.settings, staff),
        staff_email=staff,
        requester=ticket.requester,
        contact_name=contact.name if contact else "",
        plan=customer.plan if customer else "",
        domain=domains[0] if domains else "",
    )


def _canned_text(work: Work, ticket: Ticket, command: Command) -> str:
    context = canned_context(work, ticket, command.sender)
    return render_canned(work.tell.renderer, command.argument, context)


def _check_canned(work: Work, ticket: Ticket, command: Command) -> str:
    """A site's canned file that does not render (a typo in a variable) is refused here,
    before anything is stored, rather than failing the whole mail."""
    context = canned_context(work, ticket, command.sender)
    return render_problem(work.tell.renderer, command.argument, context)


def _canned(work: Work, ticket: Ticket, command: Command, actor: str) -> str:
    work.write.event(ticket, "canned", actor, f"canned answer {command.argument}")
    return f"canned answer {command.argument}"


def _list_canned(work: Work, ticket: Ticket, command: Command, actor: str) -> str:
    """The names (and descriptions) to the staff member alone, threaded under their mail."""
    found = canned_list(work.tell.renderer)
    listed = [{"name": c.name, "description": c.description} for c in found]
    context = work.tell.context(ticket, canned=listed)
    work.tell.queue(
        "canned_list",
        ticket,
        (actor,),
        context,
        reply_to=command.message_id,
        automatic="auto-replied",
    )
    return f"canned answers listed to {actor}"


def _time(work: Work, ticket: Ticket, command: Command, actor: str) -> str:
    """One entry per mail: the same mail processed again (a copy, a retry) adds nothing."""
    assert ticket.id is not None
    spent = int(command.argument)
    if report_time_data.recorded(work.session, ticket.id, command.message_id):
        return f"time {spent} min already recorded"
    report_time_data.add_entry(
        work.session, ticket.id, actor.lower(), spent, work.now, command.message_id
    )
    work.write.touch(ticket)
    work.write.event(ticket, "time", actor, f"{spent} min ({command.line})")
    return f"time {spent} min"


def _spec(
    name: str,
    es: tuple[str, ...],
    description: str,
    argument: Callable[[str, CommandSite], str] | None = None,
    once: bool = False,
) -> CommandSpec:
    return CommandSpec(name, {"en": (name,), "es": es}, description, argument, once)


COMMANDS: tuple[StaffCommand, ...] = (
    StaffCommand(
        _spec("close", ("cerrar",), "close; the customer gets the status notice"), _status("closed")
    ),
    StaffCommand(_spec("reopen", ("reabrir",), "reopen"), _status("open")),
    StaffCommand(
        _spec("priority", ("prioridad",), "set the priority", argument=priority),
        _field("priority"),
    ),
    StaffCommand(
        _spec("department", ("departamento", "dpto"), "move to a department", argument=department),
        _field("department"),
    ),
    StaffCommand(
        _spec(
            "assign",
            ("asignar",),
            "later replies go to this staff member alone",
            argument=staff_member,
        ),
        _field("assignee"),
    ),
    StaffCommand(_spec("note", ("nota",), "the whole reply stays internal"), _note, internal=True),
    StaffCommand(
        _spec("merge", ("fusionar",), "fold this ticket into another", argument=ticket_code),
        _merge,
        check=_check_merge,
    ),
    StaffCommand(
        _spec(
            "macro",
            ("plantilla",),
            "answer with a canned text, then what you write below",
            argument=canned_name,
        ),
        _canned,
        check=_check_canned,
        answer=_canned_text,
    ),
    # A question to the daemon, not an answer: the reply stays internal, so a signature or
    # a half-written line below it never reaches the customer.
    StaffCommand(
        _spec("macros", ("plantillas",), "the canned answers' names, to you alone"),
        _list_canned,
        internal=True,
    ),
    StaffCommand(
        _spec("time", ("tiempo",), "record time spent on the ticket", argument=minutes, once=True),
        _time,
    ),
)


@cache
def registry() -> tuple[StaffCommand, ...]:
    """The built-in commands, then the site's from the entry point (loaded once; a broken
    one is logged and skipped, never stops the daemon)."""
    found = list(COMMANDS)
    taken = {w for c in found for w in c.spec.all_words()}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            command = point.load()
        except Exception as exc:  # a site's plugin: its fault must not stop the daemon
            log.warning("staff command %s (%s): cannot load: %s", point.name, point.value, exc)
            continue
        if not isinstance(command, StaffCommand):
            log.warning("staff command %s (%s): not a StaffCommand", point.name, point.value)
            continue
        clash = taken & set(command.spec.all_words())
        if clash:
            log.warning("staff command %s: %s already taken", point.name, ", ".join(sorted(clash)))
            continue
        taken |= set(command.spec.all_words())
        found.append(command)
    return tuple(found)


def specs() -> tuple[CommandSpec, ...]:
    return tuple(c.spec for c in registry())


def by_name(name: str) -> StaffCommand:
    return next(c for c in registry() if c.spec.name == name)
