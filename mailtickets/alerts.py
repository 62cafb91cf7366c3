"""Loud failures (issue 11 point 2): a login whose credential stopped working is raised once.

An OAuth2 provider that answers `invalid_grant`, a client secret that expired, a password
the server refuses: nothing will work until a person acts, and retrying will not tell
them. So the first refusal writes one `alert` row (keyed by the login, e.g. "imap:soporte"
or "smtp:facturacion") and, in the same transaction, queues one mail to `ops_address`;
later refusals only update its detail, from any worker. `status` fails while a row is open
and the metrics show it (metrics.py); the next login that works clears it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import aiosmtplib
from imapclient.exceptions import LoginError
from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mailtickets.db import changed, transaction
from mailtickets.models import Alert
from mailtickets.oauth2 import CredentialRefused
from mailtickets.render import Renderer
from mailtickets.settings import Settings
from mailtickets.work import open_work

log = logging.getLogger("mailtickets.alerts")

KIND = "credential_refused"  # the ops mail's template
DETAIL_CHARS = 500


def login_key(protocol: str, mailbox: str) -> str:
    """How an alert names a login: "imap:soporte", "smtp:soporte"; "smtp" is [smtp] itself.
    Names only, never the address (the key is also a metric label)."""
    return f"{protocol}:{mailbox}" if mailbox else protocol


def is_refusal(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the credential itself was refused, as opposed
    to a server that could not be reached."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, CredentialRefused | LoginError | aiosmtplib.SMTPAuthenticationError):
            return True
        seen = seen.__cause__
    return False


def open_alerts(session: Session) -> list[Alert]:
    """The alerts raised and not cleared, oldest first (what `status` and metrics show)."""
    query = select(Alert).where(col(Alert.cleared_at).is_(None)).order_by(col(Alert.raised_at))
    return list(session.exec(query))


class Alerts:
    """Raises and clears alerts, mailing ops once per raising; everything passed in."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        renderer: Renderer,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings, self.engine, self.renderer, self.clock = settings, engine, renderer, clock
        # A login's first success clears its alert (an earlier process may have raised it);
        # after that only one raised since costs a statement, so a working login costs none.
        self._checked: set[str] = set()
        self._raised: set[str] = set()

    def refused(self, key: str, detail: str) -> str:
        """`key`'s credential was refused: raise its alert, and tell ops if it is new. What
        to add to the caller's one log line: who was told, or "" when it was raised already."""
        now = self.clock()
        detail = " ".join(detail.split())[:DETAIL_CHARS]
        with transaction(self.engine) as session:
            new = _raise(session, key, detail, now)
            if new:
                self._tell_ops(session, key, detail, now)
        self._raised.add(key)
        if not new:
            return ""
        ops = self.settings.policy.ops_address or "nobody: [policy] ops_address is not set"
        return f"; the credential is refused, a person must renew it (told {ops})"

    def working(self, key: str) -> None:
        """`key` logged in: its alert, if one is open, is cleared."""
        if key in self._checked and key not in self._raised:
            return
        with transaction(self.engine) as session:
            clear = (
                update(Alert)
                .where(col(Alert.key) == key, col(Alert.cleared_at).is_(None))
                .values(cleared_at=self.clock())
            )
            cleared = changed(session.execute(clear))
        self._checked.add(key)
        self._raised.discard(key)
        if cleared:
            log.info("%s: the credential works again; alert cleared", key)

    def _tell_ops(self, session: Session, key: str, detail: str, now: datetime) -> None:
        ops = self.settings.policy.ops_address
        if not ops:
            return
        context = {"login": key, "error": detail, "since": now.astimezone(self.settings.tickets.tz)}
        work = open_work(self.settings, self.renderer, session, now)
        work.tell.queue(KIND, None, (ops,), context, automatic="auto-generated")


def _raise(session: Session, key: str, detail: str, now: datetime) -> bool:
    """Open `key`'s alert; True when it was not open before (this call raised it)."""
    reopen = (
        update(Alert)
        .where(col(Alert.key) == key, col(Alert.cleared_at).is_not(None))
        .values(detail=detail, raised_at=now, cleared_at=None)
    )
    reopened = changed(session.execute(reopen))
    if reopened:
        return True
    still = changed(
        session.execute(update(Alert).where(col(Alert.key) == key).values(detail=detail))
    )
    if still:
        return False
    try:
        with session.begin_nested():
            session.execute(insert(Alert).values(key=key, detail=detail, raised_at=now))
    except IntegrityError:  # another worker raised it a moment ago: theirs to tell
        return False
    return True
