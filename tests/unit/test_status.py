"""`mailtickets status` (issue 10 point 5): what is wrong, as a pure function of the facts on a
fake clock; the thresholds from the configuration; the facts read from a real database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from mailtickets.db import transaction
from mailtickets.models import Customer, Inbound, MailboxWatch, Outbox, Ticket, Worker
from mailtickets.settings import Settings
from mailtickets.status import (
    Facts,
    GoneClaims,
    MailboxFacts,
    OldestMail,
    Thresholds,
    age,
    as_json,
    problems,
    read_facts,
    text_lines,
    thresholds,
)
from mailtickets.watch import Holder
from tests.conftest import both_databases

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KEY = "soporte@imap.example:993/INBOX"
LIMITS = Thresholds(
    fetch_stale=timedelta(minutes=3),
    unheld=timedelta(seconds=60),
    backlog_stale=timedelta(minutes=5),
    outbox_waiting=timedelta(minutes=15),
    outbox_overdue=timedelta(minutes=2),
)
ALIVE = Holder("mx1:10:a", NOW - timedelta(hours=2), "mx1", 10, NOW - timedelta(seconds=2))


def ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


def mailbox(**changes: object) -> MailboxFacts:
    healthy = MailboxFacts(KEY, ALIVE, ago(seconds=20), "", None, 0, None)
    return replace(healthy, **changes)  # type: ignore[arg-type]


def facts(**changes: object) -> Facts:
    healthy = Facts(
        checked_at=NOW,
        mailboxes=(mailbox(),),
        outbox_pending=0,
        outbox_due=0,
        oldest_mail=None,
        first_due_at=None,
        gone_claims=(),
        quarantined=3,  # kept for a human: reported, not a failure
        oldest_unanswered=("SOP-ABC123", ago(days=3)),  # the SLA timers' business
        live_workers=2,
    )
    return replace(healthy, **changes)  # type: ignore[arg-type]


def test_healthy_facts_have_no_problem() -> None:
    assert problems(facts(), LIMITS) == []


REFUSED = "IMAP server imap.example:993: [Errno 111] Connection refused"


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        (mailbox(last_fetch_at=ago(minutes=3)), []),
        (
            mailbox(last_fetch_at=None, last_error=REFUSED, last_error_at=ago(seconds=5)),
            [f"mailbox {KEY}: never fetched (last error: {REFUSED})"],
        ),
        (
            mailbox(last_fetch_at=ago(minutes=7), last_error=REFUSED, last_error_at=ago(minutes=1)),
            [f"mailbox {KEY}: no successful fetch for 7 min (last error: {REFUSED})"],
        ),
        (  # an error older than the last success is over
            mailbox(last_fetch_at=ago(minutes=7), last_error=REFUSED, last_error_at=ago(hours=1)),
            [f"mailbox {KEY}: no successful fetch for 7 min"],
        ),
        (mailbox(holder=None, last_fetch_at=ago(seconds=50)), []),  # just stopped cleanly
        (
            mailbox(holder=None, last_fetch_at=ago(seconds=70)),
            [f"mailbox {KEY}: nobody holds it"],
        ),
        (
            mailbox(
                holder=replace(ALIVE, heartbeat_at=ago(seconds=75)), last_fetch_at=ago(seconds=80)
            ),
            [f"mailbox {KEY}: nobody holds it (its holder mx1:10:a is silent for 75 s)"],
        ),
        (
            mailbox(backlog=12, oldest_backlog_at=ago(minutes=10)),
            [f"mailbox {KEY}: 12 fetched mail(s) unprocessed, the oldest for 10 min"],
        ),
        (mailbox(backlog=12, oldest_backlog_at=ago(minutes=4)), []),
    ],
)
def test_a_mailbox_is_stale_failing_or_unwatched(box: MailboxFacts, expected: list[str]) -> None:
    assert problems(facts(mailboxes=(box,)), LIMITS) == expected


def test_outbox_mail_waiting_long_not_tried_or_held_by_the_dead_is_a_problem() -> None:
    oldest = OldestMail(7, "ack", ago(minutes=45), ago(minutes=3), 3, "451 4.3.0 try later")
    found = problems(
        facts(
            outbox_pending=4,
            outbox_due=2,
            oldest_mail=oldest,
            first_due_at=ago(minutes=3),
            gone_claims=(GoneClaims("mx2:9:b", "silent for 200 s", 2, timedelta(minutes=4)),),
        ),
        LIMITS,
    )
    assert found == [
        "outbox: oldest due mail waiting 45 min (ack, 3 attempt(s), last error: 451 4.3.0 try "
        "later)",
        "outbox: 2 mail(s) due for 3 min and not tried: is any worker running?",
        "outbox: 2 mail(s) claimed 4 min ago by worker mx2:9:b, gone (silent for 200 s)",
    ]
    fresh = replace(oldest, created_at=ago(minutes=14))
    recent = GoneClaims("mx2:9:b", "silent for 20 s", 2, timedelta(seconds=20))
    calm = facts(oldest_mail=fresh, first_due_at=ago(seconds=90), gone_claims=(recent,))
    assert problems(calm, LIMITS) == []


def test_thresholds_follow_the_poll_and_outbox_intervals(settings: Settings) -> None:
    slow = replace(
        settings,
        imap=replace(settings.imap, poll_interval=timedelta(minutes=5)),
        timers=replace(settings.timers, outbox_interval=timedelta(minutes=2)),
    )
    assert thresholds(slow) == Thresholds(
        fetch_stale=timedelta(minutes=15),
        unheld=timedelta(minutes=10),
        backlog_stale=timedelta(minutes=15),
        outbox_waiting=timedelta(minutes=40),
        outbox_overdue=timedelta(minutes=8),
    )
    defaults = replace(
        settings,
        imap=replace(settings.imap, poll_interval=timedelta(seconds=60)),
        timers=replace(settings.timers, outbox_interval=timedelta(seconds=15)),
    )
    assert thresholds(defaults) == Thresholds(
        fetch_stale=timedelta(minutes=3),
        unheld=timedelta(minutes=2),
        backlog_stale=timedelta(minutes=5),
        outbox_waiting=timedelta(minutes=15),
        outbox_overdue=timedelta(minutes=2),
    )


def test_ages_read_as_people_say_them() -> None:
    spans = [timedelta(seconds=45), timedelta(minutes=7), timedelta(hours=3), timedelta(days=2)]
    assert [age(s) for s in spans] == ["45 s", "7 min", "3 h", "2 d"]


def test_json_and_text_carry_the_same_facts_and_problems() -> None:
    stale = facts(mailboxes=(mailbox(last_fetch_at=ago(minutes=7)),))
    found = problems(stale, LIMITS)
    data = as_json(stale, found)
    assert data["problems"] == found and data["healthy"] is False
    (box,) = data["mailboxes"]
    assert box["holder"]["worker_id"] == "mx1:10:a" and box["holder"]["alive"] is True
    assert box["last_fetch_at"] == "2026-11-23T09:53:00+00:00"
    assert data["quarantine"] == 3
    assert data["oldest_unanswered_ticket"]["code"] == "SOP-ABC123"
    lines = text_lines(stale, found)
    assert lines[: len(found)] == found and lines[len(found)].startswith("--- status at")
    assert text_lines(facts(), [])[0] == "healthy: nothing stale or failing"


@both_databases
def test_the_facts_are_read_from_the_database(engine: Engine) -> None:
    now = datetime.now(UTC)
    with transaction(engine) as session:
        session.add(Customer(id=1, name="Laura", created_at=now))
        session.flush()
        for code, status, hours in (
            ("SOP-OLD", "new", 5),
            ("SOP-NEW", "new", 1),
            ("SOP-ANS", "open", 9),
        ):
            session.add(
                Ticket(
                    code=code,
                    subject="s",
                    status=status,
                    department="Hosting",
                    requester="l@x",
                    customer_id=1,
                    created_at=now - timedelta(hours=hours),
                    updated_at=now,
                )
            )
        for uid, state in enumerate(("pending", "pending", "done", "failed"), start=1):
            session.add(
                Inbound(
                    mailbox=KEY,
                    uidvalidity=1,
                    uid=uid,
                    dedup_key=f"k{uid}",
                    state=state,
                    fetched_at=now - timedelta(minutes=uid),
                )
            )
        for n, (created, due) in enumerate(((50, -1), (20, 5), (10, -3))):
            session.add(
                Outbox(
                    kind="ack",
                    message_id=f"<o{n}@x>",
                    envelope_from="s@x",
                    recipients="[]",
                    attempts=n,
                    created_at=now - timedelta(minutes=created),
                    next_attempt_at=now + timedelta(minutes=due),
                )
            )
        session.add(
            Worker(id="w1", host="mx1", pid=1, process="p", started_at=now, heartbeat_at=now)
        )
        session.add(MailboxWatch(mailbox=KEY, holder="w1", held_since=now, last_fetch_at=now))
    with transaction(engine) as session:
        found = read_facts(session, [KEY], now)
    (box,) = found.mailboxes
    assert box.holder is not None and (box.holder.worker_id, box.holder.host) == ("w1", "mx1")
    assert (box.backlog, box.last_fetch_at) == (2, now)
    assert box.oldest_backlog_at == now - timedelta(minutes=2)
    assert (found.outbox_pending, found.outbox_due) == (3, 2)
    assert found.oldest_mail is not None and found.oldest_mail.attempts == 0
    assert found.oldest_mail.created_at == now - timedelta(minutes=50)
    assert found.first_due_at == now - timedelta(minutes=3)
    assert found.quarantined == 1
    assert found.oldest_unanswered == ("SOP-OLD", now - timedelta(hours=5))
    assert found.live_workers == 1
