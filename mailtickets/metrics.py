"""Prometheus metrics: what this process did, fed by the daemon, and the database's queues
read at scrape time, so those hold whichever worker did the work. Labels are bounded sets
(outcome, mailbox name, department, class, timer kind): never a ticket code or an address."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from mailtickets.alerts import open_alerts
from mailtickets.codes import ALPHABET, CODE_LENGTH
from mailtickets.db import transaction
from mailtickets.errors import TemporaryError
from mailtickets.models import Inbound, MailboxWatch, Outbox
from mailtickets.settings import split_listen
from mailtickets.timers import TIMERS
from mailtickets.watch import watches

if TYPE_CHECKING:  # types only: the daemon imports this module
    from mailtickets.daemon import CycleReport
    from mailtickets.pipeline import Result
    from mailtickets.timers import Fired

log = logging.getLogger("mailtickets.metrics")

Clock = Callable[[], datetime]

# Result.state → the outcome label; a state not listed here counts as "other", so a new
# state can never put free text (or a code) into a label.
OUTCOMES = {
    "done": "done",
    "ignored": "ignored",
    "failed, will retry": "retry",
    "quarantined": "quarantined",
    "spam": "spam",  # held: the site's spam filter marked it ([security] spam_headers)
}
DUPLICATE = "duplicate"  # fetched again, already stored: counted at ingest, never processed
# What outbox.flush reports: 2xx sent; 4xx or no connection retried; 5xx (or 4xx for too
# long) failed.
SMTP_CLASSES = ("sent", "retried", "failed")

FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_MINUTE, _HOUR, _DAY = 60, 3600, 86400
FIRST_RESPONSE_BUCKETS = tuple(
    float(s)
    for s in (
        5 * _MINUTE,
        15 * _MINUTE,
        30 * _MINUTE,
        _HOUR,
        2 * _HOUR,
        4 * _HOUR,
        8 * _HOUR,
        _DAY,
        2 * _DAY,
        3 * _DAY,
        7 * _DAY,
    )
)

REDACTED = "redacted"
# A ticket code anywhere in a label value (SOP-7KQ2MX, any prefix); an "@" is an address.
_CODE = re.compile(rf"[A-Za-z0-9]{{1,8}}-[{ALPHABET}{ALPHABET.lower()}]{{{CODE_LENGTH}}}")


def utc_now() -> datetime:
    return datetime.now(UTC)


def safe_label(value: str) -> str:
    """`value`, or "redacted" when it holds an address or a ticket code (logged: a bug)."""
    if "@" in value or _CODE.search(value):
        log.warning("metrics: a label value that looks like an address or ticket code dropped")
        return REDACTED
    return value


class Metrics:
    """This process's metric objects, in a registry of their own (tests run several)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock = utc_now,
        departments: Iterable[str] = (),
        mailboxes: Mapping[str, str] | None = None,
    ) -> None:
        """`mailboxes`: name → key (ingest.mailbox_key), whose watch rows the scrape reads;
        they and `departments` get their series at once, at zero."""
        mailboxes = dict(mailboxes or {})
        self.engine, self.clock = engine, clock
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "mailtickets_messages", "Inbound mail by what became of it", ["outcome"], registry=r
        )
        self.saved = Counter(
            "mailtickets_messages_saved",
            "Mail fetched and stored, per mailbox",
            ["mailbox"],
            registry=r,
        )
        self.fetch_seconds = Histogram(
            "mailtickets_fetch_duration_seconds",
            "One fetch of a mailbox (ingest), failed ones included",
            ["mailbox"],
            buckets=FETCH_BUCKETS,
            registry=r,
        )
        self.fetch_failures = Counter(
            "mailtickets_fetch_failures", "Fetches that raised", ["mailbox"], registry=r
        )
        self.smtp = Counter(
            "mailtickets_smtp_results", "Outbox delivery attempts by result", ["class"], registry=r
        )
        self.fired = Counter(
            "mailtickets_timers_fired", "Timers fired by kind", ["kind"], registry=r
        )
        self.first_response = Histogram(
            "mailtickets_first_response_seconds",
            "From a ticket's opening to its first staff answer relayed to the customer",
            ["department"],
            buckets=FIRST_RESPONSE_BUCKETS,
            registry=r,
        )
        # Every known label value from the start: a rate() over a series that appears only
        # at its first event misses that event, and an alert cannot tell "none" from "gone".
        for outcome in (*OUTCOMES.values(), DUPLICATE, "other"):
            self.messages.labels(outcome)
        for smtp_class in SMTP_CLASSES:
            self.smtp.labels(smtp_class)
        for timer in TIMERS:
            self.fired.labels(timer.name)
        for department in departments:
            self.first_response.labels(safe_label(department))
        for mailbox in mailboxes:
            name = safe_label(mailbox)
            self.saved.labels(name)
            self.fetch_seconds.labels(name)
            self.fetch_failures.labels(name)
        r.register(QueueCollector(engine, clock, mailboxes))

    def record_results(self, results: Iterable[Result]) -> None:
        """Count the pipeline's results (Pipeline.process_pending) by outcome."""
        for result in results:
            self.messages.labels(OUTCOMES.get(result.state, "other")).inc()
            if result.first_response is not None:
                seconds = result.first_response.total_seconds()
                self.record_first_response(result.department, seconds)

    def record_fetch(self, mailbox: str, seconds: float, ok: bool) -> None:
        """One fetch of `mailbox` (its name, never its key): how long, and whether it failed.
        The last success is the database's (mailbox_watch), whichever worker fetched."""
        name = safe_label(mailbox)
        self.fetch_seconds.labels(name).observe(seconds)
        if not ok:
            self.fetch_failures.labels(name).inc()

    @contextmanager
    def fetch(self, mailbox: str) -> Iterator[None]:
        """Time the block as one fetch of `mailbox`; it failed if the block raised."""
        started = time.monotonic()
        ok = False
        try:
            yield
            ok = True
        finally:
            self.record_fetch(mailbox, time.monotonic() - started, ok)

    def record_ingested(self, mailbox: str, saved: int, duplicates: int) -> None:
        """What one ingest stored (IngestReport.saved) and found stored already."""
        self.saved.labels(safe_label(mailbox)).inc(saved)
        self.messages.labels(DUPLICATE).inc(duplicates)

    def record_delivery(self, sent: int, retried: int, failed: int) -> None:
        """One outbox.flush's DeliveryReport."""
        for smtp_class, count in zip(SMTP_CLASSES, (sent, retried, failed), strict=True):
            self.smtp.labels(smtp_class).inc(count)

    def record_fired(self, fired: Iterable[Fired]) -> None:
        """Sweeper.sweep's list, counted by timer kind (the ticket codes are not kept)."""
        for timer in fired:
            self.fired.labels(safe_label(timer.kind)).inc()

    def record_cycle(self, report: CycleReport) -> None:
        """Everything a Daemon.cycle/sweep/deliver report counts (not the fetch timing)."""
        for mailbox, (saved, duplicates) in report.ingested.items():
            self.record_ingested(mailbox, saved, duplicates)
        self.record_results(report.results)
        self.record_fired(report.fired)
        self.record_delivery(report.sent, report.retried, report.failed)

    def record_first_response(self, department: str, seconds: float) -> None:
        """A ticket of `department` got its first staff answer `seconds` after it opened."""
        self.first_response.labels(safe_label(department)).observe(max(0.0, seconds))

    def text(self) -> bytes:
        """The Prometheus text exposition, as the endpoint serves it."""
        return generate_latest(self.registry)


# The scrape-time queries; each reads an index on `state` only (ix_outbox_state,
# ix_inbound_state), so its cost follows the rows waiting, not the table's history.
def outbox_queries(now: datetime) -> dict[str, SelectOfScalar[Any]]:
    """Name → query for the outbox and inbound gauges (also EXPLAINed by the tests)."""
    pending = col(Outbox.state) == "pending"
    due = col(Outbox.next_attempt_at) <= now
    return {
        "outbox_pending": select(func.count()).select_from(Outbox).where(pending),
        "outbox_due": select(func.count()).select_from(Outbox).where(pending, due),
        # MIN over the pending rows, not ORDER BY id LIMIT 1: PostgreSQL may answer that by
        # walking the primary key through every sent row before the first pending one.
        "oldest_pending": select(func.min(Outbox.created_at)).where(pending),
        "oldest_due": select(func.min(Outbox.next_attempt_at)).where(pending, due),
        "inbound_pending": select(func.count())
        .select_from(Inbound)
        .where(col(Inbound.state) == "pending"),
        "inbound_quarantined": select(func.count())
        .select_from(Inbound)
        .where(col(Inbound.state) == "failed"),
    }


@dataclass(frozen=True)
class QueueFigures:
    """The database's queues at one instant."""

    outbox_pending: int
    outbox_due: int
    oldest_pending_age: float
    oldest_due_age: float
    inbound_pending: int
    inbound_quarantined: int


def read_queues(session: Session, now: datetime) -> QueueFigures:
    """The figures the gauges show, in one read transaction."""
    q = outbox_queries(now)

    def age(name: str) -> float:
        at = session.exec(q[name]).first()
        return max(0.0, (now - at).total_seconds()) if isinstance(at, datetime) else 0.0

    def count(name: str) -> int:
        return int(session.exec(q[name]).one())

    return QueueFigures(
        count("outbox_pending"),
        count("outbox_due"),
        age("oldest_pending"),
        age("oldest_due"),
        count("inbound_pending"),
        count("inbound_quarantined"),
    )


_GAUGES = (
    (
        "outbox_pending",
        "mailtickets_outbox_pending",
        "Outbox mail not yet sent (due or backing off)",
    ),
    ("outbox_due", "mailtickets_outbox_due", "Outbox mail due now and not yet sent"),
    (
        "oldest_pending_age",
        "mailtickets_outbox_oldest_pending_age_seconds",
        "Age of the oldest unsent outbox mail since it was queued (0: none)",
    ),
    (
        "oldest_due_age",
        "mailtickets_outbox_oldest_due_age_seconds",
        "How long the most overdue outbox mail has been due without being sent (0: none)",
    ),
    ("inbound_pending", "mailtickets_inbound_pending", "Stored mail not yet processed"),
    ("inbound_quarantined", "mailtickets_inbound_quarantined", "Mail set aside after max_attempts"),
)
_LAST_FETCH = (
    "mailtickets_mailbox_last_fetch_timestamp_seconds",
    "When any worker last fetched the mailbox without error (Unix time)",
)
_FAILING = (
    "mailtickets_mailbox_failing",
    "1 when the mailbox's last attempt failed (server, login, network), else 0",
)
_UP = ("mailtickets_database_up", "1 when the scrape could read the database, else 0")
_REFUSED = (
    "mailtickets_credential_refused",
    "1 for each login (imap:NAME, smtp:NAME, smtp) whose credential is refused until a "
    "person renews it",
)


class QueueCollector(Collector):
    """The outbox and inbound gauges, read from the database at each scrape."""

    def __init__(self, engine: Engine, clock: Clock, mailboxes: Mapping[str, str]) -> None:
        self.engine, self.clock = engine, clock
        self.mailboxes = {key: safe_label(name) for name, key in mailboxes.items()}

    def describe(self) -> Iterable[Metric]:
        # Names only: registering must not query the database.
        described = (*_GAUGES, ("", *_UP), ("", *_LAST_FETCH), ("", *_FAILING), ("", *_REFUSED))
        return [GaugeMetricFamily(name, doc) for _, name, doc in described]

    def collect(self) -> Iterable[Metric]:
        try:
            with transaction(self.engine) as session:
                figures = read_queues(session, self.clock())
                rows = watches(session, list(self.mailboxes))  # by primary key
                refused = GaugeMetricFamily(*_REFUSED, labels=["login"])
                for alert in open_alerts(session):  # a handful of rows at most
                    refused.add_metric([safe_label(alert.key)], 1.0)
        except SQLAlchemyError as exc:  # a scrape never fails: it says the database is down
            log.warning("metrics: cannot read the database: %s", exc.__class__.__name__)
            return [GaugeMetricFamily(*_UP, value=0)]
        values = [
            GaugeMetricFamily(name, doc, value=float(getattr(figures, field)))
            for field, name, doc in _GAUGES
        ]
        return [GaugeMetricFamily(*_UP, value=1), *values, *self._mailbox_gauges(rows), refused]

    def _mailbox_gauges(self, rows: Mapping[str, MailboxWatch]) -> list[Metric]:
        last = GaugeMetricFamily(*_LAST_FETCH, labels=["mailbox"])
        failing = GaugeMetricFamily(*_FAILING, labels=["mailbox"])
        for key, name in self.mailboxes.items():
            row = rows.get(key)
            if row is None:
                continue  # never watched yet: no series, rather than a fetch in 1970
            if row.last_fetch_at is not None:
                last.add_metric([name], row.last_fetch_at.timestamp())
            failing.add_metric([name], float(mailbox_failing(row)))
        return [last, failing]


def mailbox_failing(row: MailboxWatch) -> bool:
    """The mailbox's last attempt failed: an error since its last good fetch (or none yet)."""
    if row.last_error_at is None:
        return False
    return row.last_fetch_at is None or row.last_error_at > row.last_fetch_at


@dataclass
class Endpoint:
    """The HTTP server serving `metrics`; `stop()` closes it."""

    metrics: Metrics
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self.server.server_address[0])
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start(
    listen: str, engine: Engine, metrics: Metrics | None = None, clock: Clock = utc_now
) -> Endpoint:
    """Serve `metrics` (new ones for `engine` if None) at `listen`, "host:port" (port 0:
    any free one), from a daemon thread; TemporaryError names the address if it is taken."""
    host, port = split_listen(listen)
    metrics = metrics or Metrics(engine, clock)
    try:
        server, thread = start_http_server(port, host, registry=metrics.registry)
    except OSError as exc:
        raise TemporaryError(f"metrics endpoint {listen}: {exc.strerror or exc}") from None
    return Endpoint(metrics, server, thread)


@contextmanager
def serving(listen: str, metrics: Metrics) -> Iterator[Endpoint | None]:
    """`metrics` served at `listen` for the block, or nothing when `listen` is "" (off)."""
    if not listen:
        yield None
        return
    with start(listen, metrics.engine, metrics) as endpoint:
        yield endpoint
