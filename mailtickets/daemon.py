"""Wire the stages together: one cycle for `run --once`, a schedule and signals for `run`."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType

import schedule
from sqlalchemy.engine import Engine

from mailtickets import metrics, outbox, ticket_checks
from mailtickets.alerts import Alerts
from mailtickets.article_files import reread_articles
from mailtickets.checkpoints import Checkpoints
from mailtickets.errors import TemporaryError
from mailtickets.ingest import SessionEnded
from mailtickets.pipeline import Pipeline, Result
from mailtickets.render import Renderer
from mailtickets.sdnotify import notify
from mailtickets.settings import Settings
from mailtickets.timers import Fired, Sweeper, delivery_hooks
from mailtickets.watch import RETRY
from mailtickets.watchers import wait_for_any, watchers_for
from mailtickets.workers import Heartbeat

log = logging.getLogger("mailtickets.daemon")


# The loop pings systemd's watchdog at least this often; the unit allows three times as long.
WATCHDOG_SECONDS = 30
# During a backlog, a delivery of what is committed after this much processing (a flush
# costs a connection and a claim: once a second is a few per cent at most).
DELIVER_EVERY = 1.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def _seconds(interval: timedelta) -> int:
    return max(1, int(interval.total_seconds()))


@dataclass
class CycleReport:
    saved: int = 0
    duplicates: int = 0
    results: list[Result] = field(default_factory=list)
    sent: int = 0
    retried: int = 0
    failed: int = 0
    fired: list[Fired] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: bool = False  # other live workers watch every mailbox: none fetched
    ingested: dict[str, tuple[int, int]] = field(default_factory=dict)  # name → saved, dupes
    checks_run: int = 0
    # A delivery stopped at a batch the relays took none of: the outbox rests until the
    # next cycle, so a relay that is down costs one try a cycle, turns or not.
    resting: bool = False


class DeliveryTurns:
    """Processing and delivery taking turns during a backlog: a delivery after `every`
    seconds of processing, for about as long as that processing took (checked between
    `[smtp] batch_size` batches: smaller ones cost a claim each, 11-20 % of a 5,000-mail
    cycle); after a delivery the relay did not take all of (down, a 4xx), none until the
    cycle's own delivery."""

    def __init__(self, every: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.since = clock()  # the start of the processing since the last delivery
        self.on = True

    def delivery_due(self) -> bool:
        return self.on and self.clock() - self.since >= self.every

    def delivering(self) -> Callable[[], bool]:
        """Start a turn; what says, between the delivery's batches, whether it goes on."""
        now = self.clock()
        ends = now + (now - self.since)
        return lambda: self.clock() < ends

    def delivered(self, all_taken: bool) -> None:
        self.on = all_taken
        self.since = self.clock()


class _Stop(Exception):
    """Raised by the signal handler to leave a wait (never while a message is in hand)."""


def _caused_by_stop(exc: BaseException | None) -> bool:
    """A _Stop that surfaced wrapped: SIGTERM came while the wait was reading the database
    (the checkpoint, before IDLE) and SQLAlchemy turned it into a StatementError."""
    while exc is not None:
        if isinstance(exc, _Stop):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class Daemon:
    """The stages of SPEC §2 `run`, with every I/O object passed in."""

    def __init__(
        self, settings: Settings, engine: Engine, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.settings, self.engine, self.clock = settings, engine, clock
        self.renderer = Renderer(settings.tickets.locale, settings.tickets.templates_dir)
        self.pipeline = Pipeline(settings, engine, self.renderer, clock)
        self.sweeper = Sweeper(settings, engine, self.renderer)
        # This process as a worker: registered while it runs (a whole `run`, or one cycle
        # of `run --once`/`sweep`), beating from its own thread, so IDLE waits and slow
        # relays never make it look dead; its outbox claims last only while it beats.
        self.worker = Heartbeat(engine)
        # SQLite's log copied back into the database from a thread of its own while this
        # runs, not inside the pipeline's commits (checkpoints.py).
        self.checkpoints = Checkpoints(engine)
        # One process at a time touches a mailbox (watch.py); the others process, sweep
        # and deliver all the same, and take it over when its holder is gone.
        self.alerts = Alerts(settings, engine, self.renderer, clock)
        self.watchers = watchers_for(settings.mailbox_list, engine, clock, self.worker, self.alerts)
        self.metrics = metrics.Metrics(
            engine,
            clock,
            departments=[d.name for d in settings.departments],
            mailboxes={w.name: w.mailbox.key for w in self.watchers},
        )
        self.relays = {box.name: box.smtp for box in settings.mailbox_list}
        self.deliver_every = DELIVER_EVERY  # seconds of processing between deliveries
        self.stopping = False
        self.waiting = False
        self.reread = False  # SIGHUP: read the articles again before the next cycle

    def cycle(self) -> CycleReport:
        """Ingest, process, sweep, deliver: each stage runs whatever an earlier one hit."""
        report = CycleReport()
        if self.reread:  # SIGHUP since the last cycle: the articles its mail may suggest
            self._reread()
        with self.checkpoints, self.worker:
            self._stage(report, "ingest", lambda: self._ingest(report))
            self._stage(report, "process", lambda: self._process(report))
            self._stage(report, "quarantine on server", self._quarantine_on_server)
            self._stage(report, "timers", lambda: self._sweep(report))
            self._stage(report, "delivery", lambda: self._deliver(report))
            # After the acknowledgements went out, which never wait for the checks; then
            # what they released (a staff notice with their summary, a follow-up).
            if self._stage(report, "checks", lambda: self._check(report)):
                self._stage(report, "delivery", lambda: self._deliver(report))
        self.metrics.record_cycle(report)
        return report

    def sweep(self) -> CycleReport:
        """Timers only, then delivery: what `sweep --at` and the timer schedule run."""
        report = CycleReport()
        with self.checkpoints, self.worker:
            self._stage(report, "timers", lambda: self._sweep(report))
            self._stage(report, "delivery", lambda: self._deliver(report))
        self.metrics.record_cycle(report)
        return report

    def deliver(self) -> CycleReport:
        report = CycleReport()
        with self.checkpoints, self.worker:
            self._stage(report, "delivery", lambda: self._deliver(report))
        self.metrics.record_cycle(report)
        return report

    @staticmethod
    def _stage(report: CycleReport, name: str, run: Callable[[], object]) -> object:
        """A stage boundary: a fault is logged and reported, and the daemon goes on. What
        the stage returned, or None when it failed."""
        try:
            return run()
        except TemporaryError as exc:
            report.errors.append(str(exc))
            log.warning("%s: %s", name, exc)
        except Exception as exc:  # a bug or a broken template must not stop the daemon
            report.errors.append(f"{name}: {exc.__class__.__name__}: {exc}")
            log.exception("%s failed; going on with the next stage", name)
        return None

    def watching(self) -> bool:
        """Hold every mailbox that is free (watchers.Watcher.watching); whether any is ours."""
        held = [w.watching() for w in self.watchers]
        return any(held)

    def _ingest(self, report: CycleReport) -> None:
        """Each held mailbox out of back-off in turn; one failing costs only itself."""
        held = [w for w in self.watchers if w.watching()]
        report.skipped = not held
        for watcher in held:
            if not watcher.due():
                continue
            try:
                with self.metrics.fetch(watcher.name):
                    ingested = watcher.ingest()
            except TemporaryError as exc:  # logged, recorded and backed off by the watcher
                report.errors.append(f"mailbox {watcher.name}: {exc}")
                continue
            report.saved += ingested.saved
            report.duplicates += ingested.duplicates
            report.ingested[watcher.name] = (ingested.saved, ingested.duplicates)

    def _quarantine_on_server(self) -> None:
        for watcher in self.watchers:
            if watcher.due() and watcher.lease.still_ours():
                try:
                    watcher.mailbox.quarantine_on_server()
                except TemporaryError as exc:
                    watcher.failed(str(exc))

    def _process(self, report: CycleReport) -> None:
        turns = DeliveryTurns(self.deliver_every)

        def between() -> None:
            # On SQLite one writer at a time, and its busy wait is not fair: a backlog's
            # batches, one after the other, would keep the heartbeat thread from ever
            # writing, and the worker would look dead. So it renews here, between them.
            self.worker.beat_if_due()
            if turns.delivery_due() and not self.stopping:
                self._deliver_turn(report, turns)

        report.results = self.pipeline.process_pending(
            self.settings.imap.batch_size,
            progress=lambda: notify("WATCHDOG=1"),
            between=between,
            worker=self.worker,
        )

    def _deliver_turn(self, report: CycleReport, turns: DeliveryTurns) -> None:
        """A backlog's first acknowledgements go out while the rest is processed, not after
        all of it. (A delivery process of its own would only get SQLite's write lock once
        processing ended: docs/performance.md.)"""
        go_on = turns.delivering()
        delivered = self._stage(
            report,
            "delivery",
            lambda: self._deliver(report, lambda: self._between_batches() and go_on()),
        )
        if not isinstance(delivered, outbox.DeliveryReport):
            turns.delivered(all_taken=False)  # failed: logged by the stage
            return
        turns.delivered(all_taken=not delivered.retried)
        log.info("backlog: %d mail(s) sent while processing goes on", delivered.sent)

    def _check(self, report: CycleReport) -> bool:
        """Run the automatic checks that are due; whether they left mail to deliver."""
        done = ticket_checks.run_due(
            self.settings,
            self.engine,
            self.renderer,
            self.worker,
            self.clock,
            keep_going=self._between_batches,
        )
        report.checks_run = done.ran
        return done.reported > 0

    def _sweep(self, report: CycleReport) -> None:
        report.fired = self.sweeper.sweep(self.clock())

    def _deliver(
        self,
        report: CycleReport,
        keep_going: Callable[[], bool] | None = None,
    ) -> outbox.DeliveryReport:
        """Send what is due, unless a delivery of this cycle found the relays taking
        nothing; the counts add up over a cycle's deliveries."""
        if report.resting:
            log.info("delivery: the relays took none of a batch earlier in this cycle; next cycle")
            return outbox.DeliveryReport(0, 0, 0, rested=True)
        delivered = outbox.flush(
            self.settings.smtp,
            self.engine,
            self.clock(),
            self.worker,
            keep_going=keep_going or self._between_batches,
            on_delivered=delivery_hooks(),
            relays=self.relays,
            alerts=self.alerts,
        )
        report.sent += delivered.sent
        report.retried += delivered.retried
        report.failed += delivered.failed
        report.resting = delivered.rested
        for relay, retried in delivered.retried_by_relay:
            report.errors.append(f"SMTP relay {relay}: {retried} mail(s) left for retry")
        return delivered

    def _between_batches(self) -> bool:
        """A long backlog keeps the watchdog fed; SIGTERM stops after the batch in hand."""
        notify("WATCHDOG=1")
        return not self.stopping

    def run_forever(self) -> None:
        """Until SIGTERM/SIGINT: poll or IDLE, process, deliver; SIGHUP reloads templates
        and articles."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        scheduler = schedule.Scheduler()
        poll = max(
            1, int(min(b.imap.poll_interval for b in self.settings.mailbox_list).total_seconds())
        )
        timers = self.settings.timers
        scheduler.every(poll).seconds.do(self.cycle)
        scheduler.every(_seconds(timers.sweep_interval)).seconds.do(self.sweep)
        scheduler.every(_seconds(timers.outbox_interval)).seconds.do(self.deliver)
        # Off the mailbox, try to take it often enough to take over within 30 s (SPEC §9).
        retry = min(poll, _seconds(RETRY))
        scheduler.every(retry).seconds.do(self._take_over)
        # The metrics endpoint first: a taken port fails the start (one line, exit 1).
        # Registering the worker then frees at once the claims of a predecessor that was
        # killed on this machine, so the first cycle sends the mail it had in hand.
        with (
            metrics.serving(self.settings.metrics.listen, self.metrics),
            self.checkpoints,
            self.worker,
        ):
            log.info(
                "mailtickets running: %s, polling every %ss, worker %s",
                ", ".join(f"{w.name} ({w.mailbox.key})" for w in self.watchers),
                poll,
                self.worker.id,
            )
            notify("READY=1")
            self.cycle()
            while not self.stopping:
                notify("WATCHDOG=1")
                scheduler.run_pending()
                self._wait(max(0.5, min(scheduler.idle_seconds or poll, poll, WATCHDOG_SECONDS)))
            notify("STOPPING=1")
            self.close()
        log.info("mailtickets stopped")

    def close(self) -> None:
        """Log out of IMAP and give up the mailboxes, so the next worker takes them at once."""
        for watcher in self.watchers:
            watcher.close()

    def log_out(self) -> None:
        """Log out of IMAP, keeping the mailboxes (their leases end with the heartbeat)."""
        for watcher in self.watchers:
            watcher.mailbox.close()

    def _take_over(self) -> None:
        """Take any mailbox whose holder is gone, and fetch at once."""
        free = [w for w in self.watchers if not w.lease.still_ours()]
        if free and any(w.watching() for w in free):
            self.cycle()

    def _wait(self, seconds: float) -> None:
        self.waiting = True
        try:
            if self.stopping:
                return
            held = [w for w in self.watchers if w.due() and w.lease.still_ours()]
            if not held:
                # None ours: no IDLE, no polling; the schedule tries to take them meanwhile.
                time.sleep(min(seconds, RETRY.total_seconds()))
                return
            woken = wait_for_any(held, seconds)
            resumed = False
            for watcher, exc in woken.failed:
                if isinstance(exc, SessionEnded) and watcher.resumes(exc):
                    resumed = True  # the cycle connects again and fetches what came
                else:
                    watcher.failed(f"waiting for mail: {exc}")
            if woken.ready or resumed:
                self.waiting = False
                self.cycle()
        except _Stop:
            pass
        except Exception as exc:
            if not _caused_by_stop(exc):
                raise
        finally:
            self.waiting = False

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: finishing the message in hand, then stopping", signum)
        self.stopping = True
        if self.waiting:
            raise _Stop()

    def _on_reload(self, _signum: int, _frame: FrameType | None) -> None:
        self.renderer.reload()
        # Files are read in the main loop, not here: a handler runs inside whatever the
        # loop was doing, maybe a mail's suggestions.
        self.reread = True
        log.info("SIGHUP: templates and articles will be read again")

    def _reread(self) -> None:
        self.reread = False
        done = reread_articles(self.settings.tickets.articles_dir)
        if done:
            log.info("SIGHUP: %s", done)
