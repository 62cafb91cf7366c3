"""`run --once` drains the outbox (SPEC §2); a relay answering 4xx never makes it loop."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from mailtickets.daemon import CycleReport, Daemon
from mailtickets.db import connect, open_database
from mailtickets.outbox import BACKOFF_BASE
from tests.conftest import World, both_databases, eml_variant

pytestmark = both_databases

MAILS = 300
TRY_LATER = "451 4.3.0 Intentelo mas tarde"


def rows(world: World, query: str) -> list[tuple[Any, ...]]:
    return world.query(query)


def configure(world: World, smtp_batch: int | None = None) -> None:
    """Five senders write many mails each: lift the hourly auto-reply limit."""
    text = world.config.read_text().replace(
        'unknown_senders = "open"', 'unknown_senders = "open"\nmax_auto_replies_per_hour = 10000'
    )
    if smtp_batch is not None:
        text = text.replace("[smtp]\n", f"[smtp]\nbatch_size = {smtp_batch}\n")
    world.config.write_text(text)


def deliver_many(world: World, count: int, prefix: str) -> None:
    with world.dovecot.client(world.user) as client:
        for n in range(count):
            client.append("INBOX", eml_variant(n, prefix))


def received_ids(world: World) -> list[str]:
    return [str(r.message["Message-ID"]).strip() for r in world.sink.received]


def queued_ids(world: World) -> list[str]:
    return [m for (m,) in rows(world, "SELECT message_id FROM outbox")]


def test_one_run_once_hands_every_acknowledgement_and_notice_to_the_relay(world: World) -> None:
    configure(world)
    deliver_many(world, MAILS, "drain")
    code, out, err = world.cli("run", "--once")
    assert code == 0, err[-1500:]
    queued = queued_ids(world)
    assert f"mail sent {len(queued)}, retrying 0, failed 0" in out
    assert rows(world, "SELECT state, count(*) FROM inbound GROUP BY state") == [("done", MAILS)]
    # An acknowledgement and a staff notice for every ticket, and nothing left pending.
    for kind in ("ack", "staff_new"):
        tickets = rows(world, f"SELECT count(DISTINCT ticket_id) FROM outbox WHERE kind = '{kind}'")
        assert tickets == [(MAILS,)], kind
    assert rows(world, "SELECT DISTINCT state FROM outbox") == [("sent",)]
    assert sorted(received_ids(world)) == sorted(queued)  # every one at the sink, each once
    # Several batches (of [smtp] batch_size, 100) in a delivery went over the two
    # connections of [smtp] connections' default, opened once for the whole delivery.
    # Each delivery of the cycle (one a second of processing, then the last) over at most
    # those two; each ticket's mail in the order it was queued.
    turns = err.count("sent while processing goes on")
    assert 2 <= len({r.peer for r in world.sink.received}) <= 2 * (turns + 1)
    assert_each_ticket_in_order(world)


def test_a_backlog_s_acknowledgements_go_out_while_the_rest_is_processed(world: World) -> None:
    configure(world)
    world.config.write_text(
        world.config.read_text().replace("[imap]\n", "[imap]\nbatch_size = 5\n")
    )
    deliver_many(world, 40, "turns")
    settings = world.settings
    engine = open_database(settings.database_url)
    daemon = Daemon(settings, engine)
    daemon.deliver_every = 0  # a delivery after every batch, not after a second of them
    try:
        report = daemon.cycle()
    finally:
        daemon.log_out()
        engine.dispose()
    assert report.errors == [] and len(report.results) == 40
    queued = queued_ids(world)
    assert report.sent == len(queued) >= 80  # the counts of every delivery of the cycle
    assert sorted(received_ids(world)) == sorted(queued)  # each once
    # The first acknowledgements reached the relay before the last tickets were opened.
    first = min(r.at for r in world.sink.received)
    opened = [aware(t).timestamp() for (t,) in rows(world, "SELECT created_at FROM ticket")]
    assert sum(t > first for t in opened) >= 20, (first, opened)


def test_a_relay_refusing_a_turn_s_batch_is_not_tried_again_in_the_cycle(world: World) -> None:
    configure(world)
    world.config.write_text(
        world.config.read_text().replace("[imap]\n", "[imap]\nbatch_size = 5\n")
    )
    deliver_many(world, 30, "turn-refused")
    world.sink.replies = [TRY_LATER] * 1000
    settings = world.settings
    engine = open_database(settings.database_url)
    daemon = Daemon(settings, engine)
    daemon.deliver_every = 0
    try:
        report = daemon.cycle()
    finally:
        daemon.log_out()
        engine.dispose()
    # The first turn, after the first five mails, claimed what they queued; the relay
    # took none of it, so neither a later turn nor the cycle's own delivery knocked again.
    tried = report.retried
    assert len(report.results) == 30 and report.sent == 0 and report.resting
    assert 10 <= tried <= 20  # five mails' acknowledgements and notices (and their like)
    assert len(world.sink.replies) == 1000 - tried
    assert sum("left for retry" in e for e in report.errors) == 1, report.errors
    count = len(queued_ids(world))
    assert count >= 60 and rows(
        world, "SELECT attempts, count(*) FROM outbox GROUP BY attempts ORDER BY attempts"
    ) == [(0, count - tried), (1, tried)]


def aware(when: datetime | str) -> datetime:
    """A stored instant (SQLite gives text) as an aware datetime; stored ones are UTC."""
    when = datetime.fromisoformat(when) if isinstance(when, str) else when
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def assert_each_ticket_in_order(world: World) -> None:
    queued = {m: (t, n) for n, t, m in rows(world, "SELECT id, ticket_id, message_id FROM outbox")}
    seen: dict[int, list[int]] = {}
    for received in world.sink.received:
        ticket, n = queued[str(received.message["Message-ID"]).strip()]
        seen.setdefault(ticket, []).append(n)
    assert len(seen) >= 60  # tickets
    for arrived in seen.values():
        assert arrived == sorted(arrived)


def queued_before_delivery(world: World) -> None:
    """Fetch and process in process, with no delivery between the batches: the next `run
    --once` hands everything to the relay in one delivery."""
    settings = world.settings
    engine = open_database(settings.database_url)
    daemon = Daemon(settings, engine)
    daemon.deliver_every = math.inf
    try:
        with daemon.worker:
            report = CycleReport()
            daemon._ingest(report)
            daemon._process(report)
        daemon.close()
    finally:
        engine.dispose()
    assert report.saved and report.sent == 0 and report.errors == []


def sends_everything_once(world: World) -> str:
    """One `run --once` that hands every queued mail to the relay, each once; its stderr."""
    code, out, err = world.cli("run", "--once")
    assert code == 0, err[-1500:]
    queued = queued_ids(world)
    assert f"mail sent {len(queued)}, retrying 0, failed 0" in out
    assert sorted(received_ids(world)) == sorted(queued)
    return err


def test_a_relay_that_takes_one_connection_gets_everything_over_it(world: World) -> None:
    configure(world)
    world.config.write_text(
        world.config.read_text().replace("[smtp]\n", "[smtp]\nconnections = 3\n")
    )
    deliver_many(world, 60, "one-connection")
    queued_before_delivery(world)  # the flush below is of 120 mails at once
    world.sink.max_sessions = 1
    err = sends_everything_once(world)
    assert len({r.peer for r in world.sink.received}) == 1
    # Asked once for a second connection, refused, not asked again within the flush (its
    # 120 rows are two batches, each of enough mail for more than one connection).
    assert world.sink.refused_sessions == 1
    assert "no connection 2" in err and "sending over 1" in err


def test_mail_turned_away_on_a_second_connection_goes_over_the_first(world: World) -> None:
    # Microsoft 365 takes the connection and answers 432 to the mail sent on it.
    configure(world)
    deliver_many(world, 60, "turned-away")
    queued_before_delivery(world)  # the flush below is of 120 mails at once
    world.sink.mail_sessions = 1
    err = sends_everything_once(world)
    assert world.sink.turned_away == 1  # the second connection was not used again
    assert "would not take mail on connection 2 of 2" in err
    # The attempt the relay turned away is not counted against the mail.
    assert rows(world, "SELECT DISTINCT attempts FROM outbox") == [(1,)]
    assert_each_ticket_in_order(world)


def test_a_mail_that_cannot_be_sent_costs_only_its_own_attempt(world: World) -> None:
    # A row the code cannot handle (recipients not JSON): before, the exception left the
    # batch unrecorded, and what the relay had taken was sent again by the next flush.
    configure(world)
    deliver_many(world, 30, "broken-row")
    world.sink.stop()
    code, _, _ = world.cli("run", "--once")  # everything queued, nothing delivered
    assert code == 1
    world.sink.restart()
    ((broken, count),) = rows(world, "SELECT min(id), count(*) FROM outbox")
    engine = connect(world.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET next_attempt_at = created_at"))
        conn.execute(
            text("UPDATE outbox SET recipients = 'not json' WHERE id = :id"), {"id": broken}
        )
    engine.dispose()
    code, out, err = world.cli("run", "--once")
    assert code == 1 and f"mail sent {count - 1}, retrying 1, failed 0" in out, err[-3000:]
    assert "JSONDecodeError" in err  # logged, with its traceback, for whoever fixes it
    ((detail,),) = rows(world, f"SELECT last_error FROM outbox WHERE id = {broken}")
    assert detail.startswith("JSONDecodeError")
    ids = received_ids(world)
    assert len(ids) == len(set(ids)) == count - 1
    world.cli("run", "--once")  # nothing sent twice
    assert len(received_ids(world)) == count - 1


def test_a_relay_answering_4xx_backs_off_every_mail_and_run_once_exits(world: World) -> None:
    configure(world)
    deliver_many(world, 20, "refused")
    queued_before_delivery(world)  # one delivery of every mail, in one batch
    world.sink.replies = [TRY_LATER] * 1000  # far more than needed: a loop would eat them
    started = datetime.now(UTC)
    code, out, err = world.cli("run", "--once")
    states = rows(world, "SELECT state, attempts, last_error, next_attempt_at FROM outbox")
    count = len(states)
    assert code == 1 and f"mail sent 0, retrying {count}, failed 0" in out
    assert f"{count} mail(s) left for retry" in err
    assert count >= 40 and len(world.sink.replies) == 1000 - count  # each tried exactly once
    assert world.sink.received == []
    for state, attempts, error, due in states:
        assert (state, attempts) == ("pending", 1) and "451" in error
        due = due if isinstance(due, datetime) else datetime.fromisoformat(due)  # SQLite: text
        assert due.replace(tzinfo=UTC) > started + BACKOFF_BASE * 0.75
    # Backed off: a second run finds nothing due and does not knock on the relay again.
    code, out, _ = world.cli("run", "--once")
    assert code == 0 and "mail sent 0, retrying 0" in out
    assert len(world.sink.replies) == 1000 - count


def test_a_relay_refusing_a_whole_batch_is_left_alone_until_a_later_run(world: World) -> None:
    configure(world, smtp_batch=10)
    deliver_many(world, 30, "resting")
    world.sink.replies = [TRY_LATER] * 1000
    code, out, _ = world.cli("run", "--once")
    assert code == 1 and "mail sent 0, retrying 10, failed 0" in out
    assert len(world.sink.replies) == 1000 - 10  # one batch tried, then the relay rests
    count = len(queued_ids(world))
    assert rows(
        world, "SELECT attempts, count(*) FROM outbox GROUP BY attempts ORDER BY attempts"
    ) == [
        (0, count - 10),
        (1, 10),
    ]
    world.sink.replies = []
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    code, out, _ = world.cli("sweep", "--at", later)
    assert code == 0 and f"mail sent {count}, retrying 0" in out
    assert sorted(received_ids(world)) == sorted(queued_ids(world))


def test_one_4xx_in_a_backlog_does_not_stop_the_rest(world: World) -> None:
    configure(world, smtp_batch=10)
    deliver_many(world, 15, "greylisted")
    world.sink.replies = [TRY_LATER]  # the first mail only
    code, out, _ = world.cli("run", "--once")
    count = len(queued_ids(world))
    assert code == 1 and f"mail sent {count - 1}, retrying 1, failed 0" in out
    assert rows(
        world, "SELECT state, attempts, count(*) FROM outbox GROUP BY 1, 2 ORDER BY 1, 2"
    ) == [
        ("pending", 1, 1),
        ("sent", 1, count - 1),
    ]
