"""A staff member's reply: commands at its top applied, the rest relayed or kept internal."""

from __future__ import annotations

from mailtickets.canned import canned_names
from mailtickets.commands import CommandProblem, CommandSite, parse_commands
from mailtickets.customer_mail import Incoming
from mailtickets.decide import Decision
from mailtickets.mail import ParsedMail
from mailtickets.models import Ticket
from mailtickets.staff_commands import by_name, specs, staff_name
from mailtickets.work import Work


def apply_staff_reply(work: Work, decision: Decision, ticket: Ticket, incoming: Incoming) -> str:
    """Apply commands and relay the answer; returns what was done, for the log line."""
    mail, row = incoming.mail, incoming.row
    settings = work.settings
    site = CommandSite(
        tuple(d.name for d in settings.departments),
        frozenset(s.email for s in settings.staff),
        settings.tickets.code_prefix,
        canned_names(work.tell.renderer),
    )
    # The same fallback as the stored message's: a mail without Message-ID processed again
    # is still known by its inbound row.
    message_id = mail.message_id or f"<inbound-{row.id}@mailtickets.invalid>"
    parsed = parse_commands(incoming.reply, specs(), site, message_id, mail.from_addr)
    chosen = [(by_name(c.name), c) for c in parsed.commands]
    problems = list(parsed.problems) + [
        CommandProblem(c.line, why)
        for handler, c in chosen
        if handler.check is not None and (why := handler.check(work, ticket, c))
    ]
    if problems:
        return _refuse(work, ticket, incoming, problems)
    internal = any(handler.internal for handler, _ in chosen)
    # Canned answers first, then what the staff member wrote below the commands.
    written = [h.answer(work, ticket, c) for h, c in chosen if h.answer is not None]
    text = "\n\n".join(t for t in (*written, parsed.text) if t)
    work.write.store_message(ticket, mail, row, "internal" if internal else "out", text)
    done = [handler.apply(work, ticket, c, mail.from_addr) for handler, c in chosen]
    if not internal and text:
        _relay(work, ticket, mail, text)
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
        ticket,
        problems=[
            {
                "line": p.line,
                "problem": p.problem,
                "kind": p.kind,
                "name": p.name,
                "closest": list(p.closest),
            }
            for p in problems
        ],
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
    signer = staff_name(work.settings, mail.from_addr)
    company = work.settings.tickets.company_name
    context = work.tell.context(ticket, text=text, staff_name=signer)
    work.tell.queue_to_customer(
        "answer",
        ticket,
        context,
        from_name=f"{signer} ({company})",
        automatic="",
        attachments=mail.attachments,
    )
