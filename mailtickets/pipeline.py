"""Process saved inbound mail: parse, triage, thread, decide, then apply in one transaction."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailtickets import store
from mailtickets.apply import apply
from mailtickets.authresults import verify_sender
from mailtickets.bounces import Bounce, read_bounce
from mailtickets.codes import find_code
from mailtickets.customer_mail import Incoming
from mailtickets.db import transaction
from mailtickets.decide import (
    Sender,
    Thread,
    asks_for_list,
    decide,
    find_thread,
    is_list_request,
    only_thanks,
)
from mailtickets.mail import ParsedMail, parse_mail
from mailtickets.models import Inbound, Ticket
from mailtickets.quoting import latest_reply
from mailtickets.rating import read_rating
from mailtickets.render import Renderer
from mailtickets.settings import Settings
from mailtickets.spam import NOT_SPAM, SpamVerdict, header_fields, spam_verdict
from mailtickets.timelimit import TimeLimitExceeded, time_limit
from mailtickets.triage import triage
from mailtickets.work import open_work

if TYPE_CHECKING:  # a type only: the daemon hands its worker in
    from mailtickets.workers import Heartbeat

log = logging.getLogger("mailtickets.pipeline")

# The longest a batch transaction runs before it commits: well under a heartbeat's interval
# (workers.HEARTBEAT_EVERY), since SQLite lets one connection write at a time.
BATCH_SECONDS = 1.0

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Result:
    """What became of one inbound row, for the log line and the caller."""

    inbound_id: int
    uid: int
    message_id: str
    state: str
    ticket_code: str
    detail: str
    # Set when this mail was a ticket's first staff answer (metrics.py observes it).
    department: str = ""
    first_response: timedelta | None = None

    def log_line(self) -> str:
        code = self.ticket_code or "-"
        return (
            f"message {self.message_id or '(no Message-ID)'} uid={self.uid} "
            f"{self.state} ticket={code}: {self.detail}"
        )


PUT_OFF = "put off"


class PutOff(Exception):
    """The mail answers one that another worker has in hand: its ticket is not committed yet,
    so this one would open a ticket of its own. It is given back, its attempt uncounted."""


# After a pass that put mail off, look again this often, this many times (the other
# worker commits within BATCH_SECONDS); what is still put off waits for the next cycle.
PUT_OFF_PAUSE = 0.25
PUT_OFF_ROUNDS = 12


class Pipeline:
    """Turns pending inbound rows into ticket changes and queued mail."""

    def __init__(self, settings: Settings, engine: Engine, renderer: Renderer, clock: Clock):
        self.settings, self.engine, self.renderer, self.clock = settings, engine, renderer, clock

    def process_pending(
        self,
        batch: int = 100,
        progress: Callable[[], object] = lambda: None,
        between: Callable[[], object] = lambda: None,
        worker: Heartbeat | None = None,
    ) -> list[Result]:
        """Process every pending row (oldest first), `batch` rows read at a time; one bad
        mail never stops the rest, and one that failed waits for the next cycle. `between`
        runs after each commit, outside any transaction. Attempts are counted in the name
        of `worker`, and rows another live worker counted are left to it."""
        results: list[Result] = []
        after, rounds = 0, 0
        while True:
            by = self._attempter(worker)
            with transaction(self.engine) as session:
                pending = store.pending_inbound(session, batch, after, by)
            if not pending:
                put_off = any(r.state == PUT_OFF for r in results)
                if not put_off or rounds >= PUT_OFF_ROUNDS:
                    return [r for r in results if r.state != PUT_OFF]
                rounds += 1
                results = [r for r in results if r.state != PUT_OFF]
                time.sleep(PUT_OFF_PAUSE)
                after = 0
                continue
            # Rows tried before (a failure, or a process that died with them in hand) go one
            # at a time, each attempt in its own commit; the rest share one transaction.
            fresh: list[int] = []
            for inbound_id, attempts in pending:
                if attempts == 0:
                    fresh.append(inbound_id)
                    continue
                results += self.process_batch(fresh, progress, between, by)
                fresh = []
                if (result := self.process_one(inbound_id, by)) is not None:
                    results.append(result)
                progress()
                between()
            results += self.process_batch(fresh, progress, between, by)
            after = pending[-1][0]

    @staticmethod
    def _attempter(worker: Heartbeat | None) -> store.Attempter:
        if worker is None:
            return store.ALONE
        return store.Attempter(worker.id, worker.live_since())

    def process_batch(
        self,
        ids: list[int],
        progress: Callable[[], object] = lambda: None,
        between: Callable[[], object] = lambda: None,
        by: store.Attempter = store.ALONE,
    ) -> list[Result]:
        """Rows never tried, several per transaction with a savepoint per mail: a mail that
        fails costs only its own savepoint. Their attempts are counted first, in a commit
        of their own, so if the process dies mid-batch each row is retried alone. A
        transaction ends after BATCH_SECONDS, so no other writer (the heartbeat) waits
        longer than that, and `between` runs after each commit."""
        if not ids:
            return []
        with transaction(self.engine) as session:
            left = store.count_first_attempts(session, ids, by)
        results: list[Result] = []
        while left:
            done: list[Result] = []
            with transaction(self.engine) as session:
                ends = time.monotonic() + BATCH_SECONDS
                while left and (not done or time.monotonic() < ends):  # one at least
                    inbound_id = left.pop(0)
                    # The claim's UPDATE comes before the savepoint: pysqlite begins its
                    # transaction only at a write, and would commit at the first RELEASE.
                    if not store.claim_inbound_rows(session, [inbound_id], by):
                        continue  # another worker has it
                    done.append(self._in_savepoint(session, inbound_id, by))
                    progress()
            for result in done:  # only once they are committed
                log.info(result.log_line())
            results += done
            between()
        return results

    def _in_savepoint(self, session: Session, inbound_id: int, by: store.Attempter) -> Result:
        try:
            with session.begin_nested(), time_limit(self._seconds):
                row = store.inbound_in_hand(session, inbound_id)
                assert row is not None
                result = self._apply(session, row, by)
        except PutOff as why:
            store.give_back(session, inbound_id)
            result = self._put_off(session, inbound_id, why)
        except (Exception, TimeLimitExceeded) as exc:  # stage boundary: say why
            result = self._failed(session, inbound_id, exc)
        # Nothing of this mail is needed for the next: a small session keeps the cost per
        # mail flat however long the batch.
        session.flush()
        session.expunge_all()
        return result

    def process_one(self, inbound_id: int, by: store.Attempter = store.ALONE) -> Result | None:
        """Count an attempt, then claim row `inbound_id` and apply it; a failure is
        counted, never raised."""
        started = self._start_attempt(inbound_id, by)
        if started is not True:
            return started or None  # None: another worker has it; a Result: quarantined now
        try:
            with transaction(self.engine) as session, time_limit(self._seconds):
                row = store.claim_inbound(session, inbound_id, by)
                if row is None:
                    return None  # another worker has it, or it is done
                result = self._apply(session, row, by)
        except PutOff as why:  # rolled back with its transaction; the attempt is not one
            with transaction(self.engine) as session:
                store.give_back(session, inbound_id)
                result = self._put_off(session, inbound_id, why)
        except (Exception, TimeLimitExceeded) as exc:  # stage boundary: keep it, say why
            result = self._record_failure(inbound_id, exc)
        log.info(result.log_line())
        return result

    @property
    def _seconds(self) -> int:
        return self.settings.limits.max_processing_seconds

    def _start_attempt(self, inbound_id: int, by: store.Attempter) -> Result | bool | None:
        """Count the attempt in its own commit before any work: a mail that kills or hangs
        the process still uses up its attempts and is quarantined after max_attempts, instead
        of coming first again after every restart. True: go on and process it."""
        with transaction(self.engine) as session:
            row = session.get(Inbound, inbound_id)
            if row is None or row.state != "pending":
                return None
            if row.attempts >= self.settings.tickets.max_attempts:
                error = (
                    f"processing never finished in {row.attempts} attempts: the process "
                    "died or was stopped while this mail was in hand"
                )
                result = self._quarantine(session, row, row.error or error)
                log.info(result.log_line())
                return result
            if not store.count_attempt(session, inbound_id, row.attempts, by):
                return None  # another worker counted it first and has it
        return True

    def _apply(
        self, session: Session, row: store.InHand, by: store.Attempter = store.ALONE
    ) -> Result:
        now = self.clock()
        raw = store.inbound_raw(session, row.id or 0)
        held = self._spam(raw, row)
        if held.spam:
            return self._hold_as_spam(session, row, held, now)
        mail = parse_mail(raw, self.settings.limits)
        verdict = triage(mail, self.settings.our_addresses)
        bounce = read_bounce(raw, mail) if verdict.bounce else None
        thread = self._thread(session, mail, bounce)
        if thread.ticket is None and (
            waits_for := store.answered_mail_in_other_hands(session, mail.thread_ids, by)
        ):
            raise PutOff(f"answers {waits_for}, which another worker has in hand")
        sender = self._sender(session, mail)
        # Cutting the quoted history is only worth its cost when the subject asks for the
        # list of tickets; the handlers that need the new text ask Incoming.reply.
        wants_list = asks_for_list(mail.subject) and is_list_request(
            mail.subject, latest_reply(mail.text)
        )
        # Only a reply to a closed ticket is read for a rating or thanks, which then do not
        # reopen it; a reply to an open ticket that starts with a number is a reply.
        closed = thread.ticket is not None and thread.ticket.status == "closed"
        reply = latest_reply(mail.text) if closed else ""
        thanks = closed and only_thanks(reply)
        rating = read_rating(reply) if closed else None
        within = self.settings.tickets.reopen_within
        decision = decide(thread, sender, verdict, now, within, wants_list, thanks, rating)
        work = open_work(self.settings, self.renderer, session, now)
        box = self.settings.mailbox_of_key(row.mailbox)
        work.tell.mailbox = box.name
        arrived = row.internal_date
        work.tell.quiet = arrived is not None and now - arrived > box.imap.quiet_older_than
        outcome = apply(work, Incoming(decision, mail, row, bounce))
        store.finish_inbound(
            session,
            row.id,
            outcome.state,
            f"{outcome.action}: {outcome.detail}",
            outcome.ticket_code,
            now,
        )
        first = work.write.first_answer
        return Result(
            row.id or 0,
            row.uid,
            row.message_id,
            outcome.state,
            outcome.ticket_code,
            f"{outcome.action} ({outcome.detail})",
            department=first[0] if first else "",
            first_response=first[1] if first else None,
        )

    def _spam(self, raw: bytes, row: store.InHand) -> SpamVerdict:
        """The site's own spam verdict, before anything else is read: a mail it marked opens
        nothing and is answered by no one (SPEC §8, no backscatter to forged senders). That
        holds for a mail naming a ticket or sent from a staff address too: both are written
        by whoever forges the From, and a forged "reply" is the same backscatter path (a
        relayed answer, a reopened ticket). Ops release what was wrongly held."""
        names = self.settings.policy.spam_headers
        if not names or row.spam_released_at is not None:
            return NOT_SPAM
        return spam_verdict(header_fields(raw), names)

    def _hold_as_spam(
        self, session: Session, row: store.InHand, held: SpamVerdict, now: datetime
    ) -> Result:
        """Kept in the inbound table with state "spam" and why, for `spam list|release`."""
        store.finish_inbound(session, row.id, "spam", f"spam: {held.reason}", "", now)
        return Result(row.id, row.uid, row.message_id, "spam", "", f"spam ({held.reason})")

    def _thread(self, session: Session, mail: ParsedMail, bounce: Bounce | None) -> Thread:
        if bounce is not None:
            # A bounce with a valid signed VERP address belongs to the mail it names.
            ours = store.bounced_mail(session, bounce)
            bounced = session.get(Ticket, ours.ticket_id) if ours and ours.ticket_id else None
            if bounced is not None:
                return Thread(store.ticket_view(session, bounced), "bounce of our mail")
        code = find_code(mail.subject, self.settings.tickets.code_prefix)
        by_code = store.ticket_by_code(session, code) if code else None
        by_ref = None if by_code else store.ticket_by_message_ids(session, mail.thread_ids)
        # A merged ticket's conversation goes on in the ticket it was merged into.
        by_code = store.follow_merges(session, by_code)
        by_ref = store.follow_merges(session, by_ref)
        return find_thread(
            store.ticket_view(session, by_code) if by_code else None,
            store.ticket_view(session, by_ref) if by_ref else None,
        )

    def _sender(self, session: Session, mail: ParsedMail) -> Sender:
        if not mail.from_addr:
            return Sender("", False, None, unidentified=mail.sender_problem or "no From address")
        contact = store.contact_info(session, mail.from_addr)
        is_staff = self.settings.staff_by_email(mail.from_addr) is not None
        trusted = self.settings.policy.trusted_authserv_ids
        verdict = None
        if trusted:
            domain = mail.from_addr.rpartition("@")[2]
            results = mail.headers.get("authentication-results", ())
            verdict = verify_sender(results, trusted, domain)
        unverified = verdict.reason if is_staff and verdict and not verdict.passed else ""
        return Sender(
            email=mail.from_addr,
            is_staff=is_staff and not unverified,
            customer_id=contact.customer_id if contact else None,
            authorised=contact is not None and contact.notify,
            unverified=unverified,
            verified=verdict is None or verdict.passed,
        )

    def _put_off(self, session: Session, inbound_id: int, why: PutOff) -> Result:
        row = session.get(Inbound, inbound_id)
        assert row is not None
        return Result(inbound_id, row.uid, row.message_id, PUT_OFF, "", str(why))

    def _record_failure(self, inbound_id: int, exc: BaseException) -> Result:
        with transaction(self.engine) as session:
            return self._failed(session, inbound_id, exc)

    def _failed(self, session: Session, inbound_id: int, exc: BaseException) -> Result:
        """Record why; after max_attempts the mail is quarantined and ops are told."""
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        log.debug("processing inbound %s failed", inbound_id, exc_info=exc)
        row = session.get(Inbound, inbound_id)
        assert row is not None
        if row.attempts >= self.settings.tickets.max_attempts:
            return self._quarantine(session, row, error)
        row.error = error[:4000]
        row.state = "pending"
        session.add(row)
        detail = f"attempt {row.attempts}: {error.splitlines()[-1][:300]}"
        return Result(inbound_id, row.uid, row.message_id, "failed, will retry", "", detail)

    def _quarantine(self, session: Session, row: Inbound, error: str) -> Result:
        now = self.clock()
        row.error = error[:4000]
        row.state = "failed"
        row.quarantined_at, row.server_state = now, "to_quarantine"
        self._report(session, row, now)
        session.add(row)
        detail = f"attempt {row.attempts}: {error.splitlines()[-1][:300]}"
        return Result(row.id or 0, row.uid, row.message_id, "quarantined", "", detail)

    def _report(self, session: Session, row: Inbound, now: datetime) -> None:
        ops = self.settings.policy.ops_address
        if not ops:
            return
        context = {
            "id": row.id,
            "message_id": row.message_id or "(none)",
            "uid": row.uid,
            "mailbox": row.mailbox,
            "attempts": row.attempts,
            "error": row.error,
            "folder": self.settings.mailbox_of_key(row.mailbox).imap.failed_folder,
        }
        work = open_work(self.settings, self.renderer, session, now)
        work.tell.queue("quarantine_report", None, (ops,), context, automatic="auto-generated")
