"""A customer's mail: a new ticket (acknowledged, staff told) or a reply on one."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from mailtickets import store
from mailtickets.article_files import site_articles
from mailtickets.articles import Suggestion, suggest
from mailtickets.bounces import Bounce
from mailtickets.codes import clean_subject, new_code
from mailtickets.commands import split_commands
from mailtickets.contacts import CustomerProfile, customer_profile
from mailtickets.decide import Decision, status_after
from mailtickets.mail import ParsedMail
from mailtickets.mentions import DOMAIN_OR_URL
from mailtickets.models import Ticket
from mailtickets.notifier import Queued
from mailtickets.people import Admission
from mailtickets.quoting import latest_reply
from mailtickets.routing import route
from mailtickets.settings import MailboxSettings
from mailtickets.staff_commands import by_name
from mailtickets.ticket_checks import queue_checks
from mailtickets.timers import first_response_due
from mailtickets.work import Work
from mailtickets.writer import SYSTEM


@dataclass(frozen=True)
class Incoming:
    """One mail and what was decided about it, as the action handlers get it."""

    decision: Decision
    mail: ParsedMail
    row: store.InHand
    bounce: Bounce | None = None

    @cached_property
    def reply(self) -> str:
        """The mail's new text, quoted history cut: worked out once, and only when asked
        (a new ticket keeps the whole text and never needs it)."""
        return latest_reply(self.mail.text)


@dataclass(frozen=True)
class Outcome:
    state: str  # done | ignored
    action: str
    ticket_code: str
    detail: str


def mentions_domain(text: str, ours: frozenset[str] = frozenset()) -> bool:
    """True when `text` names a domain or URL (in an address too) that is not one of `ours`."""
    for match in DOMAIN_OR_URL.finditer(text):
        found = match.group(0).lower().removeprefix("www.")
        if found.startswith("http") or found not in ours:
            return True
    return False


def expected_answer(due: datetime | None, now: datetime, tz: ZoneInfo) -> dict[str, Any] | None:
    """When the answer is due, in the site's zone (`at`), and how many calendar days from
    today that is (`days`: 0 today, 1 tomorrow), for the template to word it."""
    if due is None:
        return None
    local = due.astimezone(tz)
    return {"at": local, "days": (local.date() - now.astimezone(tz).date()).days}


def arrived_in(box: MailboxSettings) -> str:
    """What routing is told of the mailbox a mail arrived in (routing.route's `mailbox`)."""
    return f"{box.name}:{box.department}" if box.department else ""


def new_ticket(work: Work, incoming: Incoming) -> Outcome:
    """Open a ticket for the sender's customer (or refuse a stranger), acknowledge, tell staff."""
    decision, mail, session = incoming.decision, incoming.mail, work.session
    customer_id = decision.customer_id
    if customer_id is None and work.settings.policy.unknown_senders == "reject":
        return _reject_unknown(work, mail)
    if customer_id is None:
        account = store.add_customer_with_contact(session, mail.from_addr, mail.from_name, work.now)
        customer_id = account.id
    else:
        account = store.account(session, customer_id)
    box = work.settings.mailbox_named(work.tell.mailbox)
    chosen = route(mail, work.settings.departments, arrived_in(box))
    ticket = Ticket(
        code=_unused_code(work),
        subject=clean_subject(mail.subject, work.settings.tickets.code_prefix),
        status="new",
        priority=chosen.priority,
        department=chosen.department,
        requester=mail.from_addr,
        customer_id=customer_id,
        created_at=work.now,
        updated_at=work.now,
        last_customer_at=work.now,
        linked_to_id=decision.linked_to.id if decision.linked_to else None,
        mailbox=box.name,
    )
    department = work.settings.department(chosen.department)
    if department.first_response is not None:
        ticket.first_response_due = first_response_due(work.settings, department, work.now)
    store.add_ticket(session, ticket)
    stored = work.write.store_message(ticket, mail, incoming.row, "in", mail.text)
    admission = work.write.add_participants(
        ticket, mail, decision.copies_verified, account, existing=()
    )
    # From here on nothing in this handler adds participants or messages (know_opened).
    work.tell.know_opened(ticket, account, admission.added, stored)
    work.write.event(ticket, "created", mail.from_addr, decision.reason)
    for why in chosen.reasons:
        work.write.event(ticket, "routed", SYSTEM, why)
    if decision.linked_to:
        work.write.event(ticket, "linked", SYSTEM, f"linked to {decision.linked_to.code}")
    profile = _profile(work, customer_id)
    offered = _suggestions(work, mail, profile.plan)
    if _queue_acknowledgement(work, ticket, mail, offered) is None:
        offered = ()  # nobody was sent the acknowledgement: nothing was suggested
    if offered:
        titles = "; ".join(s.article.title for s in offered)
        work.write.event(ticket, "suggested", SYSTEM, titles)
    # The checks run off this path; the staff notice waits for them at most their budget.
    hold = queue_checks(work, ticket, mail, profile.domains)
    work.tell.queue_staff_notice(
        "staff_new",
        ticket,
        mail,
        mail.text,
        not_added=_refused(admission),
        hold=hold,
        suggestions=_shown(offered),
    )
    _report_problems(work, ticket, mail)
    return Outcome("done", "new", ticket.code, decision.reason)


def customer_reply(work: Work, incoming: Incoming, ticket: Ticket) -> Outcome:
    """A reply from the customer's side: stored, reminders cancelled, staff told."""
    decision, mail = incoming.decision, incoming.mail
    text = incoming.reply
    commands, rest = split_commands(text)
    work.write.store_message(ticket, mail, incoming.row, "in", text)
    # The decision read the ticket's participants in this transaction; nothing since added any.
    view = decision.ticket
    present = tuple(view.participants) if view is not None and view.id == ticket.id else None
    admission = work.write.add_participants(
        ticket, mail, decision.copies_verified, existing=present
    )
    work.write.heard_from_customer(ticket)
    # A customer may close their own ticket with the staff command's own words.
    closing = {f"#{w}" for w in by_name("close").spec.all_words()}
    if any(c.split()[0].lower() in closing for c in commands):
        if _may_close(work, ticket, mail.from_addr):
            return _customer_close(work, decision, ticket, mail, rest)
        work.write.event(
            ticket, "close_refused", mail.from_addr, "not the requester or an authorised contact"
        )
    _report_problems(work, ticket, mail)
    status = status_after(decision.action, ticket.status, decision.reopen)
    work.write.set_status(ticket, status, mail.from_addr, decision.reason)
    hold = None
    if decision.reopen:
        hold = queue_checks(work, ticket, mail, _profile(work, ticket.customer_id).domains)
    work.tell.queue_staff_notice(
        "staff_reply",
        ticket,
        mail,
        text,
        reopened=decision.reopen,
        not_added=_refused(admission),
        hold=hold,
    )
    action = "reopen" if decision.reopen else "append"
    return Outcome("done", action, ticket.code, decision.reason)


def _refused(admission: Admission) -> list[dict[str, str]]:
    return [{"address": a, "why": why} for a, why in admission.refused]


def _report_problems(work: Work, ticket: Ticket, mail: ParsedMail) -> None:
    """A mail over the limits is kept whole in the inbound table; its sender is told
    politely what we could not take, and staff see it on the ticket."""
    if not mail.problems:
        return
    work.write.event(ticket, "over_limit", SYSTEM, "; ".join(p.text for p in mail.problems))
    problems = [asdict(p) for p in mail.problems]  # worded by the template, per locale
    context = work.tell.context(ticket, problems=problems, limits=work.settings.limits)
    work.tell.queue("over_limit", ticket, (mail.from_addr,), context, reply_to=mail.message_id)


def _may_close(work: Work, ticket: Ticket, sender: str) -> bool:
    authorised = store.notify_contacts(work.session, ticket.customer_id)
    return sender == ticket.requester or sender in authorised


def _customer_close(
    work: Work, decision: Decision, ticket: Ticket, mail: ParsedMail, rest: str
) -> Outcome:
    work.write.set_status(ticket, "closed", mail.from_addr, "closed by the customer (#cerrar)")
    work.tell.queue_status_notice(ticket)
    work.tell.queue_staff_notice("staff_reply", ticket, mail, rest or "#cerrar")
    return Outcome("done", "customer_close", ticket.code, decision.reason)


def _reject_unknown(work: Work, mail: ParsedMail) -> Outcome:
    since = work.now - timedelta(days=1)
    if not store.recent_outbox_to(work.session, "reject", mail.from_addr, since):
        context = {
            "sender": mail.from_addr,
            "subject": mail.subject,
            "company": work.settings.tickets.company_name,
        }
        work.tell.queue("reject", None, (mail.from_addr,), context, reply_to=mail.message_id)
    return Outcome("ignored", "rejected", "", f"unknown sender {mail.from_addr} (policy reject)")


def _unused_code(work: Work) -> str:
    while True:
        code = new_code(work.settings.tickets.code_prefix)
        if not store.code_taken(work.session, code):
            return code


def _profile(work: Work, customer_id: int) -> CustomerProfile:
    """The customer's plan and domains, read only when the articles or the checks use them."""
    if work.settings.checks.enabled or site_articles(work.settings.tickets.articles_dir):
        return customer_profile(work.session, customer_id)
    return CustomerProfile()


def _suggestions(work: Work, mail: ParsedMail, plan: str) -> tuple[Suggestion, ...]:
    """The site's help-centre articles for this mail and plan (articles.py)."""
    articles = site_articles(work.settings.tickets.articles_dir)
    if not articles:
        return ()
    # A customer asks their question at the start; megabytes need no keyword search.
    return suggest(articles, mail.subject, mail.text[:20_000], plan)


def _shown(offered: tuple[Suggestion, ...]) -> list[dict[str, Any]]:
    """The suggestions as the templates get them."""
    return [
        {"title": a.title, "url": a.url, "text": a.text, "plans": list(a.plans)}
        for a in (s.article for s in offered)
    ]


def _queue_acknowledgement(
    work: Work, ticket: Ticket, mail: ParsedMail, offered: tuple[Suggestion, ...]
) -> Queued | None:
    assert ticket.id is not None
    others = store.open_tickets_of(work.session, ticket.customer_id, but=ticket.id)
    ours = frozenset(a.rpartition("@")[2] for a in work.settings.our_addresses)
    # The start of the mail is where a domain is named; the regex need not read megabytes.
    mentioned = mentions_domain(f"{mail.subject}\n{mail.text[:10_000]}", ours)
    tz = work.settings.tickets.tz
    context = work.tell.context(
        ticket,
        expected=expected_answer(ticket.first_response_due, work.now, tz),
        needs_domain=not mentioned,
        open_tickets=[{"code": t.code, "subject": t.subject, "status": t.status} for t in others],
        suggestions=_shown(offered),
    )
    return work.tell.queue_to_customer("ack", ticket, context, reply_to=mail.message_id)
