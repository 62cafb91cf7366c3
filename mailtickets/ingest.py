"""IMAP edge: fetch new mail by UID, save it raw, and only then mark it on the server."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from mailtickets import store
from mailtickets.config import reveal
from mailtickets.db import transaction
from mailtickets.errors import TemporaryError
from mailtickets.mail import dedup_key, header_message_id, header_sender
from mailtickets.models import Inbound
from mailtickets.oauth2 import TokenProvider, token_provider
from mailtickets.settings import ImapSettings
from mailtickets.tls import context_for

log = logging.getLogger("mailtickets.ingest")

FETCH_ITEMS = [b"BODY.PEEK[]", b"INTERNALDATE"]
# At most this many bytes of mail per FETCH: a batch of big mails is fetched in groups, a
# bigger message alone and in pieces, so memory follows the largest message, not the batch.
FETCH_BYTES = 4 * 1024 * 1024
SEEN = b"\\Seen"
LOGOUT_SECONDS = 5  # a stop waits no longer for the server's goodbye
NETWORK_ERRORS = (OSError, IMAPClientError, socket.timeout, ssl.SSLError)


class SessionEnded(TemporaryError):
    """The server ended a session that had worked: a BYE during IDLE (Exchange Online ends
    a session whose OAuth2 token expired with "AccessTokenExpired"), a dropped connection.
    The daemon reconnects at once, once, before it counts a failure (watchers.py)."""


# What a server says when a session's credential stopped being good mid-session.
_EXPIRED = re.compile(r"AccessTokenExpired|AUTHENTICATIONFAILED|expired|invalidated", re.I)


@dataclass(frozen=True)
class IngestReport:
    saved: int
    duplicates: int
    stopped: bool = False  # the mailbox stopped being ours half way (watch.py)


def mailbox_key(settings: ImapSettings) -> str:
    """The name a mailbox goes by in the database: checkpoint, inbound rows, its watch."""
    return settings.key


def _account(settings: ImapSettings) -> str:
    return f"mailbox {mailbox_key(settings)}"


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def tokens_for(settings: ImapSettings, clock: Callable[[], datetime]) -> TokenProvider | None:
    """The mailbox's OAuth2 token source (`auth = "oauth2"`), else None."""
    if settings.oauth2 is None:
        return None
    return token_provider(_account(settings), settings.oauth2, clock, settings.timeout)


def connect(settings: ImapSettings, tokens: TokenProvider | None = None) -> IMAPClient:
    """A logged-in client with the folder selected; TemporaryError names the server.
    `tokens` keeps the access token between connections; without one a fresh one is got."""
    where = f"IMAP server {settings.host}:{settings.port}"
    try:
        context = context_for(settings.security)
        client = IMAPClient(
            settings.host,
            port=settings.port,
            ssl=settings.security == "ssl",
            ssl_context=context,
            timeout=settings.timeout,
        )
        # Keep INTERNALDATE's own offset; the default turns it into naive local time.
        client.normalise_times = False
        if settings.security == "starttls":
            # A failed STARTTLS raises: never fall back to sending the password in clear.
            client.starttls(context)
        _login(client, settings, tokens)
        client.select_folder(settings.folder)
    except NETWORK_ERRORS as exc:
        raise TemporaryError(f"{where}: {_describe(exc)}") from exc
    return client


def _login(client: IMAPClient, settings: ImapSettings, tokens: TokenProvider | None) -> None:
    if settings.oauth2 is None:
        client.login(settings.username, reveal(settings.password))
        return
    tokens = tokens or token_provider(
        _account(settings), settings.oauth2, _wall_clock, settings.timeout
    )
    # SASL XOAUTH2 (Microsoft, Google, Dovecot) or RFC 7628 OAUTHBEARER, as configured.
    login = client.oauthbearer_login if settings.oauth2.mechanism == "oauthbearer" else None
    login = login or client.oauth2_login
    try:
        login(settings.username, tokens.token())
    except LoginError:
        # Revoked, or expired by the server's clock before ours: one fresh token, once.
        tokens.forget()
        login(settings.username, tokens.token())


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.replace("b'", "").replace("'", "") if isinstance(exc, IMAPClientError) else text


class Mailbox:
    """One watched IMAP folder: reconnects when needed, reads from its checkpoint on.

    `may_touch` is asked before each IMAP command that reads or changes mail (a fetch, a
    flag or move, the look after IDLE): once it says no, this process no longer holds the
    mailbox (watch.py) and leaves it alone; what it saved is marked by the next holder.
    """

    def __init__(
        self,
        settings: ImapSettings,
        engine: Engine,
        clock: Callable[[], datetime],
        may_touch: Callable[[], bool],
    ):
        self.settings, self.engine, self.clock = settings, engine, clock
        self.may_touch = may_touch
        self.key = mailbox_key(settings)
        # Token lifetimes are the provider's real time, not the (maybe simulated) work clock.
        self.tokens = tokens_for(settings, _wall_clock)
        self._client: IMAPClient | None = None
        self._idling = False

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            self._client = connect(self.settings, self.tokens)
        return self._client

    def close(self) -> None:
        """Log out; a connection left in IDLE by a signal is just shut (LOGOUT would hang)."""
        if self._client is not None:
            with contextlib.suppress(*NETWORK_ERRORS):
                if self._idling:
                    self._client.shutdown()
                else:
                    # A stop must not wait long on a server that does not answer LOGOUT.
                    self._client.socket().settimeout(LOGOUT_SECONDS)
                    self._client.logout()
            self._client = None
            self._idling = False

    def ingest(self) -> IngestReport:
        """Save every message past the checkpoint; a network fault drops the connection."""
        with self._network():
            return self._ingest()

    def _ingest(self) -> IngestReport:
        # Selecting again each cycle refreshes the view and reports UIDVALIDITY.
        info = self.client.select_folder(self.settings.folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        if not self._mark_leftovers(uidvalidity):
            return self._stopped(0, 0)
        last_uid = self._last_uid(uidvalidity)
        new_uids = sorted(
            u for u in self.client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid
        )
        if last_uid == 0 and self._first_start():
            new_uids = self._backlog(new_uids)
        saved = duplicates = 0
        for batch, fetched in self._fetch_all(new_uids):
            added, dupes = self._save(uidvalidity, batch, fetched)
            saved, duplicates = saved + added, duplicates + dupes
            if added:
                log.info(
                    "mailbox %s: fetched %d new message(s), uid %d-%d",
                    self.key,
                    added,
                    min(batch),
                    max(batch),
                )
            if not self.may_touch():
                return self._stopped(saved, duplicates)  # saved: the next holder flags them
            self._mark_done(batch)
            self._marked(uidvalidity, batch)
        if not self.may_touch():
            # Never past UIDs we did not fetch: the next holder reads from our checkpoint.
            return self._stopped(saved, duplicates)
        self._skip_expunged(uidvalidity, int(info.get(b"UIDNEXT", 0)) - 1)
        return IngestReport(saved, duplicates)

    def _stopped(self, saved: int, duplicates: int) -> IngestReport:
        log.info("mailbox %s: no longer ours; stopped touching it", self.key)
        return IngestReport(saved, duplicates, stopped=True)

    def _fetch_all(
        self, uids: list[int]
    ) -> Iterator[tuple[list[int], dict[int, dict[bytes, Any]]]]:
        """Every batch of `uids`, fetched as long as the mailbox is ours."""
        for batch in _batches(uids, self.settings.batch_size):
            yield from self._fetch(batch)

    def _fetch(self, uids: list[int]) -> Iterator[tuple[list[int], dict[int, dict[bytes, Any]]]]:
        """The messages `uids` in groups of at most FETCH_BYTES, in UID order; a message
        larger than that comes alone, in pieces, so memory holds it about once. It ends
        early, before a FETCH, once the mailbox is no longer ours."""
        if not self.may_touch():
            return
        sizes = self.client.fetch(uids, [b"RFC822.SIZE"])
        group: list[int] = []
        group_bytes = 0
        for uid in uids:
            size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
            if group and (size > FETCH_BYTES or group_bytes + size > FETCH_BYTES):
                if not self.may_touch():
                    return
                yield group, self.client.fetch(group, FETCH_ITEMS)
                group, group_bytes = [], 0
            if size > FETCH_BYTES:
                if not self.may_touch():
                    return
                yield [uid], self._fetch_large(uid, size)
            else:
                group.append(uid)
                group_bytes += size
        if group and self.may_touch():
            yield group, self.client.fetch(group, FETCH_ITEMS)

    def _fetch_large(self, uid: int, size: int) -> dict[int, dict[bytes, Any]]:
        # imapclient holds a response several times over while parsing it: a big message
        # is read FETCH_BYTES at a time, and written to the database piece by piece.
        found = self.client.fetch([uid], [b"INTERNALDATE", _piece(0)]).get(uid)
        first = _body_piece(found or {})
        if found is None or first is None:
            return {}  # expunged meanwhile
        pieces = _Pieces(
            first, size, lambda at: _body_piece(self.client.fetch([uid], [_piece(at)]).get(uid, {}))
        )
        body: bytes | bytearray | _Pieces = pieces
        if not header_message_id(first):  # its dedup key is a hash of all of it: read it whole
            body = bytearray().join(pieces)
        return {uid: {b"BODY[]": body, b"INTERNALDATE": found.get(b"INTERNALDATE")}}

    def _skip_expunged(self, uidvalidity: int, seen_up_to: int) -> None:
        """Every UID below UIDNEXT at SELECT time was searched above; the ones missing were
        expunged before we saw them. Moving past them (and saving a checkpoint even for an
        empty folder) keeps IDLE from waking for nothing."""
        with transaction(self.engine) as session:
            point = store.checkpoint(session, self.key)
            if point is None or point.uidvalidity != uidvalidity or seen_up_to > point.last_uid:
                store.save_checkpoint(session, self.key, uidvalidity, max(seen_up_to, 0))

    def _first_start(self) -> bool:
        with transaction(self.engine) as session:
            return store.checkpoint(session, self.key) is None

    def _backlog(self, uids: list[int]) -> list[int]:
        """SPEC §9: which mail already in the mailbox at the first start is taken in. The
        checkpoint is saved now, past everything already there, even in an empty folder:
        mail arriving later is new, never 'backlog'."""
        backlog = self.settings.backlog
        if backlog == "all":
            return uids
        if backlog == "none":
            kept: set[int] = set()
        else:
            since = date.fromisoformat(backlog.removeprefix("since:"))
            kept = set(self.client.search(["SINCE", since]))
        skipped = [u for u in uids if u not in kept]
        log.info(
            "mailbox %s: first start, backlog %r: %d old message(s) left unread",
            self.key,
            backlog,
            len(skipped),
        )
        uidvalidity = int(self.client.select_folder(self.settings.folder)[b"UIDVALIDITY"])
        with transaction(self.engine) as session:
            store.save_checkpoint(session, self.key, uidvalidity, max(skipped, default=0))
        return [u for u in uids if u in kept]

    def _last_uid(self, uidvalidity: int) -> int:
        with transaction(self.engine) as session:
            point = store.checkpoint(session, self.key)
        if point is None:
            return 0
        if point.uidvalidity != uidvalidity:
            # The server renumbered the folder: read it all again; dedup keys stop duplicates.
            log.warning(
                "mailbox %s: UIDVALIDITY changed %s → %s, rereading the folder",
                self.key,
                point.uidvalidity,
                uidvalidity,
            )
            return 0
        return point.last_uid

    def _save(
        self, uidvalidity: int, batch: Sequence[int], fetched: dict[int, dict[bytes, Any]]
    ) -> tuple[int, int]:
        """Insert the batch's raw rows and advance the checkpoint in one transaction; if
        another process saved some of them first, look again and save the rest."""
        try:
            return self._save_once(uidvalidity, batch, fetched)
        except IntegrityError:
            return self._save_once(uidvalidity, batch, fetched)

    def _save_once(
        self, uidvalidity: int, batch: Sequence[int], fetched: dict[int, dict[bytes, Any]]
    ) -> tuple[int, int]:
        added = dupes = 0
        now = self.clock()
        with transaction(self.engine) as session:
            keys = {u: self._key(fetched[u]) for u in batch if u in fetched}
            known = store.known_dedup_keys(session, (k for k, _ in keys.values()))
            for uid, (key, message_id) in keys.items():
                if key in known:
                    dupes += 1
                    log.info(
                        "message %s uid=%s duplicate: already saved, ignored",
                        message_id or "(no Message-ID)",
                        uid,
                    )
                    continue
                known.add(key)
                body = fetched[uid][b"BODY[]"]
                row = self._row(uidvalidity, uid, key, message_id, fetched[uid], now)
                if isinstance(body, _Pieces):
                    store.add_inbound_in_pieces(session, row, body, body.size)
                else:
                    store.save_inbound(session, row, body)
                added += 1
            store.save_checkpoint(session, self.key, uidvalidity, max(batch))
        return added, dupes

    @staticmethod
    def _key(data: dict[bytes, Any]) -> tuple[str, str]:
        raw = data[b"BODY[]"]
        if isinstance(raw, _Pieces):  # read in pieces only when it has a Message-ID
            message_id = header_message_id(raw.first)
            return dedup_key(b"", message_id), message_id
        message_id = header_message_id(raw)
        return dedup_key(raw, message_id), message_id

    def _row(
        self,
        uidvalidity: int,
        uid: int,
        key: str,
        message_id: str,
        data: dict[bytes, Any],
        now: datetime,
    ) -> dict[str, Any]:
        arrived = data.get(b"INTERNALDATE")
        if isinstance(arrived, datetime) and arrived.tzinfo is None:  # a server sent no offset
            arrived = arrived.replace(tzinfo=UTC)
        raw = data[b"BODY[]"]
        head = raw.first if isinstance(raw, _Pieces) else raw
        return dict(
            mailbox=self.key,
            uidvalidity=uidvalidity,
            uid=uid,
            dedup_key=key,
            message_id=message_id,
            sender=header_sender(head),
            internal_date=arrived if isinstance(arrived, datetime) else None,
            fetched_at=now,
            server_state="to_mark",  # cleared once flagged/moved; redone after a crash
        )

    def _mark_leftovers(self, uidvalidity: int) -> bool:
        """Saved mail a crash left unflagged (or unmoved) is flagged (moved) now; False when
        the mailbox is no longer ours."""
        with transaction(self.engine) as session:
            uids = store.unmarked_uids(session, self.key, uidvalidity)
        if not uids:
            return True
        if not self.may_touch():
            return False
        self._mark_done(uids)
        self._marked(uidvalidity, uids)
        return True

    def _marked(self, uidvalidity: int, uids: Sequence[int]) -> None:
        with transaction(self.engine) as session:
            store.mark_server_done(session, self.key, uidvalidity, uids)

    def _mark_done(self, uids: Sequence[int]) -> None:
        """After the commit: flag or move. Losing this step costs a flag, never a mail."""
        if self.settings.processed_folder:
            if self.client.has_capability("MOVE"):
                self.client.move(uids, self.settings.processed_folder)
            else:
                self.client.copy(uids, self.settings.processed_folder)
                self.client.delete_messages(uids)
                self.client.expunge(uids)
        else:
            self.client.add_flags(uids, [SEEN], silent=True)

    def quarantine_on_server(self) -> int:
        """Move (or flag) mail the pipeline quarantined; the database says which, so a
        crash between the two only repeats an idempotent step."""
        with transaction(self.engine) as session:
            rows = store.to_quarantine(session, self.key)
        if not rows or not self.may_touch():
            return 0
        done: list[int] = []
        try:
            current = int(self.client.select_folder(self.settings.folder)[b"UIDVALIDITY"])
            for row in rows:
                if not self.may_touch():
                    break  # what is left is the next holder's to set aside
                self._set_aside(row, current)
                done.append(row.id or 0)
        except NETWORK_ERRORS as exc:
            self._client = None
            raise TemporaryError(f"IMAP server {self.settings.host}: {_describe(exc)}") from exc
        finally:
            if done:
                with transaction(self.engine) as session:
                    store.mark_quarantined(session, done)
        return len(done)

    def _set_aside(self, row: Inbound, uidvalidity: int) -> None:
        still_here = (
            row.uidvalidity == uidvalidity
            and not self.settings.processed_folder
            and self.client.search(["UID", str(row.uid)]) == [row.uid]
        )
        folder = self.settings.failed_folder
        if not folder:
            if still_here:
                self.client.add_flags([row.uid], [b"\\Flagged"], silent=True)
            return
        if not self.client.folder_exists(folder):
            self.client.create_folder(folder)
        if still_here and self.client.has_capability("MOVE"):
            self.client.move([row.uid], folder)
        else:
            with transaction(self.engine) as session:
                raw = store.inbound_raw(session, row.id or 0)
            self.client.append(folder, raw, flags=[b"\\Flagged"])
            if still_here:
                self.client.delete_messages([row.uid])
                self.client.expunge([row.uid])

    def can_idle(self) -> bool:
        """Whether to wait for this mailbox with IDLE (else it is polled)."""
        if not self.settings.idle:
            return False
        with self._network():
            return bool(self.client.has_capability("IDLE"))

    def begin_idle(self) -> bool:
        """Enter IDLE; True instead when mail is already waiting (then no IDLE is begun)."""
        with self._network():
            # Mail that arrived after the last fetch but before IDLE starts is announced
            # to no one (imapclient swallows what comes before the continuation): look.
            if self._unread_uids():
                return True
            # Marked before the command goes out: a signal that lands while IDLE is being
            # sent leaves the connection in IDLE, where LOGOUT would wait for ever.
            self._idling = True
            self.client.idle()
            return False

    def end_idle(self) -> bool:
        """Leave IDLE; whether the server announced new mail (or some is waiting)."""
        with self._network():
            responses = self.client.idle_check(timeout=0)
            self.client.idle_done()
            self._idling = False
            if not self.may_touch():
                return False  # lost while idling (e.g. this process was frozen): hands off
            announced = any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)
            return announced or self._unread_uids()

    @contextlib.contextmanager
    def _network(self) -> Iterator[None]:
        """A network fault drops the connection and becomes a TemporaryError naming it; one
        that ends a session already logged in is a SessionEnded."""
        established = self._client is not None
        try:
            yield
        except TemporaryError:
            raise  # connect() or the token provider named it already
        except NETWORK_ERRORS as exc:
            self._client, self._idling = None, False
            said = _describe(exc)
            if self.tokens is not None and _EXPIRED.search(said):
                self.tokens.forget()  # the server's clock says it expired: get a new one
            if established and not isinstance(exc, LoginError):
                raise SessionEnded(f"IMAP server {self.settings.host}: {said}") from exc
            raise TemporaryError(f"IMAP server {self.settings.host}: {said}") from exc

    def _unread_uids(self) -> bool:
        """Whether the folder holds UIDs past the checkpoint (one SELECT, one DB read)."""
        info = self.client.select_folder(self.settings.folder)
        with transaction(self.engine) as session:
            point = store.checkpoint(session, self.key)
        if point is None or point.uidvalidity != int(info[b"UIDVALIDITY"]):
            return True
        return int(info.get(b"UIDNEXT", 0)) - 1 > point.last_uid


def _piece(at: int) -> bytes:
    return f"BODY.PEEK[]<{at}.{FETCH_BYTES}>".encode()


def _body_piece(data: dict[bytes, Any]) -> bytes | None:
    return next((bytes(v) for k, v in data.items() if k.startswith(b"BODY[]") and v), None)


@dataclass(frozen=True)
class _Pieces:
    """A message read FETCH_BYTES at a time: its first piece, and a reader for the piece
    at an offset (None once the server has no more)."""

    first: bytes
    size: int
    read_at: Callable[[int], bytes | None]

    def __iter__(self) -> Iterator[bytes]:
        yield self.first
        at = len(self.first)
        while at < self.size:
            piece = self.read_at(at)
            if not piece:
                return
            yield piece
            at += len(piece)


def _batches(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
