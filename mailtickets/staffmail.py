"""A staff member's reply: commands at its top applied, the rest relayed or kept internal."""

from __future__ import annotations

from mailtickets.commands import CommandProblem, CommandSite, parse_commands
from mailtickets.customer_mail import Incoming
from mailtickets.decide import Decision
from mailtickets.mail import ParsedMail
from mailtickets.models import Ticket
from mailtickets.staff_commands import by_name, specs
from mailtickets.work import Work


def apply_staff_reply(work: Work, decision: Decision, ticket: Ticket, incoming: Incoming) -> str:
    """Apply commands and relay the answer; returns what was done, for the log line."""
    mail, row = incoming.mail, incoming.row
    settings = work.settings
    site = CommandSite(
        tuple(d.name for d in settings.departments),
        frozenset(s.email for s in settings.staff),
        settings.tickets.code_prefix,
    )
    parsed = parse_commands(incoming.reply, specs(), site)
    chosen = [(by_name(c.name), c) for c in parsed.commands]
    problems = list(parsed.problems) + [
        CommandProblem(c.line, why)
        for handler, c in chosen
        if handler.check is not None and (why := handler.check(work, ticket, c))
    ]
    if problems:
        return _refuse(work, ticket, incoming, problems)
    internal = any(handler.internal for handler, _ in chosen)
    work.write.store_message(ticket, mail, row, "internal" if internal else "out", parsed.text)
    done = [handler.apply(work, ticket, c, mail.from_addr) for handler, c in chosen]
    if not internal and parsed.text:
        _relay(work, ticket, mail, parsed.text)
        if ticket.status not in ("closed", "merged"):
            work.write.set_status(ticket, "waiting", mail.from_addr, decision.reason)
        work.write.answered_by_staff(ticket)
        done.append("answer relayed")
    return "; ".join(d for d in done if d) or "internal note"


def _refuse(work: Work, ticket: Ticket, incoming: Incoming, problems: list[CommandProblem]) -> str:
    """Nothing changes, nothing reaches the customer; the staff member is told why."""
    mail = incoming.mail
    work.write.store_message(ticket, mail, incoming.row, "internal", incoming.reply)
    summary = "; ".join(f"{p.line}: {p.problem}" for p in problems)
    work.write.event(ticket, "commands_refused", mail.from_addr, summary)
    context = work.tell.context(
        ticket, problems=[{"line": p.line, "problem": p.problem} for p in problems]
    )
    work.tell.queue(
        "command_error",
        ticket,
        (mail.from_addr,),
        context,
        reply_to=mail.message_id,
        automatic="auto-replied",
    )
    return f"commands refused ({summary})"


def _relay(work: Work, ticket: Ticket, mail: ParsedMail, text: str) -> None:
    staff = work.settings.staff_by_email(mail.from_addr)
    company = work.settings.tickets.company_name
    staff_name = staff.name if staff else company
    context = work.tell.context(ticket, text=text, staff_name=staff_name)
    work.tell.queue_to_customer(
        "answer",
        ticket,
        context,
        from_name=f"{staff_name} ({company})",
        automatic="",
        attachments=mail.attachments,
    )
