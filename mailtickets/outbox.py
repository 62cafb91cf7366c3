"""SMTP edge: send due outbox rows, many per connection; 4xx backs off, 5xx fails."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosmtplib
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from mailtickets import store, verp
from mailtickets.config import reveal
from mailtickets.db import transaction
from mailtickets.models import Outbox
from mailtickets.settings import SmtpSettings

log = logging.getLogger("mailtickets.outbox")

BACKOFF_BASE = timedelta(seconds=60)
BACKOFF_CAP = timedelta(hours=1)
# A claimed row is left alone this long: a worker that died mid-send frees it afterwards.
CLAIM_LEASE = timedelta(minutes=10)
# 4xx for ever is a relay that will never take it (greylisting gone wrong, SMTPUTF8):
# after this many tries, about two days with the 1 h cap, the mail counts as failed.
MAX_ATTEMPTS = 50


@dataclass(frozen=True)
class Attempt:
    """What the relay said about one row: sent, retry (4xx, no connection) or failed (5xx)."""

    outbox_id: int
    result: str
    detail: str = ""


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retried: int
    failed: int


def backoff(attempts: int, rand: Callable[[], float] = random.random) -> timedelta:
    """Exponential back-off with ±20 % jitter, so retries from many rows do not align."""
    base: timedelta = min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)
    jitter: float = 0.8 + 0.4 * rand()
    return base * jitter


# What another stage does when a kind of mail left for good (sent, or failed): registered
# by that stage (timers.delivery_hooks), so the outbox knows no ticket rules.
DeliveryHook = Callable[[Session, Outbox, datetime], None]


def flush(
    settings: SmtpSettings,
    engine: Engine,
    now: datetime,
    keep_going: Callable[[], bool] = lambda: True,
    on_delivered: Mapping[str, DeliveryHook] | None = None,
) -> DeliveryReport:
    """Send every row due at `now`, a batch at a time over one connection, and record each
    answer; never raises for a relay problem. Stops early only when the relay took nothing
    from a batch (down, or 4xx for all: those rows back off, the rest wait for the next
    run) or when `keep_going()`, asked between batches, says so."""
    hooks = on_delivered or {}
    return asyncio.run(_drain(settings, engine, now, keep_going, hooks))


async def _drain(
    settings: SmtpSettings,
    engine: Engine,
    now: datetime,
    keep_going: Callable[[], bool],
    hooks: Mapping[str, DeliveryHook],
) -> DeliveryReport:
    # Batches bound memory and commit granularity; every claimed row leaves the due set
    # (sent, failed, or backed off past `now`), so the loop ends with the due rows.
    counts = dict.fromkeys(("sent", "retry", "failed"), 0)
    relay = _Relay(settings, lambda: _verp_key(engine))
    try:
        while rows := _claim(engine, now, settings.batch_size):
            attempts = await relay.send(rows)
            _record(engine, attempts, now, hooks)
            for attempt in attempts:
                counts[attempt.result] += 1
            if all(a.result == "retry" for a in attempts) or not keep_going():
                break
    finally:
        await relay.close()
    return DeliveryReport(counts["sent"], counts["retry"], counts["failed"])


def _envelope_from(settings: SmtpSettings, key: str, row: Outbox) -> str:
    """The mail's own signed VERP address, so a bounce says which mail failed; or the plain
    From address where the site turned VERP off."""
    if not settings.verp:
        return settings.from_address
    return verp.address(settings.from_address, key, row.id or 0, row.message_id)


def _verp_key(engine: Engine) -> str:
    with transaction(engine) as session:
        return store.site_secret(session, "verp")


def _claim(engine: Engine, now: datetime, limit: int) -> list[Outbox]:
    with transaction(engine) as session:
        due = store.due_outbox(session, now, limit)
        mine = []
        for row in due:
            claimed = session.execute(
                update(Outbox)
                .where(col(Outbox.id) == row.id, col(Outbox.next_attempt_at) == row.next_attempt_at)
                .values(next_attempt_at=now + CLAIM_LEASE)
            )
            if getattr(claimed, "rowcount", 0) == 1:
                mine.append(row)
        for row in mine:
            session.expunge(row)
        return mine


async def connect_relay(settings: SmtpSettings) -> aiosmtplib.SMTP:
    """A connected, logged-in client; STARTTLS failing raises, never falls back to clear."""
    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        timeout=settings.timeout,
        use_tls=settings.security == "ssl",
        start_tls=settings.security == "starttls",
    )
    await client.connect()
    if settings.username:
        await client.login(settings.username, reveal(settings.password))
    return client


class _Relay:
    """One connection for a whole flush: opened on first use, again after a loss."""

    def __init__(self, settings: SmtpSettings, verp_key: Callable[[], str]) -> None:
        self.settings, self._verp_key = settings, verp_key
        self.client: aiosmtplib.SMTP | None = None
        self.key = ""  # read when there is first something to send

    async def send(self, rows: list[Outbox]) -> list[Attempt]:
        if self.client is None or not self.client.is_connected:
            try:
                self.client = await connect_relay(self.settings)
            except (aiosmtplib.SMTPException, OSError) as exc:
                detail = f"SMTP relay {self.settings.host}:{self.settings.port}: {exc}"
                log.warning("outbox: %s; %d mail(s) will be retried", detail, len(rows))
                return [Attempt(r.id or 0, "retry", detail) for r in rows]
        self.key = self.key or self._verp_key()
        return await _deliver(self.settings, self.key, self.client, rows)

    async def close(self) -> None:
        if self.client is not None and self.client.is_connected:
            try:
                await self.client.quit()
            except aiosmtplib.SMTPException:
                self.client.close()


async def _deliver(
    settings: SmtpSettings, verp_key: str, client: aiosmtplib.SMTP, rows: list[Outbox]
) -> list[Attempt]:
    """One batch on `client`; a lost connection means retry for the rest of the batch."""
    attempts = []
    for row in rows:
        attempts.append(await _send_one(client, row, _envelope_from(settings, verp_key, row)))
        if attempts[-1].result == "retry" and not client.is_connected:
            attempts += [
                Attempt(r.id or 0, "retry", "connection lost") for r in rows[len(attempts) :]
            ]
            break
    return attempts


async def _send_one(client: aiosmtplib.SMTP, row: Outbox, envelope_from: str) -> Attempt:
    recipients = json.loads(row.recipients)
    try:
        refused, _ = await client.sendmail(envelope_from, recipients, row.raw)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        result = "retry" if all(400 <= c < 500 for c in codes) else "failed"
        return Attempt(row.id or 0, result, "; ".join(str(r) for r in exc.recipients))
    except aiosmtplib.SMTPResponseException as exc:
        result = "retry" if 400 <= exc.code < 500 else "failed"
        return Attempt(row.id or 0, result, f"{exc.code} {exc.message}")
    except (aiosmtplib.SMTPException, OSError) as exc:
        return Attempt(row.id or 0, "retry", str(exc) or exc.__class__.__name__)
    except (UnicodeError, ValueError) as exc:  # e.g. a non-ASCII address: no retry helps
        return Attempt(row.id or 0, "failed", f"{exc.__class__.__name__}: {exc}")
    if refused:
        detail = "; ".join(f"{a}: {c} {m}" for a, (c, m) in refused.items())
        return Attempt(row.id or 0, "sent", f"some recipients refused: {detail}")
    return Attempt(row.id or 0, "sent")


def _record(
    engine: Engine, attempts: list[Attempt], now: datetime, hooks: Mapping[str, DeliveryHook]
) -> None:
    with transaction(engine) as session:
        for attempt in attempts:
            row = session.get(Outbox, attempt.outbox_id)
            if row is None:
                continue
            row.attempts += 1
            row.last_error = attempt.detail[:2000]
            if attempt.result == "sent":
                row.state, row.sent_at = "sent", now
            elif attempt.result == "failed" or row.attempts >= MAX_ATTEMPTS:
                row.state = "failed"
            else:
                row.next_attempt_at = now + backoff(row.attempts)
            hook = hooks.get(row.kind)
            if hook is not None and row.state in ("sent", "failed"):
                hook(session, row, now)
            session.add(row)
            _log_attempt(session, row, attempt, now)


def _log_attempt(session: Session, row: Outbox, attempt: Attempt, now: datetime) -> None:
    rcpts = ", ".join(json.loads(row.recipients))
    suffix = f" ({attempt.detail})" if attempt.detail else ""
    log.info("outbox %s %s %s → %s%s", row.message_id, row.kind, attempt.result, rcpts, suffix)
    if row.ticket_id is None or attempt.result == "retry" or not attempt.detail:
        return
    kind = "delivery_failed" if attempt.result == "failed" else "delivery_partial"
    detail = f"{row.kind} {row.message_id}: {attempt.detail}"
    store.add_event(session, row.ticket_id, now, kind, "smtp", detail)
