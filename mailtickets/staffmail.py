"""A staff member's reply: commands at its top applied, the rest relayed or kept internal."""

from __future__ import annotations

from mailtickets import store
from mailtickets.commands import Command, CommandProblem, ParsedCommands, parse_commands
from mailtickets.decide import Decision
from mailtickets.effects import Effects
from mailtickets.mail import ParsedMail
from mailtickets.models import Inbound, Ticket
from mailtickets.quoting import latest_reply


def apply_staff_reply(
    fx: Effects, decision: Decision, ticket: Ticket, mail: ParsedMail, row: Inbound
) -> str:
    """Apply commands and relay the answer; returns what was done, for the log line."""
    settings = fx.settings
    parsed = parse_commands(
        latest_reply(mail.text),
        [d.name for d in settings.departments],
        [s.email for s in settings.staff],
        settings.tickets.code_prefix,
    )
    problems = list(parsed.problems) + _merge_problems(fx, parsed, ticket)
    if problems:
        return _refuse(fx, ticket, mail, row, problems)
    internal = parsed.has("note")
    fx.store_message(ticket, mail, row, "internal" if internal else "out", parsed.text)
    done = [_apply(fx, ticket, command, mail.from_addr) for command in parsed.commands]
    if not internal and parsed.text:
        _relay(fx, ticket, mail, parsed.text)
        if ticket.status not in ("closed", "merged"):
            fx.set_status(ticket, "waiting", mail.from_addr, decision.reason)
        fx.answered_by_staff(ticket)
        done.append("answer relayed")
    return "; ".join(d for d in done if d) or "internal note"


def _apply(fx: Effects, ticket: Ticket, command: Command, actor: str) -> str:
    name, value = command.name, command.argument
    if name in ("close", "reopen", "merge"):
        return _status_command(fx, ticket, command, actor)
    if name == "note":
        fx.event(ticket, "note", actor, "internal note")
        return "note"
    old = {"priority": ticket.priority, "department": ticket.department, "assign": ticket.assignee}[
        name
    ]
    if name == "priority":
        ticket.priority = value
    elif name == "department":
        ticket.department = value
    else:
        ticket.assignee = value
    fx.touch(ticket)
    fx.event(ticket, name, actor, f"{old or '-'} → {value} ({command.line})")
    return f"{name} {value}"


def _status_command(fx: Effects, ticket: Ticket, command: Command, actor: str) -> str:
    if command.name == "merge":
        target = store.follow_merges(fx.session, store.ticket_by_code(fx.session, command.argument))
        assert target is not None and target.id is not None and ticket.id is not None
        # The merged ticket's people follow it, so their later replies are welcome there —
        # unless the target is another customer's: then only that customer's contacts do,
        # or merging would show one customer's ticket to another's people.
        people = {ticket.requester, *store.participants(fx.session, ticket.id)} - {target.requester}
        left_out: set[str] = set()
        if target.customer_id != ticket.customer_id:
            theirs = set(store.contact_emails(fx.session, target.customer_id))
            people, left_out = people & theirs, people - theirs
        store.add_participants(fx.session, target.id, sorted(people))
        ticket.linked_to_id = target.id
        fx.set_status(ticket, "merged", actor, f"merged into {target.code}")
        fx.event(target, "merged", actor, f"{ticket.code} merged into this ticket")
        fx.queue_status_notice(ticket, reason=f"{target.code}")
        if left_out:
            _tell_left_out(fx, ticket, target, sorted(left_out), actor)
            return f"merged into {target.code}; not carried over: {', '.join(sorted(left_out))}"
        return f"merged into {target.code}"
    status = "closed" if command.name == "close" else "open"
    if fx.set_status(ticket, status, actor, command.line):
        fx.queue_status_notice(ticket)
    return status


def _tell_left_out(
    fx: Effects, ticket: Ticket, target: Ticket, left_out: list[str], actor: str
) -> None:
    """The staff member learns who did not follow the merge, and why."""
    fx.event(target, "participants_refused", actor, f"from {ticket.code}: {', '.join(left_out)}")
    context = fx.context(target, merged_code=ticket.code, left_out=left_out)
    fx.queue("merge_left_out", target, (actor,), context, automatic="auto-generated")


def _merge_problems(fx: Effects, parsed: ParsedCommands, ticket: Ticket) -> list[CommandProblem]:
    code = parsed.argument("merge")
    if not code:
        return []
    target = store.follow_merges(fx.session, store.ticket_by_code(fx.session, code))
    if target is None:
        return [CommandProblem(f"#merge {code}", f"there is no ticket {code}")]
    if target.id == ticket.id:
        return [CommandProblem(f"#merge {code}", "that would merge the ticket into itself")]
    return []


def _refuse(
    fx: Effects, ticket: Ticket, mail: ParsedMail, row: Inbound, problems: list[CommandProblem]
) -> str:
    """Nothing changes, nothing reaches the customer; the staff member is told why."""
    fx.store_message(ticket, mail, row, "internal", latest_reply(mail.text))
    summary = "; ".join(f"{p.line}: {p.problem}" for p in problems)
    fx.event(ticket, "commands_refused", mail.from_addr, summary)
    context = fx.context(
        ticket, problems=[{"line": p.line, "problem": p.problem} for p in problems]
    )
    fx.queue(
        "command_error",
        ticket,
        (mail.from_addr,),
        context,
        reply_to=mail.message_id,
        automatic="auto-replied",
    )
    return f"commands refused ({summary})"


def _relay(fx: Effects, ticket: Ticket, mail: ParsedMail, text: str) -> None:
    staff = fx.settings.staff_by_email(mail.from_addr)
    company = fx.settings.tickets.company_name
    staff_name = staff.name if staff else company
    context = fx.context(ticket, text=text, staff_name=staff_name)
    fx.queue_to_customer(
        "answer",
        ticket,
        context,
        from_name=f"{staff_name} ({company})",
        automatic="",
        attachments=mail.attachments,
    )
