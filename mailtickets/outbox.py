"""SMTP edge: send due outbox rows, many per connection; 4xx backs off, 5xx fails."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import aiosmtplib
from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailtickets import store, transfer, verp
from mailtickets.alerts import Alerts, is_refusal, login_key
from mailtickets.config import reveal
from mailtickets.db import transaction
from mailtickets.errors import TemporaryError
from mailtickets.oauth2 import shared_provider
from mailtickets.settings import OAuth2Settings, SmtpSettings
from mailtickets.store import OutboxRow
from mailtickets.tls import context_for
from mailtickets.workers import Heartbeat

log = logging.getLogger("mailtickets.outbox")

BACKOFF_BASE = timedelta(seconds=60)
BACKOFF_CAP = timedelta(hours=1)
# 4xx for ever is a relay that will never take it (greylisting gone wrong, SMTPUTF8):
# after this many tries, about two days with the 1 h cap, the mail counts as failed.
MAX_ATTEMPTS = 50


@dataclass(frozen=True)
class Attempt:
    """What the relay said about one row: sent, retry (4xx, no connection) or failed (5xx)."""

    outbox_id: int
    result: str
    detail: str = ""
    ours: bool = False  # the failure was this code's, not the relay's answer


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retried: int
    failed: int
    rested: bool = False  # it stopped at a batch the relays took none of (down, all 4xx)
    # Which relays ("host:port") left how many mails for retry: a mailbox's own relay may
    # be the one down while [smtp]'s is fine, and the log line must say which.
    retried_by_relay: tuple[tuple[str, int], ...] = ()


def backoff(attempts: int, rand: Callable[[], float] = random.random) -> timedelta:
    """Exponential back-off with ±20 % jitter, so retries from many rows do not align."""
    base: timedelta = min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)
    jitter: float = 0.8 + 0.4 * rand()
    return base * jitter


# What another stage does when a kind of mail left for good (sent, or failed): registered
# by that stage (timers.delivery_hooks), so the outbox knows no ticket rules. It is given
# the row as read before the answer (still pending, its old attempts): its id and ticket.
DeliveryHook = Callable[[Session, OutboxRow, datetime], None]


def flush(
    settings: SmtpSettings,
    engine: Engine,
    now: datetime,
    holder: Heartbeat,
    keep_going: Callable[[], bool] = lambda: True,
    on_delivered: Mapping[str, DeliveryHook] | None = None,
    relays: Mapping[str, SmtpSettings] | None = None,
    alerts: Alerts | None = None,
) -> DeliveryReport:
    """Send every row due at `now`, a batch at a time, over up to `[smtp] connections`
    connections per relay (see _Relay), and record each answer; never raises for a relay
    problem. A row goes out through its mailbox's relay (`relays`: mailbox name →
    settings), else through `settings`. Stops early only when the relays took nothing
    from a batch (down, or 4xx for all: those rows back off, the rest wait for the next
    run), when `keep_going()`, asked between batches, says so, or when `holder` (the
    registered worker whose claims these are) could not keep its heartbeat fresh. A relay
    that refuses its credential raises its alert (`alerts`)."""
    hooks = on_delivered or {}
    return asyncio.run(
        _drain(settings, relays or {}, engine, now, holder, keep_going, hooks, alerts)
    )


async def _drain(
    settings: SmtpSettings,
    relays: Mapping[str, SmtpSettings],
    engine: Engine,
    now: datetime,
    holder: Heartbeat,
    keep_going: Callable[[], bool],
    hooks: Mapping[str, DeliveryHook],
    alerts: Alerts | None,
) -> DeliveryReport:
    # Batches bound memory and commit granularity; every claimed row leaves the due set
    # (sent, failed, or backed off past `now`), so the loop ends with the due rows.
    counts = dict.fromkeys(("sent", "retry", "failed"), 0)
    retried_by_relay: dict[str, int] = {}
    rested = False
    verp_key = _Once(lambda: _verp_key(engine))
    open_relays: dict[str, _Relay] = {}
    unreachable: dict[tuple[str, ...], str] = {}  # shared: mailboxes that copy [smtp]'s relay

    def relay_of(row: OutboxRow) -> _Relay:
        name = row.mailbox if row.mailbox and row.mailbox in relays else ""
        if name not in open_relays:
            chosen = relays[name] if name else settings
            login = login_key("smtp", name)
            open_relays[name] = _Relay(chosen, verp_key, alerts, login, unreachable)
        return open_relays[name]

    try:
        while True:
            token = holder.token()
            rows, bodies = _claim(engine, now, settings.batch_size, holder)
            if not rows:
                break
            attempts = await _send_by_relay(
                rows, bodies, relay_of, partial(holder.holds, token), retried_by_relay
            )
            _record(engine, attempts, now, hooks, holder.id)
            for attempt in attempts:
                counts[attempt.result] += 1
            tried = {a.outbox_id for a in attempts}
            if untried := [r for r in rows if r.id not in tried]:
                _lost_lease(engine, holder, untried)
                break
            if rested := all(a.result == "retry" for a in attempts):
                break
            if not keep_going():
                break
    finally:
        for relay in open_relays.values():
            await relay.close()
    return DeliveryReport(
        counts["sent"], counts["retry"], counts["failed"], rested, tuple(retried_by_relay.items())
    )


async def _send_by_relay(
    rows: list[OutboxRow],
    bodies: Mapping[int, bytes],
    relay_of: Callable[[OutboxRow], _Relay],
    still_ours: Callable[[], bool],
    retried_by_relay: dict[str, int],
) -> list[Attempt]:
    """The rows of each relay through it, in claim order within a relay, the relays at
    once, each relay's retries counted into `retried_by_relay`. At once: a relay that
    swallows connections costs the batch its timeout once, not once for each such relay
    one after the other. As in _Relay.send, a row without an attempt was not tried: our
    claim lapsed."""
    groups: dict[int, tuple[_Relay, list[OutboxRow]]] = {}
    for row in rows:
        relay = relay_of(row)
        groups.setdefault(id(relay), (relay, []))[1].append(row)
    relays = list(groups.values())
    sent = await asyncio.gather(*(relay.send(mine, bodies, still_ours) for relay, mine in relays))
    attempts: list[Attempt] = []
    for (relay, _mine), done in zip(relays, sent, strict=True):
        attempts += done
        if retried := sum(a.result == "retry" for a in done):
            label = f"{relay.settings.host}:{relay.settings.port}"
            retried_by_relay[label] = retried_by_relay.get(label, 0) + retried
    return attempts


class _Once:
    """A value read on first use only (the VERP key: not read when nothing is sent)."""

    def __init__(self, read: Callable[[], str]) -> None:
        self.read, self.value = read, ""

    def __call__(self) -> str:
        self.value = self.value or self.read()
        return self.value


def _lost_lease(engine: Engine, holder: Heartbeat, unsent: list[OutboxRow]) -> None:
    """Our heartbeat was not renewed in time, so another worker may be sending these now:
    send none of them, give back those still ours, and end this flush."""
    log.warning(
        "outbox: worker %s could not renew its heartbeat in time; %d claimed mail(s) left "
        "unsent for whichever worker holds them now",
        holder.id,
        len(unsent),
    )
    _release(engine, holder.id, [r.id for r in unsent])


def _release(engine: Engine, worker_id: str, ids: list[int]) -> None:
    with transaction(engine) as session:
        store.release_claims(session, worker_id, ids)


def _envelope_from(settings: SmtpSettings, key: str, row: OutboxRow) -> str:
    """The mail's own signed VERP address, so a bounce says which mail failed; or the plain
    From address where the site turned VERP off."""
    if not settings.verp:
        return settings.from_address
    return verp.address(settings.from_address, key, row.id, row.message_id)


def _verp_key(engine: Engine) -> str:
    with transaction(engine) as session:
        return store.site_secret(session, "verp")


def _claim(
    engine: Engine, now: datetime, limit: int, holder: Heartbeat
) -> tuple[list[OutboxRow], dict[int, bytes]]:
    """Due rows no other live worker holds, claimed in our name, and their mails' bytes by
    id. `now` is the daemon's clock (`sweep --at` may move it); who is alive is judged by
    the real clock, so no `--at` ever takes the rows of a live worker."""
    with transaction(engine) as session:
        live_since = holder.live_since()
        due = store.due_outbox(session, now, limit, live_since, holder.id)
        ids = [row.id for row in due]
        won = set(store.claim_outbox(session, ids, holder.id, now, live_since, holder.wall()))
        mine = [row for row in due if row.id in won]
        return mine, store.outbox_bodies(session, [r.id for r in mine])


async def connect_relay(settings: SmtpSettings, renew_token: bool = True) -> aiosmtplib.SMTP:
    """A connected, logged-in client; STARTTLS failing raises, never falls back to clear.
    `renew_token`: on an OAuth2 refusal, replace the token once and try again."""
    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        timeout=settings.timeout,
        use_tls=settings.security == "ssl",
        start_tls=settings.security == "starttls",
        tls_context=context_for(settings.security),
    )
    await client.connect()
    try:
        if settings.oauth2 is not None:
            await _oauth2_login(client, settings, settings.oauth2, renew_token)
        elif settings.username:
            await client.login(settings.username, reveal(settings.password))
    except BaseException:
        client.close()  # a refused login leaves no connection open
        raise
    return client


async def _oauth2_login(
    client: aiosmtplib.SMTP, settings: SmtpSettings, oauth2: OAuth2Settings, renew: bool = True
) -> None:
    """SASL XOAUTH2; a token the relay refuses is replaced once (revoked, or expired by the
    relay's clock before ours) when `renew`. The token endpoint is asked off the event loop."""
    account = f"SMTP relay {settings.username}@{settings.host}:{settings.port}"
    tokens = shared_provider(account, oauth2, lambda: datetime.now(UTC), settings.timeout)
    try:
        await client.auth_xoauth2(settings.username, await asyncio.to_thread(tokens.token))
    except aiosmtplib.SMTPAuthenticationError:
        if not renew:
            raise
        tokens.forget()
        await client.auth_xoauth2(settings.username, await asyncio.to_thread(tokens.token))


# One connection for each this many mails of a batch, up to `[smtp] connections`: another
# pays for its opening (TLS, login) only with mail enough to send over it.
MAILS_PER_CONNECTION = 10


def lanes(tickets: Sequence[int | None], count: int) -> list[list[int]]:
    """Positions of a batch's rows (given by ticket, in claim order) for each of `count`
    connections: a ticket's rows on one, in order, the same one from batch to batch (its id
    modulo `count`); rows of no ticket dealt out in turn. A lane may be empty."""
    split: list[list[int]] = [[] for _ in range(max(1, count))]
    for position, ticket in enumerate(tickets):
        split[(ticket if ticket is not None else position) % len(split)].append(position)
    return split


class _Relay:
    """Up to `[smtp] connections` connections for a whole flush, opened as batches need
    them (the first on first use), again after a loss. Round trips on one connection wait
    for the relay; on two, each side works while the other waits. A relay that will not
    take mail on a further connection (refused when opened, or a 4xx or a closed
    connection from its first mail, as relays that cap one client's connections do) gets
    that connection's mail over one that works, in the same batch, and no more
    connections for the rest of the flush."""

    def __init__(
        self,
        settings: SmtpSettings,
        verp_key: Callable[[], str],
        alerts: Alerts | None = None,
        login: str = "smtp",
        unreachable: dict[tuple[str, ...], str] | None = None,
    ) -> None:
        """`unreachable`: the flush's servers that could not be reached, by `server`, and
        why; shared by the relays of one flush."""
        self.settings, self._verp_key = settings, verp_key
        self.alerts, self.login = alerts, login
        self.clients: list[aiosmtplib.SMTP] = []
        self.most = settings.connections
        self._proven: set[aiosmtplib.SMTP] = set()  # connections that have sent mail
        # A server not reached at the first try of a flush is not asked again in it: one
        # that swallows connections costs its timeout (30 s) at each ask, and the other
        # relays' mail in the same batches must not wait that long each time (nor the
        # watchdog, pinged between batches only). One that took mail earlier in the flush
        # is asked again at the next batch: its failure may be passing.
        self.unreachable = {} if unreachable is None else unreachable
        self.server = (
            settings.host,
            str(settings.port),
            settings.security,
            settings.auth,
            settings.username,
        )
        self._reached = False

    async def send(
        self, rows: list[OutboxRow], bodies: Mapping[int, bytes], still_ours: Callable[[], bool]
    ) -> list[Attempt]:
        """An attempt for each row (its mail's bytes in `bodies`), as long as
        `still_ours()`: rows without one were not tried (see _lost_lease)."""
        if not self._reached and (down := self.unreachable.get(self.server)) is not None:
            return [Attempt(r.id, "retry", f"{down} (not asked again in this flush)") for r in rows]
        self.clients = [c for c in self.clients if c.is_connected]
        self._proven &= set(self.clients)
        if not self.clients:
            try:
                self.clients.append(await connect_relay(self.settings))
            except (aiosmtplib.SMTPException, OSError, TemporaryError) as exc:
                detail = self._unreachable(len(rows), exc)
                if not self._reached:
                    self.unreachable[self.server] = detail
                return [Attempt(r.id, "retry", detail) for r in rows]
            self._reached = True
            if self.alerts is not None:
                self.alerts.working(self.login)
        tickets = [r.ticket_id for r in rows]
        wanted = min(self.most, len(set(tickets)), len(rows) // MAILS_PER_CONNECTION or 1)
        while len(self.clients) < wanted and await self._one_more():
            pass
        key = self._verp_key()
        clients = list(self.clients)
        split = [[rows[p] for p in lane] for lane in lanes(tickets, len(clients))]
        # A connection that has not sent yet stops at a first 4xx, so that a relay that
        # takes connections but not their mail is found by one mail, not by the lane.
        probing = [len(clients) > 1 and c not in self._proven for c in clients]
        done = await asyncio.gather(
            *(
                _deliver(self.settings, key, client, lane, bodies, still_ours, probe)
                for client, lane, probe in zip(clients, split, probing, strict=True)
            )
        )
        attempts = await self._over_one_that_works(
            key, clients, split, list(done), bodies, still_ours
        )
        sent = {a.outbox_id for a in attempts if a.result == "sent"}
        self._proven |= {
            c for c, lane in zip(clients, split, strict=True) if any(r.id in sent for r in lane)
        }
        return attempts

    async def _over_one_that_works(
        self,
        key: str,
        clients: list[aiosmtplib.SMTP],
        split: list[list[OutboxRow]],
        done: list[list[Attempt]],
        bodies: Mapping[int, bytes],
        still_ours: Callable[[], bool],
    ) -> list[Attempt]:
        """The attempts, once the mail of a connection the relay turned away is sent over
        one that took mail (the turned-away tries not counted), and what a probing
        connection left is sent over its own when none did."""
        works = [
            c
            for c, got in zip(clients, done, strict=True)
            if c.is_connected and got and got[0].result != "retry"
        ]
        attempts: list[Attempt] = []
        again: list[OutboxRow] = []
        for number, (client, lane, got) in enumerate(zip(clients, split, done, strict=True)):
            left = lane[len(got) :]
            retried = [a for a in got if a.result == "retry"]
            if not works or client in works or not retried:
                attempts += got
                if left and still_ours():  # a probe stopped, and no connection took mail
                    attempts += await _deliver(self.settings, key, client, left, bodies, still_ours)
                continue
            turned_away = got[0].result == "retry" and not got[0].ours  # at its first mail
            if turned_away:
                log.info(
                    "outbox: SMTP relay %s:%s would not take mail on connection %d of %d (%s); "
                    "sending it over another",
                    self.settings.host,
                    self.settings.port,
                    number + 1,
                    len(clients),
                    retried[0].detail,
                )
            self._drop(client, limit=turned_away)
            for row, attempt in zip(lane, got, strict=False):
                if attempt.result == "retry" and not attempt.ours:
                    again.append(row)  # the relay's turn-away or a lost connection: not a try
                else:
                    attempts.append(attempt)
            again += left
        if again:
            attempts += await _deliver(self.settings, key, works[0], again, bodies, still_ours)
        return attempts

    def _drop(self, client: aiosmtplib.SMTP, limit: bool) -> None:
        """Close a connection that cannot go on; `limit`: the relay would not take mail on
        it, so ask for no more this flush."""
        client.close()
        self.clients.remove(client)
        self._proven.discard(client)
        if limit:
            self.most = max(1, len(self.clients))

    def _unreachable(self, count: int, exc: BaseException) -> str:
        """Log that the relay could not be reached with `count` mails for it; the detail
        their attempts record."""
        # A TemporaryError is the OAuth2 provider's (it names the relay itself).
        relay = f"SMTP relay {self.settings.host}:{self.settings.port}: "
        detail = f"{'' if isinstance(exc, TemporaryError) else relay}{exc}"
        told = ""
        if self.alerts is not None and is_refusal(exc):
            told = self.alerts.refused(self.login, detail)
        log.log(
            logging.ERROR if told else logging.WARNING,
            "outbox: %s; %d mail(s) will be retried%s",
            detail,
            count,
            told,
        )
        return detail

    async def _one_more(self) -> bool:
        """Open another connection; False if it could not be had (the mail goes over those
        open, and this flush asks no more). The first connection logged in with the same
        credential just now: a refusal here is the relay's limit, not a stale token."""
        try:
            self.clients.append(await connect_relay(self.settings, renew_token=False))
        except (aiosmtplib.SMTPException, OSError, TemporaryError) as exc:
            log.info(
                "outbox: SMTP relay %s:%s: no connection %d (%s); sending over %d",
                self.settings.host,
                self.settings.port,
                len(self.clients) + 1,
                exc,
                len(self.clients),
            )
            self.most = len(self.clients)
            return False
        return True

    async def close(self) -> None:
        await asyncio.gather(*(_quit(c) for c in self.clients))
        self.clients, self._proven = [], set()


async def _quit(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()


async def _deliver(
    settings: SmtpSettings,
    verp_key: str,
    client: aiosmtplib.SMTP,
    rows: list[OutboxRow],
    bodies: Mapping[int, bytes],
    still_ours: Callable[[], bool],
    probe: bool = False,
) -> list[Attempt]:
    """`rows` in turn on `client`; a lost connection means retry for the rest of them.
    Before each mail: are our claims still ours? If not, stop (the rest were not tried).
    `probe`: stop after a first mail the relay bids retry later (the rest not tried)."""
    attempts: list[Attempt] = []
    for row in rows:
        if not still_ours():
            break
        try:
            raw = bodies[row.id]
            attempt = await _send_one(client, row, raw, _envelope_from(settings, verp_key, row))
        except Exception as exc:  # stage boundary: a bug with one mail costs its attempt only
            log.exception("outbox %s: could not be sent", row.message_id)
            attempt = Attempt(row.id, "retry", f"{exc.__class__.__name__}: {exc}", True)
            client.close()  # what the relay took of it is unknown: a new session for the rest
        attempts.append(attempt)
        if probe and len(attempts) == 1 and attempt.result == "retry":
            break
        if attempt.result == "retry" and not client.is_connected:
            attempts += [Attempt(r.id, "retry", "connection lost") for r in rows[len(attempts) :]]
            break
    return attempts


async def _send_one(
    client: aiosmtplib.SMTP, row: OutboxRow, raw: bytes, envelope_from: str
) -> Attempt:
    recipients = json.loads(row.recipients)
    try:
        refused = await transfer.send(client, envelope_from, recipients, raw)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        result = "retry" if all(400 <= c < 500 for c in codes) else "failed"
        return Attempt(row.id, result, "; ".join(str(r) for r in exc.recipients))
    except aiosmtplib.SMTPResponseException as exc:
        result = "retry" if 400 <= exc.code < 500 else "failed"
        return Attempt(row.id, result, f"{exc.code} {exc.message}")
    except (aiosmtplib.SMTPException, OSError) as exc:
        return Attempt(row.id, "retry", str(exc) or exc.__class__.__name__)
    except (UnicodeError, ValueError) as exc:  # e.g. a non-ASCII address: no retry helps
        return Attempt(row.id, "failed", f"{exc.__class__.__name__}: {exc}")
    if refused:
        detail = "; ".join(f"{a}: {c} {m}" for a, (c, m) in refused.items())
        return Attempt(row.id, "sent", f"some recipients refused: {detail}")
    return Attempt(row.id, "sent")


def _record(
    engine: Engine,
    attempts: list[Attempt],
    now: datetime,
    hooks: Mapping[str, DeliveryHook],
    worker_id: str,
) -> None:
    """Record each answer and give the claim back. A row another worker took over (ours
    lapsed mid-batch) is left to it, unless the relay took it from us: then it is sent.
    Hooks and the ticket's event follow only what was written."""
    with transaction(engine) as session:
        rows = store.outbox_in_hand(session, [a.outbox_id for a in attempts])
        for attempt in attempts:
            row = rows.get(attempt.outbox_id)
            if row is None:
                continue
            tries, state, next_at = row.attempts + 1, "pending", None
            if attempt.result == "sent":
                state = "sent"
            elif attempt.result == "failed" or tries >= MAX_ATTEMPTS:
                state = "failed"
            else:
                next_at = now + backoff(tries)
            sent_at = now if state == "sent" else None
            error = attempt.detail[:2000]
            answer = store.Answer(row.id, state, tries, error, worker_id, sent_at, next_at)
            # The guard is in the UPDATE, not in what was read: another worker may take the
            # row between the read and the write.
            if not store.record_answer(session, answer):
                continue
            hook = hooks.get(row.kind)
            if hook is not None and state in ("sent", "failed"):
                hook(session, row, now)
            _log_attempt(session, row, attempt, now)


def _log_attempt(session: Session, row: OutboxRow, attempt: Attempt, now: datetime) -> None:
    try:
        rcpts = ", ".join(json.loads(row.recipients))
    except (ValueError, TypeError):  # an unreadable row must not keep the batch unrecorded
        rcpts = repr(row.recipients)
    suffix = f" ({attempt.detail})" if attempt.detail else ""
    log.info("outbox %s %s %s → %s%s", row.message_id, row.kind, attempt.result, rcpts, suffix)
    if row.ticket_id is None or attempt.result == "retry" or not attempt.detail:
        return
    kind = "delivery_failed" if attempt.result == "failed" else "delivery_partial"
    detail = f"{row.kind} {row.message_id}: {attempt.detail}"
    store.add_event(session, row.ticket_id, now, kind, "smtp", detail)
