"""A ticket's automatic checks as work in the database (SPEC §11, issue 12).

Queued in the transaction that commits a new (or reopened) ticket, one row per check, so
the acknowledgement never waits for them and a crash loses none. Any worker claims due rows
(as it claims outbox mail), runs each within its budget and what is left of the round's,
and records the findings with the claim still its own: a finished check is never run
again, an unfinished one is run again by whoever takes it over. When a round's last row is
done, one worker writes the internal note and tells staff: at the top of the staff notice
while it is still waiting (held for the round's budget), or in a follow-up threaded under it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import and_, case, func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailtickets import store
from mailtickets.assistant.findings import Finding
from mailtickets.assistant.registry import Registry, by_name, load_checks
from mailtickets.assistant.report import note, summary
from mailtickets.assistant.runner import run_check
from mailtickets.assistant.settings import ChecksSettings
from mailtickets.assistant.targets import Targets, choose_targets
from mailtickets.compose import with_preface
from mailtickets.db import changed, transaction
from mailtickets.mail import ParsedMail
from mailtickets.mentions import mentions
from mailtickets.models import Message, Outbox, Ticket, TicketCheck
from mailtickets.render import Renderer
from mailtickets.settings import Settings
from mailtickets.work import Work, open_work
from mailtickets.workers import Heartbeat

log = logging.getLogger("mailtickets.ticket_checks")

SYSTEM = "mailtickets"
BATCH = 20  # rows claimed at once: a worker runs them one after the other
FOLLOW_UP = "staff_checks"  # the notice for checks that finished after the staff notice left


@cache
def registry(disabled: frozenset[str]) -> Registry:
    """The installed checks, read once per process (entry points do not change while it runs)."""
    return load_checks(disabled)


def targets_of(
    settings: Settings, mail: ParsedMail, customer_domains: Iterable[str] = ()
) -> Targets:
    """What a mail's checks look at: what it names, its sender's domain, the customer's
    own domains (from the contacts import), never ours."""
    ours = frozenset(a.rpartition("@")[2] for a in settings.our_addresses)
    # The start of a mail is where a customer names their site; megabytes need no regex.
    found = mentions(mail.subject, mail.text[:20_000])
    return choose_targets(
        found, mail.from_addr, settings.checks, customer_domains=customer_domains, ours=ours
    )


def queue_checks(
    work: Work, ticket: Ticket, mail: ParsedMail, customer_domains: Iterable[str] = ()
) -> timedelta | None:
    """Queue a round of checks for `ticket` in `work`'s transaction, on what `mail` names
    and `customer_domains`; how long the staff notice may wait for them (None: nothing
    queued, it goes at once)."""
    checks = work.settings.checks
    if not checks.enabled or ticket.id is None:
        return None
    names = registry(checks.disabled).names()
    targets = targets_of(work.settings, mail, customer_domains)
    if not names or not (targets.domains or targets.urls):
        return None
    session, now = work.session, work.now
    last = session.exec(
        select(func.max(TicketCheck.round)).where(TicketCheck.ticket_id == ticket.id)
    ).one()
    data = json.dumps(targets.as_data(), ensure_ascii=False)
    deadline = now + checks.total_budget
    for name in names:
        session.add(
            TicketCheck(
                ticket_id=ticket.id,
                round=int(last or 0) + 1,
                name=name,
                targets=data,
                queued_at=now,
                deadline=deadline,
            )
        )
    work.write.event(ticket, "checks_queued", SYSTEM, ", ".join(names))
    return checks.total_budget


@dataclass(frozen=True)
class CheckRun:
    """What one stage did: checks run, rounds reported."""

    ran: int = 0
    reported: int = 0


def run_due(
    settings: Settings,
    engine: Engine,
    renderer: Renderer,
    holder: Heartbeat,
    clock: Callable[[], datetime],
    keep_going: Callable[[], bool] = lambda: True,
) -> CheckRun:
    """Claim, run and record pending checks, then report every round that is complete."""
    ran = 0
    started: dict[tuple[int, int], float] = {}  # a round's first check here, monotonic
    while keep_going():
        rows = _claim(engine, holder, clock())
        if not rows:
            break
        for row in rows:
            first = started.setdefault((row.ticket_id, row.round), time.monotonic())
            left = settings.checks.total_budget.total_seconds() - (time.monotonic() - first)
            findings = _run(settings.checks, row, clock(), left)
            ran += _record(engine, row, findings, holder.id, clock())
    reported = _report_complete(settings, engine, renderer, clock())
    return CheckRun(ran, reported)


def _claim(engine: Engine, holder: Heartbeat, now: datetime) -> list[TicketCheck]:
    with transaction(engine) as session:
        live_since = holder.live_since()
        free = and_(
            col(TicketCheck.state) == "pending",
            or_(
                col(TicketCheck.claimed_by).is_(None),
                col(TicketCheck.claimed_by) == holder.id,
                col(TicketCheck.claimed_by).not_in(store.live_workers(live_since)),
            ),
        )
        ids = list(
            session.exec(
                select(TicketCheck.id).where(free).order_by(col(TicketCheck.id)).limit(BATCH)
            )
        )
        if not ids:
            return []
        session.execute(
            update(TicketCheck)
            .where(col(TicketCheck.id).in_(ids), free)
            .values(claimed_by=holder.id, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        mine = list(
            session.exec(
                select(TicketCheck).where(
                    col(TicketCheck.id).in_(ids), col(TicketCheck.claimed_by) == holder.id
                )
            )
        )
        for row in mine:
            session.expunge(row)
        return mine


def _run(checks: ChecksSettings, row: TicketCheck, now: datetime, left: float) -> list[Finding]:
    """The check of `row` within its own budget and what is left of its round's (`left`
    seconds: real time, whatever clock the daemon runs on; a round taken over after a
    crash starts its budget again)."""
    check = by_name(registry(checks.disabled), row.name)
    if check is None:  # uninstalled since it was queued
        gone = {
            "es": f"la comprobación {row.name} ya no está instalada",
            "en": f"the check {row.name} is no longer installed",
        }
        return [Finding(row.name, "", "warning", "check_gone", row.name, "not installed", {}, gone)]
    seconds = max(0.0, min(checks.check_budget.total_seconds(), left))
    targets = Targets.from_data(json.loads(row.targets))
    return run_check(check, targets, checks, now, seconds)


def _record(
    engine: Engine, row: TicketCheck, findings: Sequence[Finding], me: str, now: datetime
) -> int:
    """Keep the findings if the row is still ours and pending: 1 when they were kept."""
    data = json.dumps([f.as_data() for f in findings], ensure_ascii=False)
    with transaction(engine) as session:
        kept = session.execute(
            update(TicketCheck)
            .where(
                col(TicketCheck.id) == row.id,
                col(TicketCheck.state) == "pending",
                col(TicketCheck.claimed_by) == me,
            )
            .values(state="done", findings=data, finished_at=now, claimed_by=None)
            .execution_options(synchronize_session=False)
        )
        return changed(kept)


def _report_complete(settings: Settings, engine: Engine, renderer: Renderer, now: datetime) -> int:
    """Every round whose rows are all done and not yet reported: note, and tell staff."""
    with transaction(engine) as session:
        rounds = _complete_rounds(session)
    reported = 0
    for ticket_id, number in rounds:
        with transaction(engine) as session:
            claimed = session.execute(
                update(TicketCheck)
                .where(
                    col(TicketCheck.ticket_id) == ticket_id,
                    col(TicketCheck.round) == number,
                    col(TicketCheck.reported_at).is_(None),
                )
                .values(reported_at=now)
                .execution_options(synchronize_session=False)
            )
            if not changed(claimed):
                continue  # another worker reports it
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                continue
            rows = list(
                session.exec(
                    select(TicketCheck).where(
                        TicketCheck.ticket_id == ticket_id, TicketCheck.round == number
                    )
                )
            )
            work = open_work(settings, renderer, session, now)
            _tell(work, ticket, number, rows)
            reported += 1
    return reported


def _complete_rounds(session: Session) -> list[tuple[int, int]]:
    unreported = col(TicketCheck.reported_at).is_(None)
    pending = func.sum(case((col(TicketCheck.state) == "pending", 1), else_=0))
    query = (
        select(TicketCheck.ticket_id, TicketCheck.round)
        .where(unreported)
        .group_by(col(TicketCheck.ticket_id), col(TicketCheck.round))
        .having(pending == 0)
    )
    return [(int(t), int(r)) for t, r in session.exec(query)]


def _tell(work: Work, ticket: Ticket, number: int, rows: list[TicketCheck]) -> None:
    """The internal note (shown by `show`, never relayed), then the summary for staff."""
    locale = work.settings.tickets.locale
    findings = [Finding.from_data(f) for row in rows for f in json.loads(row.findings or "[]")]
    targets = Targets.from_data(json.loads(rows[0].targets)) if rows else None
    assert ticket.id is not None
    work.session.add(
        Message(
            ticket_id=ticket.id,
            direction="internal",
            message_id=f"<checks-{ticket.id}-{number}@mailtickets.invalid>",
            sender=SYSTEM,
            subject="checks",
            date=work.now,
            text=note(findings, locale, targets),
        )
    )
    work.write.event(ticket, "checks_done", SYSTEM, f"{len(findings)} finding(s)")
    brief = summary(findings, locale)
    notice = _staff_notice(work, ticket)
    if notice is not None and _preface(work, notice, brief):
        return
    context = work.tell.context(ticket, summary=brief, note=note(findings, locale, targets))
    recipients = work.tell.staff_recipients(ticket)
    reply_to = notice.message_id if notice is not None else ""
    work.tell.queue(
        FOLLOW_UP, ticket, recipients, context, reply_to=reply_to, automatic="auto-generated"
    )


def _staff_notice(work: Work, ticket: Ticket) -> Outbox | None:
    """The ticket's latest staff notice (new ticket, or the reply that reopened it)."""
    query = (
        select(Outbox)
        .where(Outbox.ticket_id == ticket.id, col(Outbox.kind).in_(("staff_new", "staff_reply")))
        .order_by(col(Outbox.id).desc())
    )
    return work.session.exec(query).first()


def _preface(work: Work, notice: Outbox, brief: str) -> bool:
    """Put `brief` on top of the held notice and release it, unless a flush took it
    meanwhile (its hold ran out): a conditional UPDATE, so the relay never gets half."""
    released = work.session.execute(
        update(Outbox)
        .where(
            col(Outbox.id) == notice.id,
            col(Outbox.state) == "pending",
            col(Outbox.claimed_by).is_(None),
            col(Outbox.next_attempt_at) > work.now,
            col(Outbox.attempts) == 0,  # held for the checks, not backing off after a 4xx
        )
        .values(next_attempt_at=work.now)
        .execution_options(synchronize_session=False)
    )
    if not changed(released):
        return False
    # The same transaction: a flush claims the row only once both are committed.
    assert notice.id is not None
    store.set_outbox_raw(
        work.session, notice.id, with_preface(store.outbox_raw(work.session, notice.id), brief)
    )
    return True
