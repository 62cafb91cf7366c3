"""The metrics endpoint, scraped over HTTP on loopback, over a real database: SQLite, and
PostgreSQL too for the gauges read from it."""

from __future__ import annotations

import re
import socket
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine
from sqlmodel import select

from mailtickets import metrics, store
from mailtickets.codes import new_code
from mailtickets.daemon import Daemon
from mailtickets.db import connect, open_database, transaction
from mailtickets.errors import TemporaryError
from mailtickets.ingest import mailbox_key
from mailtickets.models import Inbound, Outbox
from mailtickets.pipeline import Result
from mailtickets.settings import Settings
from mailtickets.timers import Fired
from mailtickets.watch import make_row, record_error, record_fetch
from tests.conftest import both_databases

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample the endpoint serves, by name and labels."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.status == 200
        text = answer.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def endpoint(engine: Engine, settings: Settings) -> Iterator[metrics.Endpoint]:
    ours = metrics.Metrics(
        engine,
        lambda: NOW,
        departments=[d.name for d in settings.departments],
        mailboxes={"default": mailbox_key(settings.imap)},
    )
    served = metrics.start("127.0.0.1:0", engine, ours)
    yield served
    served.stop()


def queue(engine: Engine, n: int, created: datetime, due: datetime, state: str = "pending") -> None:
    """One outbox row through the store, as the notifier queues it."""
    values = {
        "kind": "ack",
        "message_id": f"<m{n}@metrics.test>",
        "envelope_from": "soporte@hostingejemplo.es",
        "recipients": store.recipients_json(["ana.lopez@cliente.es"]),
        "raw": b"",
        "state": state,
        "automatic": False,
        "next_attempt_at": due,
        "created_at": created,
    }
    with transaction(engine) as session:
        store.add_outbox(session, values, [])


def save_inbound(engine: Engine, uid: int, state: str) -> None:
    row = Inbound(
        mailbox="default",
        uidvalidity=1,
        uid=uid,
        dedup_key=f"key-{uid}",
        fetched_at=NOW,
        state=state,
    )
    with transaction(engine) as session:
        store.add_inbound(session, row, b"Subject: x\r\n\r\nx\r\n")


def test_recorded_events_are_served_with_their_labels(endpoint: metrics.Endpoint) -> None:
    m = endpoint.metrics
    m.record_results(
        [
            Result(1, 10, "<a@x>", "done", "SOP-7KQ2MX", "new (new ticket)"),
            Result(2, 11, "<b@x>", "done", "SOP-7KQ2MX", "append (reply)"),
            Result(3, 12, "<c@x>", "failed, will retry", "", "attempt 1: boom"),
            Result(4, 13, "<d@x>", "quarantined", "", "attempt 3: boom"),
            Result(5, 14, "<e@x>", "ignored", "", "ignore (auto-reply)"),
        ]
    )
    m.record_ingested("default", saved=4, duplicates=2)
    m.record_fetch("default", 0.2, ok=True)
    m.record_fetch("default", 3.0, ok=False)
    m.record_delivery(sent=7, retried=2, failed=1)
    m.record_fired([Fired("reminder", "SOP-7KQ2MX", "sent"), Fired("sla_breach", "SOP-22", "x")])
    m.record_fired([Fired("reminder", "SOP-ABCDEF", "sent")])
    m.record_first_response("Hosting", 600)
    m.record_first_response("Hosting", 5400)

    got = scrape(endpoint.url)
    outcomes = {
        o: value(got, "mailtickets_messages_total", outcome=o)
        for o in ("done", "retry", "quarantined", "ignored", "duplicate", "other")
    }
    assert outcomes == {
        "done": 2,
        "retry": 1,
        "quarantined": 1,
        "ignored": 1,
        "duplicate": 2,
        "other": 0,
    }
    assert value(got, "mailtickets_messages_saved_total", mailbox="default") == 4
    assert value(got, "mailtickets_fetch_duration_seconds_count", mailbox="default") == 2
    assert value(got, "mailtickets_fetch_duration_seconds_sum", mailbox="default") == 3.2
    assert (
        value(got, "mailtickets_fetch_duration_seconds_bucket", mailbox="default", le="0.25") == 1
    )
    assert value(got, "mailtickets_fetch_failures_total", mailbox="default") == 1
    smtp = {
        c: value(got, "mailtickets_smtp_results_total", **{"class": c})
        for c in ("sent", "retried", "failed")
    }
    assert smtp == {"sent": 7, "retried": 2, "failed": 1}
    fired = {
        k: value(got, "mailtickets_timers_fired_total", kind=k)
        for k in ("reminder", "autoclose", "sla_breach")
    }
    assert fired == {"reminder": 2, "autoclose": 0, "sla_breach": 1}
    first = {"department": "Hosting"}
    assert value(got, "mailtickets_first_response_seconds_count", **first) == 2
    assert value(got, "mailtickets_first_response_seconds_bucket", le="900.0", **first) == 1
    assert value(got, "mailtickets_first_response_seconds_bucket", le="7200.0", **first) == 2
    # Every configured department has its series from the start, at zero.
    assert value(got, "mailtickets_first_response_seconds_count", department="Dominios") == 0


@both_databases
def test_outbox_and_inbound_gauges_are_read_from_the_database(
    endpoint: metrics.Endpoint, engine: Engine
) -> None:
    empty = scrape(endpoint.url)
    assert value(empty, "mailtickets_database_up") == 1
    assert value(empty, "mailtickets_outbox_pending") == 0
    assert value(empty, "mailtickets_outbox_oldest_pending_age_seconds") == 0

    # Queued 2 h ago, backing off until 10 min from now; queued 50 min ago, due 40 min ago;
    # a mail sent three days ago, which is history, not depth.
    queue(engine, 1, created=NOW - timedelta(hours=2), due=NOW + timedelta(minutes=10))
    queue(engine, 2, created=NOW - timedelta(minutes=50), due=NOW - timedelta(minutes=40))
    queue(engine, 3, created=NOW - timedelta(days=3), due=NOW - timedelta(days=3), state="sent")
    for uid, state in ((1, "pending"), (2, "pending"), (3, "failed"), (4, "done")):
        save_inbound(engine, uid, state)

    got = scrape(endpoint.url)
    assert value(got, "mailtickets_outbox_pending") == 2
    assert value(got, "mailtickets_outbox_due") == 1
    assert value(got, "mailtickets_outbox_oldest_pending_age_seconds") == 2 * 3600
    assert value(got, "mailtickets_outbox_oldest_due_age_seconds") == 40 * 60
    assert value(got, "mailtickets_inbound_pending") == 2
    assert value(got, "mailtickets_inbound_quarantined") == 1


@both_databases
def test_every_worker_reports_the_same_queues(
    endpoint: metrics.Endpoint, settings: Settings
) -> None:
    # A second process on the same database, which did none of the work, sees it too.
    other_engine = open_database(settings.database_url)
    try:
        with metrics.start("127.0.0.1:0", other_engine, clock=lambda: NOW) as other:
            queue(other_engine, 1, created=NOW - timedelta(minutes=31), due=NOW)
            mine, theirs = scrape(endpoint.url), scrape(other.url)
    finally:
        other_engine.dispose()
    for got in (mine, theirs):
        assert value(got, "mailtickets_outbox_pending") == 1
        assert value(got, "mailtickets_outbox_oldest_pending_age_seconds") == 31 * 60
    # The counters are each process's own: the second one counted nothing it did not do.
    endpoint.metrics.record_delivery(sent=1, retried=0, failed=0)
    assert value(scrape(endpoint.url), "mailtickets_smtp_results_total", **{"class": "sent"}) == 1


@both_databases
def test_sent_mail_leaves_the_depth(endpoint: metrics.Endpoint, engine: Engine) -> None:
    queue(engine, 1, created=NOW - timedelta(hours=1), due=NOW - timedelta(hours=1))
    queue(engine, 2, created=NOW - timedelta(minutes=5), due=NOW - timedelta(minutes=5))
    assert value(scrape(endpoint.url), "mailtickets_outbox_oldest_pending_age_seconds") == 3600
    with transaction(engine) as session:
        oldest = session.exec(select(Outbox).where(Outbox.message_id == "<m1@metrics.test>")).one()
        oldest.state, oldest.sent_at = "sent", NOW
        session.add(oldest)
    got = scrape(endpoint.url)
    assert value(got, "mailtickets_outbox_pending") == 1
    assert value(got, "mailtickets_outbox_oldest_pending_age_seconds") == 300
    assert value(got, "mailtickets_outbox_oldest_due_age_seconds") == 300


def test_scrape_queries_read_indexes_not_tables(engine: Engine) -> None:
    # EXPLAIN QUERY PLAN says SCAN for a table walked row by row, SEARCH … USING INDEX for
    # a lookup: the gauges must cost what is waiting, not the outbox's whole history.
    with engine.connect() as conn:
        for name, query in metrics.outbox_queries(NOW).items():
            compiled = query.compile(engine)
            params = tuple(compiled.params[k] for k in compiled.positiontup or ())
            bound = tuple(p.isoformat(" ") if isinstance(p, datetime) else p for p in params)
            plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", bound)]
            # Every step a SEARCH through an index: no SCAN (even of a whole index), no sort.
            assert plan and all(
                step.startswith("SEARCH") and "USING" in step and "INDEX" in step for step in plan
            ), (name, plan)


# What no label value may hold: an address, or a ticket code with any prefix.
ADDRESS_OR_CODE = re.compile(r"@|[A-Za-z0-9]{1,8}-[2-9A-HJ-NP-Za-hj-np-z]{6}")


def test_no_label_holds_a_ticket_code_or_an_address(
    endpoint: metrics.Endpoint, engine: Engine
) -> None:
    m = endpoint.metrics
    code = new_code("SOP")
    assert ADDRESS_OR_CODE.search(code)  # the pattern does find a code
    m.record_results([Result(1, 1, "<a@x>", "done", code, f"new ({code} for ana@cliente.es)")])
    m.record_fired([Fired("reminder", code, "reminder to ana@cliente.es")])
    # A mailbox given by its key (user@host:port/folder) instead of its name: dropped.
    m.record_fetch("nadie@127.0.0.1:1/INBOX", 0.1, ok=True)
    m.record_first_response(f"Hosting {code}", 60)
    queue(engine, 1, created=NOW, due=NOW)
    got = scrape(endpoint.url)
    labels = {v for _, pairs in got for k, v in pairs if k != "le"}
    assert "done" in labels and "reminder" in labels  # the check below has labels to check
    assert [v for v in labels if ADDRESS_OR_CODE.search(v)] == []
    assert value(got, "mailtickets_fetch_duration_seconds_count", mailbox=metrics.REDACTED) == 1
    assert value(got, "mailtickets_first_response_seconds_count", department=metrics.REDACTED) == 1


def test_a_fetch_that_raises_counts_as_a_failure(endpoint: metrics.Endpoint) -> None:
    with pytest.raises(TemporaryError), endpoint.metrics.fetch("default"):
        raise TemporaryError("IMAP server down")
    with endpoint.metrics.fetch("default"):
        pass
    got = scrape(endpoint.url)
    assert value(got, "mailtickets_fetch_failures_total", mailbox="default") == 1
    assert value(got, "mailtickets_fetch_duration_seconds_count", mailbox="default") == 2


def test_an_unreadable_database_is_a_gauge_not_a_failed_scrape(tmp_path: Any) -> None:
    # A database file in a folder that does not exist: every connection fails.
    broken = connect(f"sqlite:///{tmp_path}/absent/mt.db")
    try:
        with metrics.start("127.0.0.1:0", broken) as served:
            got = scrape(served.url)
    finally:
        broken.dispose()
    assert value(got, "mailtickets_database_up") == 0
    assert not any(name == "mailtickets_outbox_pending" for name, _ in got)


def test_a_port_in_use_is_one_line_naming_the_address(engine: Engine) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(TemporaryError, match=f"metrics endpoint {listen}: "):
            metrics.start(listen, engine)


def test_stop_frees_the_port(engine: Engine) -> None:
    served = metrics.start("127.0.0.1:0", engine)
    port = served.port
    assert value(scrape(served.url), "mailtickets_database_up") == 1
    served.stop()
    with socket.socket() as again:
        # REUSEADDR, as the server itself binds: only a socket still listening stops this,
        # not the scrape's connection lingering in TIME_WAIT.
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
    with pytest.raises(OSError):
        urllib.request.urlopen(served.url, timeout=2)


def test_a_daemon_cycles_report_is_counted_whole(
    endpoint: metrics.Endpoint, settings: Settings, engine: Engine
) -> None:
    # The real daemon, its IMAP and SMTP servers nowhere (port 1): the fetch fails and is
    # recorded on the mailbox's watch row, the two due mails are tried, and the relay that
    # cannot be reached leaves them for retry.
    queue(engine, 1, created=NOW, due=NOW - timedelta(minutes=1))
    queue(engine, 2, created=NOW, due=NOW - timedelta(minutes=1))
    daemon = Daemon(settings, engine, clock=lambda: NOW)
    report = daemon.cycle()
    daemon.close()
    assert report.retried == 2 and report.sent == 0  # what the metrics must then say
    endpoint.metrics.record_cycle(report)
    got = scrape(endpoint.url)
    smtp = {
        c: value(got, "mailtickets_smtp_results_total", **{"class": c})
        for c in ("sent", "retried", "failed")
    }
    assert smtp == {"sent": 0, "retried": 2, "failed": 0}
    assert value(got, "mailtickets_messages_saved_total", mailbox="default") == 0
    assert value(got, "mailtickets_mailbox_failing", mailbox="default") == 1
    assert not any(n == "mailtickets_mailbox_last_fetch_timestamp_seconds" for n, _ in got)
    assert value(got, "mailtickets_outbox_pending") == 2  # backing off, still unsent
    assert value(got, "mailtickets_outbox_due") == 0


@both_databases
def test_the_last_fetch_of_each_mailbox_is_the_databases_whoever_fetched(
    engine: Engine, settings: Settings
) -> None:
    # As the watch rows of `run` record them (watch.py): "default" failed an hour ago and
    # fetched since; "ventas" fetched, then its login stopped working; "nuevo" never ran.
    keys = {
        "default": mailbox_key(settings.imap),
        "ventas": "ventas@hostingejemplo.es@127.0.0.1:1/INBOX",
        "nuevo": "nuevo@hostingejemplo.es@127.0.0.1:1/INBOX",
    }
    for key in (keys["default"], keys["ventas"], "gone@127.0.0.1:1/INBOX"):
        make_row(engine, key)
    with transaction(engine) as session:
        record_error(session, keys["default"], "IMAP server down", NOW - timedelta(hours=1))
        record_fetch(session, keys["default"], NOW - timedelta(minutes=2))
        record_fetch(session, keys["ventas"], NOW - timedelta(hours=3))
        record_error(session, keys["ventas"], "LOGIN failed", NOW - timedelta(minutes=1))
        record_fetch(session, "gone@127.0.0.1:1/INBOX", NOW)
    with metrics.start("127.0.0.1:0", engine, metrics.Metrics(engine, mailboxes=keys)) as served:
        got = scrape(served.url)
    last = "mailtickets_mailbox_last_fetch_timestamp_seconds"
    assert value(got, last, mailbox="default") == (NOW - timedelta(minutes=2)).timestamp()
    assert value(got, last, mailbox="ventas") == (NOW - timedelta(hours=3)).timestamp()
    assert value(got, "mailtickets_mailbox_failing", mailbox="default") == 0
    assert value(got, "mailtickets_mailbox_failing", mailbox="ventas") == 1
    # Only configured mailboxes, by name; one never watched has no series yet.
    shown = {dict(labels)["mailbox"] for name, labels in got if name == last}
    assert shown == {"default", "ventas"}


def test_serving_is_off_without_listen_and_stops_with_its_block(engine: Engine) -> None:
    ours = metrics.Metrics(engine)
    with metrics.serving("", ours) as off:
        assert off is None
    with metrics.serving("127.0.0.1:0", ours) as on:
        assert on is not None
        url = on.url
        assert value(scrape(url), "mailtickets_database_up") == 1
    with pytest.raises(OSError):  # the block is over: nobody answers there any more
        urllib.request.urlopen(url, timeout=2)
