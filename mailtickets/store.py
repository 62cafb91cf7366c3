"""Every database query: reads and writes over a session the caller opened."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    update,
)
from sqlalchemy import select as select_core
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlalchemy.types import LargeBinary
from sqlmodel import Session, col, select

from mailtickets import verp
from mailtickets.bounces import Bounce
from mailtickets.db import changed
from mailtickets.decide import TicketView
from mailtickets.errors import TemporaryError
from mailtickets.models import (
    Attachment,
    AutoMail,
    Checkpoint,
    Contact,
    Customer,
    Event,
    Inbound,
    InboundBody,
    Message,
    Outbox,
    OutboxBody,
    Participant,
    SiteSecret,
    Suppression,
    Ticket,
    Worker,
)
from mailtickets.prepared import Prepared

OPEN_STATUSES = ("new", "open", "waiting")

# The tables behind the models, for the Core statements of the per-mail hot path: the ORM
# costs several times the query itself there, and those rows are never read back as objects.
_ATTACHMENT = Attachment.__table__  # type: ignore[attr-defined]
_AUTO_MAIL = AutoMail.__table__  # type: ignore[attr-defined]
_CONTACT = Contact.__table__  # type: ignore[attr-defined]
_CUSTOMER = Customer.__table__  # type: ignore[attr-defined]
_EVENT = Event.__table__  # type: ignore[attr-defined]
_INBOUND = Inbound.__table__  # type: ignore[attr-defined]
_INBOUND_BODY = InboundBody.__table__  # type: ignore[attr-defined]
_MESSAGE = Message.__table__  # type: ignore[attr-defined]
_OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
_OUTBOX_BODY = OutboxBody.__table__  # type: ignore[attr-defined]
_PARTICIPANT = Participant.__table__  # type: ignore[attr-defined]
_WORKER = Worker.__table__  # type: ignore[attr-defined]
_SUPPRESSION = Suppression.__table__  # type: ignore[attr-defined]
_TICKET = Ticket.__table__  # type: ignore[attr-defined]


def _read(
    session: Session, statement: Any, params: dict[str, Any] | None = None, tickets: bool = False
) -> Any:
    """A Core query inside the session's transaction. Rows the ORM holds to insert or delete
    (a suppression) are written first, as its autoflush would; changed tickets only for a
    query that reads tickets (`tickets`): the ticket in hand changes all along, and writing
    it before every query was a third of the ORM's cost per mail."""
    if tickets or session.new or session.deleted:
        session.flush()
    if isinstance(statement, Prepared):
        return statement.run(session.connection(), (params,) if params else ())
    return session.connection().execute(statement, params)


def _write(session: Session, statement: Any, rows: Sequence[dict[str, Any]] = ()) -> Any:
    """A Core INSERT/UPDATE/DELETE inside the session's transaction: one row of values is a
    single execution (RETURNING works), several an executemany."""
    connection = session.connection()
    if isinstance(statement, Prepared):
        return statement.run(connection, rows)
    if not rows:
        return connection.execute(statement)
    return connection.execute(statement, rows[0] if len(rows) == 1 else list(rows))


def _free_rows(session: Session, table: Any, *conditions: Any) -> Any:
    """The ids of `table`'s rows matching `conditions`, for an UPDATE that claims them: on
    PostgreSQL, rows another worker's open transaction holds are skipped (FOR UPDATE SKIP
    LOCKED) instead of waited for, so workers share a backlog instead of queueing behind
    each other; on SQLite, one writer at a time, the condition alone decides."""
    return _free_rows_on(session.get_bind().dialect.name, table, *conditions)


def _free_rows_on(dialect: str, table: Any, *conditions: Any) -> Any:
    if dialect != "postgresql":
        return and_(*conditions)
    query = select_core(table.c.id).where(*conditions).with_for_update(skip_locked=True)
    return table.c.id.in_(query.scalar_subquery())


# Built once: a statement object reused with bound parameters is compiled once and found
# in SQLAlchemy's cache by identity, instead of being rebuilt and keyed for every mail.
_CONTACT_OF = Prepared(
    select_core(_CONTACT.c.customer_id, _CONTACT.c.notify).where(
        _CONTACT.c.email == bindparam("email")
    )
)
_NOTIFIED_CONTACTS = Prepared(
    select_core(_CONTACT.c.email)
    .where(_CONTACT.c.customer_id == bindparam("customer_id"), _CONTACT.c.notify.is_(True))
    .order_by(_CONTACT.c.id)
)
_CONTACT_EMAILS = Prepared(
    select_core(_CONTACT.c.email)
    .where(_CONTACT.c.customer_id == bindparam("customer_id"))
    .order_by(_CONTACT.c.id)
)
_CUSTOMER_NAME = Prepared(select_core(_CUSTOMER.c.name).where(_CUSTOMER.c.id == bindparam("id")))
_ACCOUNT = Prepared(
    select_core(_CUSTOMER.c.name, _CONTACT.c.email, _CONTACT.c.notify)
    .select_from(_CUSTOMER.outerjoin(_CONTACT, _CONTACT.c.customer_id == _CUSTOMER.c.id))
    .where(_CUSTOMER.c.id == bindparam("id"))
    .order_by(_CONTACT.c.id)
)
_PARTICIPANTS = Prepared(
    select_core(_PARTICIPANT.c.email)
    .where(_PARTICIPANT.c.ticket_id == bindparam("ticket_id"))
    .order_by(_PARTICIPANT.c.id)
)
_CODE_TAKEN = Prepared(select_core(_TICKET.c.id).where(_TICKET.c.code == bindparam("code")))
_THREAD = Prepared(
    select_core(_MESSAGE.c.message_id)
    .where(_MESSAGE.c.ticket_id == bindparam("ticket_id"), _MESSAGE.c.direction != "internal")
    .order_by(_MESSAGE.c.id.desc())
    .limit(bindparam("limit"))
)
_SUPPRESSED = select_core(_SUPPRESSION.c.email).where(
    _SUPPRESSION.c.email.in_(bindparam("emails", expanding=True))
)
_LIFT_SUPPRESSION = Prepared(delete(_SUPPRESSION).where(_SUPPRESSION.c.email == bindparam("email")))
_FORGET_AUTO_MAIL = Prepared(
    delete(_AUTO_MAIL).where(
        _AUTO_MAIL.c.email == bindparam("email"), _AUTO_MAIL.c.at < bindparam("since")
    )
)
_AUTO_MAIL_COUNT = Prepared(
    select_core(func.count()).where(
        _AUTO_MAIL.c.email == bindparam("email"), _AUTO_MAIL.c.at >= bindparam("since")
    )
)
_FORGET_AUTO_MAILS = delete(_AUTO_MAIL).where(
    _AUTO_MAIL.c.email.in_(bindparam("emails", expanding=True)),
    _AUTO_MAIL.c.at < bindparam("since"),
)
_SET_REMINDER_MAIL = Prepared(
    update(_TICKET)
    .where(_TICKET.c.id == bindparam("ticket_id"))
    .values(
        reminder_outbox_id=select_core(_OUTBOX.c.id)
        .where(_OUTBOX.c.message_id == bindparam("message_id"))
        .scalar_subquery()
    )
)
_INSERT_EVENT = Prepared(insert(_EVENT))
_INSERT_MESSAGE = Prepared(insert(_MESSAGE).returning(_MESSAGE.c.id))
_INSERT_OUTBOX = Prepared(insert(_OUTBOX))
# A mail's bytes, found their row by its Message-ID: one statement for a row just written
# alone and for a sweep's rows written together (whose ids executemany does not return).
_INSERT_OUTBOX_BODY = Prepared(
    insert(_OUTBOX_BODY).from_select(
        ["outbox_id", "raw"],
        select_core(_OUTBOX.c.id, bindparam("raw", type_=LargeBinary())).where(
            _OUTBOX.c.message_id == bindparam("message_id")
        ),
    )
)
_OUTBOX_RAW = Prepared(
    select_core(_OUTBOX_BODY.c.raw).where(_OUTBOX_BODY.c.outbox_id == bindparam("id"))
)
_INSERT_ATTACHMENT = Prepared(insert(_ATTACHMENT))
_INSERT_AUTO_MAIL = Prepared(insert(_AUTO_MAIL))
_INSERT_PARTICIPANT = Prepared(insert(_PARTICIPANT))
_INSERT_INBOUND_BODY = Prepared(insert(_INBOUND_BODY))
_INSERT_CUSTOMER = Prepared(insert(_CUSTOMER).returning(_CUSTOMER.c.id))
_INSERT_CONTACT = Prepared(insert(_CONTACT))
_OPEN_TICKETS_OF = Prepared(
    select_core(_TICKET.c.code, _TICKET.c.subject, _TICKET.c.status)
    .where(
        _TICKET.c.customer_id == bindparam("customer_id"),
        # Each status its own test: an IN list expands at every execution.
        or_(*(_TICKET.c.status == s for s in OPEN_STATUSES)),
        _TICKET.c.id != bindparam("but"),
    )
    .order_by(_TICKET.c.created_at)
    .limit(10)
)


# --- mailbox checkpoint and inbound rows -------------------------------------------------


def checkpoint(session: Session, mailbox: str) -> Checkpoint | None:
    return session.get(Checkpoint, mailbox)


def save_checkpoint(session: Session, mailbox: str, uidvalidity: int, last_uid: int) -> None:
    row = session.get(Checkpoint, mailbox)
    if row is None:
        session.add(Checkpoint(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid))
    else:
        # Within one UIDVALIDITY the checkpoint only moves forward; a new one starts afresh.
        same = row.uidvalidity == uidvalidity
        row.uidvalidity, row.last_uid = (
            uidvalidity,
            max(last_uid, row.last_uid) if same else last_uid,
        )
        session.add(row)


def known_dedup_keys(session: Session, keys: Iterable[str]) -> set[str]:
    wanted = list(keys)
    if not wanted:
        return set()
    found = session.exec(select(Inbound.dedup_key).where(col(Inbound.dedup_key).in_(wanted)))
    return set(found)


def _sqlite_dbapi(session: Session) -> Any:
    """The session's sqlite3 connection (for its blob interface), None on other databases."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    return session.connection().connection.dbapi_connection


@cache
def _defaults(table: Any) -> dict[str, Any]:
    """Every column's value when none is given (its scalar default, else NULL), the key
    excepted: an insert naming every column runs prepared (prepared.py)."""
    return {
        c.key: c.default.arg if c.default is not None and c.default.is_scalar else None
        for c in table.c
        if not c.primary_key
    }


_INSERT_INBOUND = Prepared(insert(_INBOUND).returning(_INBOUND.c.id))
_INBOUND_DEFAULTS = _defaults(_INBOUND)


def save_inbound(session: Session, values: dict[str, Any], raw: bytes | bytearray) -> int:
    """Save a fetched message (`values`: inbound columns, the others their defaults) and its
    bytes; the row's id. Core, not an ORM object: building and flushing one cost twice the
    insert, for each mail fetched."""
    new_id = _insert_inbound_row(session, values)
    _write(session, _INSERT_INBOUND_BODY, [{"inbound_id": new_id, "raw": raw}])
    return new_id


def _insert_inbound_row(session: Session, values: dict[str, Any]) -> int:
    row = {**_INBOUND_DEFAULTS, **values}
    return int(_write(session, _INSERT_INBOUND, [row]).scalar_one())


def add_inbound(session: Session, row: Inbound, raw: bytes | bytearray) -> None:
    """`save_inbound` for a row built as a model object (tests, tools); its id is set."""
    row.id = save_inbound(session, row.model_dump(exclude={"id"}), raw)


def add_inbound_in_pieces(
    session: Session, values: dict[str, Any], pieces: Iterable[bytes], size: int
) -> int:
    """`save_inbound` for a message that arrives in pieces. On SQLite they are written into
    a blob of the message's size, one at a time, so the whole message is never in this
    process's memory; elsewhere they are joined first."""
    dbapi = _sqlite_dbapi(session)
    if dbapi is None:
        return save_inbound(session, values, b"".join(pieces))
    new_id = _insert_inbound_row(session, values)
    # The blob is its row's last column, so SQLite writes the zeros without making them.
    _write(session, insert(_INBOUND_BODY).values(inbound_id=new_id, raw=func.zeroblob(size)))
    written = 0
    with dbapi.blobopen("inboundbody", "raw", new_id) as blob:
        for piece in pieces:
            blob.write(piece[: size - written])
            written += min(len(piece), size - written)
    if written != size:
        uid = values.get("uid")
        raise TemporaryError(f"message uid={uid} changed on the server while it was read")
    return new_id


def inbound_raw(session: Session, inbound_id: int) -> bytes:
    """The message's bytes. On SQLite they are read through the blob interface straight
    into one bytes object; a plain SELECT holds a big mail twice (SQLite's copy, Python's)."""
    dbapi = _sqlite_dbapi(session)
    if dbapi is None:
        query = select_core(_INBOUND_BODY.c.raw).where(_INBOUND_BODY.c.inbound_id == inbound_id)
        return bytes(_read(session, query).scalar_one())
    with dbapi.blobopen("inboundbody", "raw", inbound_id, readonly=True) as blob:
        return bytes(blob.read())


@dataclass(frozen=True)
class Attempter:
    """Who counts processing attempts: a worker (workers.py) and the instant before which a
    heartbeat means gone; no worker for a lone process that shares its rows with no one."""

    worker_id: str | None = None
    live_since: datetime | None = None


ALONE = Attempter()


def pending_inbound(
    session: Session, limit: int, after: int = 0, by: Attempter = ALONE
) -> list[tuple[int, int]]:
    """(id, attempts) of up to `limit` pending rows with an id past `after`, oldest first;
    not those whose last attempt another live worker counted: they are in its hands."""
    table = _INBOUND
    query = (
        select_core(table.c.id, table.c.attempts)
        .where(table.c.state == "pending", table.c.id > after)
        .order_by(table.c.id)
        .limit(limit)
    )
    if by.worker_id is not None and by.live_since is not None:
        query = query.where(
            or_(
                table.c.attempts == 0,
                table.c.attempted_by.is_(None),
                table.c.attempted_by == by.worker_id,
                table.c.attempted_by.not_in(live_workers(by.live_since)),
            ),
            ~_behind_another_worker(table, by),
        )
    return [(i, n) for i, n in _read(session, query)]


def _behind_another_worker(table: Any, by: Attempter) -> ColumnElement[bool]:
    """An earlier mail of the row's sender is in another live worker's hands. Its ticket is
    not committed yet, so this one would find none and open its own (a customer's reply
    becoming a second ticket), and the two would make the same new contact at once; it waits
    for that worker instead. A sender's mails in one worker's hands go in id order anyway."""
    assert by.live_since is not None
    return _behind_other_hands(table, by.worker_id, by.live_since)


def _behind_other_hands(table: Any, me: Any, live_since: Any) -> ColumnElement[bool]:
    """`_behind_another_worker` for `me` and `live_since`, values or bound parameters."""
    earlier = table.alias("earlier")
    return exists().where(
        earlier.c.sender == table.c.sender,
        earlier.c.sender != "",
        earlier.c.id < table.c.id,
        # Not IN (...): a list expands at every execution, and this claim is prepared.
        or_(earlier.c.state == "pending", earlier.c.state == "working"),
        earlier.c.attempted_by.is_not(None),
        earlier.c.attempted_by != me,
        earlier.c.attempted_by.in_(live_workers(live_since)),
    )


def answered_mail_in_other_hands(
    session: Session, message_ids: Sequence[str], by: Attempter
) -> str:
    """The first of `message_ids` whose mail is saved here, not processed yet, and in
    another live worker's hands ('' if none): a reply to it must wait for its ticket."""
    if not message_ids or by.worker_id is None or by.live_since is None:
        return ""
    table = _INBOUND
    query = select_core(table.c.message_id).where(
        table.c.dedup_key.in_([f"mid:{m}" for m in message_ids]),
        table.c.state.in_(("pending", "working")),
        table.c.attempted_by.is_not(None),
        table.c.attempted_by != by.worker_id,
        table.c.attempted_by.in_(live_workers(by.live_since)),
    )
    return str(_read(session, query.limit(1)).scalar() or "")


_one_less = case((_INBOUND.c.attempts > 0, _INBOUND.c.attempts - 1), else_=0)


def give_back(session: Session, inbound_id: int) -> None:
    """Pending again, its attempt not counted: the row was put off, not tried."""
    table = _INBOUND
    session.execute(
        update(table)
        .where(table.c.id == inbound_id)
        .values(
            state="pending", attempts=case((table.c.attempts > 0, table.c.attempts - 1), else_=0)
        )
    )


@cache
def _claim_statement(dialect: str, which: str, watched: bool) -> Any:
    """Claim pending inbound rows (`which`: bound "ids" or one "one_id"), not those waiting
    behind another worker when `watched` (bound "me" and "live_since"). Built once per
    shape: building the sender condition for every mail cost more than running it."""
    table = _INBOUND
    if which == "ids":
        conditions = [table.c.id.in_(bindparam("ids", expanding=True))]
    else:
        conditions = [table.c.id == bindparam("one_id")]
    conditions.append(table.c.state == "pending")
    if watched:
        me: Any = bindparam("me")
        live_since: Any = bindparam("live_since")
        conditions.append(~_behind_other_hands(table, me, live_since))
    where = _free_rows_on(dialect, table, *conditions)
    return Prepared(update(table).where(where).values(state="working").returning(table.c.id))


def _claim_inbound(session: Session, by: Attempter, **which: Any) -> list[int]:
    """Run the claim of `which` (ids= or one_id=) for `by`; the ids claimed, in order."""
    watched = by.worker_id is not None and by.live_since is not None
    params = {**which, **({"me": by.worker_id, "live_since": by.live_since} if watched else {})}
    dialect = session.get_bind().dialect.name
    statement = _claim_statement(dialect, next(iter(which)), watched)
    return sorted(i for (i,) in _write(session, statement, [params]))


def live_workers(live_since: datetime) -> Any:
    """The ids of workers whose heartbeat is at `live_since` or later (workers.py): a
    claim by one of them still holds."""
    return select_core(_WORKER.c.id).where(_WORKER.c.heartbeat_at >= live_since)


def count_first_attempts(session: Session, ids: Sequence[int], by: Attempter = ALONE) -> list[int]:
    """Count the first attempt of those of `ids` still pending and never tried, in the name
    of `by`; the ids counted, in order (a row another worker counted first is left to it)."""
    table = _INBOUND
    statement = (
        update(table)
        .where(
            _free_rows(
                session,
                table,
                table.c.id.in_(list(ids)),
                table.c.state == "pending",
                table.c.attempts == 0,
            )
        )
        .values(attempts=1, attempted_by=by.worker_id)
        .returning(table.c.id)
    )
    return sorted(i for (i,) in _write(session, statement))


def claim_inbound_rows(session: Session, ids: Sequence[int], by: Attempter = ALONE) -> list[int]:
    """Mark those of `ids` still pending as being worked on (not one waiting behind another
    worker: see pending_inbound); the ids claimed, in order."""
    if not ids:
        return []
    if len(ids) == 1:  # a batch claims one mail at a time: no IN list to expand
        return _claim_inbound(session, by, one_id=ids[0])
    return _claim_inbound(session, by, ids=list(ids))


def count_attempt(session: Session, inbound_id: int, seen: int, by: Attempter = ALONE) -> bool:
    """Add one to the row's attempts, in the name of `by`, if it is still pending with
    `seen` attempts: of two workers that read the same count, one wins and the other leaves
    the row alone."""
    table = _INBOUND
    result = session.execute(
        update(table)
        .where(
            _free_rows(
                session,
                table,
                table.c.id == inbound_id,
                table.c.state == "pending",
                table.c.attempts == seen,
            )
        )
        .values(attempts=seen + 1, attempted_by=by.worker_id)
    )
    return changed(result) == 1


def claim_inbound(session: Session, inbound_id: int, by: Attempter = ALONE) -> InHand | None:
    """The row if it is still pending and waits for no other worker; the UPDATE makes a
    second worker's claim fail."""
    if not _claim_inbound(session, by, one_id=inbound_id):
        return None
    return inbound_in_hand(session, inbound_id)


@dataclass(frozen=True)
class InHand:
    """What processing reads of the inbound row it claimed. A plain copy, not an ORM
    object: loading the row through the session and flushing its new state cost more than
    a mail's other statements together (`finish_inbound` writes that state)."""

    id: int
    uid: int
    message_id: str
    mailbox: str
    internal_date: datetime | None
    spam_released_at: datetime | None


_IN_HAND = Prepared(
    select_core(*(_INBOUND.c[name] for name in InHand.__dataclass_fields__ if name != "id")).where(
        _INBOUND.c.id == bindparam("id")
    )
)
_FINISH_INBOUND = Prepared(
    update(_INBOUND)
    .where(_INBOUND.c.id == bindparam("inbound_id"))
    .values(
        state=bindparam("new_state"),
        outcome=bindparam("new_outcome"),
        ticket_code=bindparam("new_code"),
        processed_at=bindparam("at"),
        error="",
    )
)


def inbound_in_hand(session: Session, inbound_id: int) -> InHand | None:
    row = _read(session, _IN_HAND, {"id": inbound_id}).first()
    return InHand(inbound_id, *row) if row is not None else None


def finish_inbound(
    session: Session, inbound_id: int, state: str, outcome: str, code: str, at: datetime
) -> None:
    """The row's new state once processed (done, ignored, spam...), its error cleared."""
    values = {"inbound_id": inbound_id, "new_state": state, "new_outcome": outcome}
    _write(session, _FINISH_INBOUND, [values | {"new_code": code, "at": at}])


# --- people --------------------------------------------------------------------------------


def contact_by_email(session: Session, email: str) -> Contact | None:
    return session.exec(select(Contact).where(Contact.email == email.lower())).first()


@dataclass(frozen=True)
class ContactInfo:
    customer_id: int
    notify: bool


def contact_info(session: Session, email: str) -> ContactInfo | None:
    """Whose contact `email` is, and whether it is authorised (notified)."""
    row = _read(session, _CONTACT_OF, {"email": email.lower()}).first()
    return ContactInfo(row[0], bool(row[1])) if row else None


@dataclass(frozen=True)
class Account:
    """A customer as its mail needs it: the name, every contact, the authorised ones."""

    id: int
    name: str
    contacts: tuple[str, ...]  # in the order they were added
    notified: tuple[str, ...]


def add_customer_with_contact(session: Session, email: str, name: str, now: datetime) -> Account:
    """A new customer whose one contact is `email`, authorised."""
    # Every column given (_defaults): a Python-side default would keep it off the prepared path.
    new = {**_defaults(_CUSTOMER), "name": name or email, "created_at": now}
    customer = int(_write(session, _INSERT_CUSTOMER, [new]).scalar_one())
    address = email.lower()
    values = {"customer_id": customer, "email": address, "name": name, "notify": True}
    _write(session, _INSERT_CONTACT, [values])
    return Account(customer, str(new["name"]), (address,), (address,))


def account(session: Session, customer_id: int) -> Account:
    """The customer's name and contacts in one query (a new ticket reads both)."""
    rows = _read(session, _ACCOUNT, {"id": customer_id}).all()
    contacts = tuple((email, bool(notify)) for _, email, notify in rows if email is not None)
    return Account(
        customer_id,
        str(rows[0][0] or "") if rows else "",
        tuple(email for email, _ in contacts),
        tuple(email for email, notify in contacts if notify),
    )


def notify_contacts(session: Session, customer_id: int) -> list[str]:
    return list(_read(session, _NOTIFIED_CONTACTS, {"customer_id": customer_id}).scalars())


def contact_emails(session: Session, customer_id: int) -> list[str]:
    """Every contact of the customer, authorised to be notified or not."""
    return list(_read(session, _CONTACT_EMAILS, {"customer_id": customer_id}).scalars())


def customer_name(session: Session, customer_id: int) -> str:
    return str(_read(session, _CUSTOMER_NAME, {"id": customer_id}).scalar() or "")


def participants(session: Session, ticket_id: int) -> list[str]:
    return list(_read(session, _PARTICIPANTS, {"ticket_id": ticket_id}).scalars())


def add_participants(
    session: Session, ticket_id: int, emails: Iterable[str], existing: Iterable[str] | None = None
) -> None:
    """`emails` join the ticket, but those already in it (`existing`, when the caller has
    just read them; else read here)."""
    have = set(participants(session, ticket_id) if existing is None else existing)
    new = [e for e in dict.fromkeys(emails) if e not in have]
    if new:
        _write(session, _INSERT_PARTICIPANT, [{"ticket_id": ticket_id, "email": e} for e in new])


# --- tickets -------------------------------------------------------------------------------


def ticket_by_code(session: Session, code: str) -> Ticket | None:
    found = _read(session, _TICKET_BY_CODE, {"code": code.upper()}, tickets=True)
    return _loaded_ticket(session, found)


_TICKET_COLUMNS = tuple(_TICKET.c)
_TICKET_ID_AT = _TICKET_COLUMNS.index(_TICKET.c.id)
_TICKET_BY_CODE = Prepared(
    select_core(*_TICKET_COLUMNS).where(_TICKET.c.code == bindparam("code")).limit(1)
)
_TICKET_BY_ID = Prepared(select_core(*_TICKET_COLUMNS).where(_TICKET.c.id == bindparam("id")))


def ticket_by_id(session: Session, ticket_id: int) -> Ticket | None:
    """What `session.get(Ticket, id)` gives (the session's own object if it holds one),
    by a prepared query: the ORM's load cost half a millisecond."""
    held = session.identity_map.get(identity_key(Ticket, ticket_id))
    if held is not None:
        return held
    return _loaded_ticket(session, _read(session, _TICKET_BY_ID, {"id": ticket_id}, tickets=True))


def _loaded_ticket(session: Session, rows: Any) -> Ticket | None:
    """The first of `rows` (all of the ticket's columns) as the session's loaded object."""
    row = rows.first()
    if row is None:
        return None
    held = session.identity_map.get(identity_key(Ticket, row[_TICKET_ID_AT]))
    if held is not None:  # as a query does: the object in hand, its changes kept
        return held
    ticket = Ticket(**{c.key: value for c, value in zip(_TICKET_COLUMNS, row, strict=True)})
    make_transient_to_detached(ticket)
    session.add(ticket)
    return ticket


_INSERT_TICKET = Prepared(insert(_TICKET).returning(_TICKET.c.id))


def add_ticket(session: Session, ticket: Ticket) -> None:
    """Insert a new ticket by a prepared statement and keep it in the session as a loaded
    row, its id set, so later changes are UPDATEs as usual: the ORM's insert (its unit of
    work, for one row) cost as much again as building the ticket."""
    values = {c.key: getattr(ticket, c.key) for c in _TICKET.c if not c.primary_key}
    ticket.id = int(_write(session, _INSERT_TICKET, [values]).scalar_one())
    make_transient_to_detached(ticket)
    session.add(ticket)


def code_taken(session: Session, code: str) -> bool:
    return _read(session, _CODE_TAKEN, {"code": code.upper()}, tickets=True).first() is not None


def ticket_by_message_ids(session: Session, message_ids: Sequence[str]) -> Ticket | None:
    """The ticket of the first of `message_ids` that we stored or sent."""
    if not message_ids:
        return None
    wanted = list(message_ids)
    if len(wanted) > _FEW:
        rows = _read(session, _tickets_of_messages(wanted))
    else:
        values = {f"m{i}": m for i, m in enumerate(wanted)}
        rows = _read(session, _tickets_of_few_messages(len(wanted)), values)
    found: dict[str, int] = {}
    for mid, ticket_id in rows:
        found.setdefault(mid, ticket_id)
    first = next((found[m] for m in wanted if m in found), None)
    return ticket_by_id(session, first) if first is not None else None


def _tickets_of_messages(wanted: list[Any]) -> Any:
    """(Message-ID, ticket id) of those of `wanted` that we stored or sent."""
    stored = select_core(_MESSAGE.c.message_id, _MESSAGE.c.ticket_id).where(
        _MESSAGE.c.message_id.in_(wanted)
    )
    sent = select_core(_OUTBOX.c.message_id, _OUTBOX.c.ticket_id).where(
        _OUTBOX.c.message_id.in_(wanted), _OUTBOX.c.ticket_id.is_not(None)
    )
    return stored.union_all(sent)


@cache
def _tickets_of_few_messages(count: int) -> Prepared:
    """`_tickets_of_messages` for `count` bound Message-IDs (m0, m1...): a reply names one
    to three, and a list that expands at every execution cannot be prepared."""
    return Prepared(_tickets_of_messages([bindparam(f"m{i}") for i in range(count)]))


def ticket_view(session: Session, ticket: Ticket) -> TicketView:
    assert ticket.id is not None
    return TicketView(
        id=ticket.id,
        code=ticket.code,
        status=ticket.status,
        customer_id=ticket.customer_id,
        requester=ticket.requester,
        participants=frozenset(participants(session, ticket.id)),
        closed_at=ticket.closed_at,
    )


@dataclass(frozen=True)
class TicketLine:
    code: str
    subject: str
    status: str


def open_tickets_of(session: Session, customer_id: int, but: int | None) -> list[TicketLine]:
    """Up to ten of the customer's open tickets other than `but`, oldest first."""
    params = {"customer_id": customer_id, "but": but}
    return [TicketLine(*row) for row in _read(session, _OPEN_TICKETS_OF, params, tickets=True)]


def list_tickets(session: Session, status: str | None, department: str | None) -> list[Ticket]:
    query = select(Ticket).order_by(col(Ticket.created_at))
    if status:
        query = query.where(Ticket.status == status)
    if department:
        query = query.where(Ticket.department == department)
    return list(session.exec(query))


def messages_of(session: Session, ticket_id: int) -> list[Message]:
    query = select(Message).where(Message.ticket_id == ticket_id).order_by(col(Message.id))
    return list(session.exec(query))


def attachment_names(session: Session, message_id: int) -> list[str]:
    query = select(Attachment.filename).where(Attachment.message_id == message_id)
    return list(session.exec(query.order_by(col(Attachment.id))))


def events_of(session: Session, ticket_id: int) -> list[Event]:
    query = select(Event).where(Event.ticket_id == ticket_id).order_by(col(Event.id))
    return list(session.exec(query))


THREAD_REFERENCES = 10  # Message-IDs of a thread named in a notice's References header


def thread_references(
    session: Session, ticket_id: int, limit: int = THREAD_REFERENCES
) -> list[str]:
    """Message-IDs of the ticket's conversation, oldest first, for a References header."""
    newest = _read(session, _THREAD, {"ticket_id": ticket_id, "limit": limit}).scalars()
    return list(reversed(list(newest)))


def add_event(
    session: Session, ticket_id: int, at: datetime, kind: str, actor: str, detail: str
) -> None:
    values = {"ticket_id": ticket_id, "at": at, "kind": kind, "actor": actor, "detail": detail}
    if (held := _deferred(session)) is not None:
        held.events.append(values)
        return
    _write(session, _INSERT_EVENT, [values])


def add_message(
    session: Session, message: dict[str, Any], attachments: Sequence[dict[str, Any]]
) -> int:
    """Insert one message of a ticket and its attachments; the message's id."""
    new_id = int(_write(session, _INSERT_MESSAGE, [message]).scalar_one())
    if attachments:
        _write(session, _INSERT_ATTACHMENT, [{**a, "message_id": new_id} for a in attachments])
    return new_id


def add_outbox(session: Session, values: dict[str, Any], automatic_to: Sequence[str]) -> None:
    """Queue one mail (`values`: an outbox row's, and the mail's bytes as "raw"); each of
    `automatic_to` is counted against its hourly limit."""
    counts = [{"email": r, "at": values["created_at"]} for r in automatic_to]
    if (held := _deferred(session)) is not None:
        held.outbox.append(values)
        held.automail += counts
        return
    write_outbox(session, [values])
    if counts:
        _write(session, _INSERT_AUTO_MAIL, counts)


def write_outbox(session: Session, mails: Sequence[dict[str, Any]]) -> None:
    """Outbox rows and, in their own table, their bytes (each mail's "raw")."""
    rows = [{k: v for k, v in mail.items() if k != "raw"} for mail in mails]
    _write(session, _INSERT_OUTBOX, rows)
    add_outbox_bodies(session, mails)


def add_outbox_bodies(session: Session, mails: Sequence[dict[str, Any]]) -> None:
    """The bytes ("raw") of outbox rows written already, each found by its "message_id"."""
    bodies = [{"message_id": mail["message_id"], "raw": mail["raw"]} for mail in mails]
    _write(session, _INSERT_OUTBOX_BODY, bodies)


def outbox_raw(session: Session, outbox_id: int) -> bytes:
    """The bytes of one outbox mail (b"" when there is no such row)."""
    found = _read(session, _OUTBOX_RAW, {"id": outbox_id}).scalar()
    return bytes(found) if found is not None else b""


def outbox_bodies(session: Session, ids: Sequence[int]) -> dict[int, bytes]:
    """The bytes of outbox rows `ids`, by id (a batch about to be sent)."""
    if not ids:
        return {}
    query = select_core(_OUTBOX_BODY.c.outbox_id, _OUTBOX_BODY.c.raw).where(
        _OUTBOX_BODY.c.outbox_id.in_(list(ids))
    )
    return {int(i): bytes(raw) for i, raw in _read(session, query)}


def set_outbox_raw(session: Session, outbox_id: int, raw: bytes) -> None:
    """Replace the bytes of outbox row `outbox_id` (a held notice given its preface)."""
    _write(
        session,
        update(_OUTBOX_BODY).where(_OUTBOX_BODY.c.outbox_id == outbox_id).values(raw=raw),
    )


def set_reminder_mail(session: Session, ticket_id: int, message_id: str) -> None:
    """Remember the outbox row (by its Message-ID) whose delivery starts the ticket's close
    clock; a Core UPDATE, an ORM flush of the ticket cost ten times as much."""
    values = {"ticket_id": ticket_id, "message_id": message_id}
    if (held := _deferred(session)) is not None:
        held.reminders.append(values)
        return
    _write(session, _SET_REMINDER_MAIL, [values])


# --- a batch of timers: read together, written together -----------------------------------


@dataclass
class Held:
    """Rows held back by `deferring` and written by `write_held`: one executemany per table
    instead of a statement per row (a sweep queues a few rows per ticket, for hundreds)."""

    outbox: list[dict[str, Any]] = field(default_factory=list)
    automail: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    reminders: list[dict[str, Any]] = field(default_factory=list)


_HELD = "mailtickets.held"


def _deferred(session: Session) -> Held | None:
    held = session.info.get(_HELD)
    return held if isinstance(held, Held) else None


@contextmanager
def deferring(session: Session) -> Iterator[Held]:
    """Within the block, events, outbox rows, their hourly counts and reminder marks are
    held in memory; they are written when the block ends without an error, else dropped."""
    held = Held()
    session.info[_HELD] = held
    try:
        yield held
    finally:
        del session.info[_HELD]
    write_held(session, held)


def write_held(session: Session, held: Held) -> None:
    """The held rows, the outbox first: a reminder mark finds its row by Message-ID."""
    if held.outbox:
        write_outbox(session, held.outbox)
    for statement, rows in (
        (_INSERT_AUTO_MAIL, held.automail),
        (_INSERT_EVENT, held.events),
        (_SET_REMINDER_MAIL, held.reminders),
    ):
        if rows:
            _write(session, statement, rows)


@dataclass(frozen=True)
class Known:
    """What notices about some tickets need to know, known beforehand: a sweep's batch read
    in a few queries instead of several per ticket (`known_about`), or a ticket its own
    mail has just opened (`Notifier.know_opened`). What it does not hold is read."""

    contacts: dict[int, list[str]]  # customer id → contacts to notify
    participants: dict[int, list[str]]  # ticket id → participants
    names: dict[int, str]  # customer id → name
    threads: dict[int, list[str]]  # ticket id → Message-IDs of its thread, oldest first
    # The addresses of which the next two are known; any other address's suppression and
    # hourly count are read when a notice needs them.
    covered: frozenset[str]
    suppressed: frozenset[str]
    counts: dict[str, int]  # address → automatic mails queued to it since `since`


def known_about(session: Session, tickets: Sequence[Ticket], since: datetime) -> Known:
    """`Known` for `tickets`: every address they may mail, its suppression and its count of
    automatic mail since `since` (older counts of those addresses are dropped on the way)."""
    customers = sorted({t.customer_id for t in tickets})
    ids = sorted(t.id for t in tickets if t.id is not None)
    contacts: dict[int, list[str]] = {c: [] for c in customers}
    query = (
        select_core(_CONTACT.c.customer_id, _CONTACT.c.email)
        .where(_CONTACT.c.customer_id.in_(customers), _CONTACT.c.notify.is_(True))
        .order_by(_CONTACT.c.id)
    )
    for customer_id, email in _read(session, query):
        contacts[customer_id].append(email)
    people: dict[int, list[str]] = {i: [] for i in ids}
    query = (
        select_core(_PARTICIPANT.c.ticket_id, _PARTICIPANT.c.email)
        .where(_PARTICIPANT.c.ticket_id.in_(ids))
        .order_by(_PARTICIPANT.c.id)
    )
    for ticket_id, email in _read(session, query):
        people[ticket_id].append(email)
    query = select_core(_CUSTOMER.c.id, _CUSTOMER.c.name).where(_CUSTOMER.c.id.in_(customers))
    names = {customer_id: name or "" for customer_id, name in _read(session, query)}
    threads: dict[int, list[str]] = {i: [] for i in ids}
    query = (
        select_core(_MESSAGE.c.ticket_id, _MESSAGE.c.message_id)
        .where(_MESSAGE.c.ticket_id.in_(ids), _MESSAGE.c.direction != "internal")
        .order_by(_MESSAGE.c.id)
    )
    for ticket_id, message_id in _read(session, query):
        threads[ticket_id].append(message_id)
    threads = {i: refs[-THREAD_REFERENCES:] for i, refs in threads.items()}
    emails = sorted(
        {t.requester for t in tickets}
        | {e for found in contacts.values() for e in found}
        | {e for found in people.values() for e in found}
    )
    _write(session, _FORGET_AUTO_MAILS, [{"emails": emails, "since": since}])
    query = (
        select_core(_AUTO_MAIL.c.email, func.count())
        .where(_AUTO_MAIL.c.email.in_(emails), _AUTO_MAIL.c.at >= since)
        .group_by(_AUTO_MAIL.c.email)
    )
    counts = {email: int(n) for email, n in _read(session, query)}
    dropped = frozenset(suppressed(session, emails))
    return Known(contacts, people, names, threads, frozenset(emails), dropped, counts)


def recipients_json(recipients: Iterable[str]) -> str:
    return json.dumps(list(recipients))


# --- outbox --------------------------------------------------------------------------------


# Delivery reads a batch's rows when it claims them and again when it records the relay's
# answers: by Core queries into plain rows, since loading and flushing ORM objects was a
# quarter of delivery's own time. The mail's bytes are in outboxbody (outbox_bodies).
@dataclass(frozen=True)
class OutboxRow:
    """An outbox row as delivery reads it, without its mail's bytes."""

    id: int
    ticket_id: int | None
    kind: str
    message_id: str
    recipients: str  # JSON list
    mailbox: str | None
    attempts: int


_OUTBOX_ROW = tuple(_OUTBOX.c[name] for name in OutboxRow.__dataclass_fields__)


def due_outbox(
    session: Session, now: datetime, limit: int, live_since: datetime, worker_id: str
) -> list[OutboxRow]:
    """Pending rows due at `now` that `worker_id` may claim (see claim_outbox), oldest first."""
    query = (
        select_core(*_OUTBOX_ROW)
        .where(_OUTBOX.c.state == "pending", _OUTBOX.c.next_attempt_at <= now)
        .where(_claimable(live_since, worker_id))
        .order_by(_OUTBOX.c.id)
        .limit(limit)
    )
    return [OutboxRow(*row) for row in _read(session, query)]


def outbox_in_hand(session: Session, ids: Sequence[int]) -> dict[int, OutboxRow]:
    """The rows `ids` by id, as they are now (their mail's bytes are not read here)."""
    if not ids:
        return {}
    query = select_core(*_OUTBOX_ROW).where(_OUTBOX.c.id.in_(list(ids)))
    return {row.id: row for row in (OutboxRow(*r) for r in _read(session, query))}


@dataclass(frozen=True)
class Answer:
    """What the relay's answer makes of one outbox row; None keeps sent_at or the due time."""

    outbox_id: int
    state: str
    attempts: int
    error: str
    worker_id: str  # whose claim it was: another worker's row is written only as sent
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None


# An answer written and its claim given back; only while the row is still pending and
# ours, or sent (the relay took it from us after our claim lapsed: it is sent, whoever
# holds it now). The id comes back only when it was written.
_RECORD_ANSWER = Prepared(
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id == bindparam("outbox_id"),
        _OUTBOX.c.state == "pending",
        or_(_OUTBOX.c.claimed_by == bindparam("worker_id"), bindparam("new_state") == "sent"),
    )
    .values(
        state=bindparam("new_state"),
        attempts=bindparam("new_attempts"),
        last_error=bindparam("error"),
        sent_at=func.coalesce(bindparam("sent", type_=_OUTBOX.c.sent_at.type), _OUTBOX.c.sent_at),
        next_attempt_at=func.coalesce(
            bindparam("next_at", type_=_OUTBOX.c.next_attempt_at.type), _OUTBOX.c.next_attempt_at
        ),
        claimed_by=None,
        claimed_at=None,
    )
    .returning(_OUTBOX.c.id)
)


def record_answer(session: Session, answer: Answer) -> bool:
    """Write the relay's answer to its row, giving the claim back; False when the row was
    no longer ours to write (see Answer), and nothing changed."""
    values = {
        "outbox_id": answer.outbox_id,
        "new_state": answer.state,
        "new_attempts": answer.attempts,
        "error": answer.error,
        "worker_id": answer.worker_id,
        "sent": answer.sent_at,
        "next_at": answer.next_attempt_at,
    }
    return _write(session, _RECORD_ANSWER, [values]).first() is not None


def _claimable(live_since: datetime, worker_id: str) -> ColumnElement[bool]:
    """Held by no one, by a worker whose heartbeat is older than `live_since` or whose row
    is gone (a claim lasts only while its holder is alive: workers.py), or by `worker_id`
    itself: a worker sends one batch at a time, so a claim of its own found when it claims
    again was left by a flush that failed half way."""
    return or_(
        col(Outbox.claimed_by).is_(None),
        col(Outbox.claimed_by) == worker_id,
        col(Outbox.claimed_by).not_in(live_workers(live_since)),
    )


def claim_outbox(
    session: Session,
    ids: Sequence[int],
    worker_id: str,
    now: datetime,
    live_since: datetime,
    at: datetime,
) -> list[int]:
    """Claim for `worker_id` those of `ids` still due at `now` and held by no other live
    worker; the ids it won. One conditional UPDATE: of two workers, each row goes to one."""
    if not ids:
        return []
    table = _OUTBOX
    free = _free_rows(
        session,
        table,
        table.c.id.in_(list(ids)),
        table.c.state == "pending",
        table.c.next_attempt_at <= now,
        _claimable(live_since, worker_id),
    )
    session.execute(
        update(Outbox)
        .where(free)
        .values(claimed_by=worker_id, claimed_at=at)
        .execution_options(synchronize_session=False)
    )
    won = (
        select(Outbox.id)
        .where(col(Outbox.id).in_(list(ids)), Outbox.claimed_by == worker_id)
        .order_by(col(Outbox.id))
    )
    return [i for i in session.exec(won) if i is not None]


def release_claims(session: Session, worker_id: str, ids: Sequence[int] | None = None) -> int:
    """Give back `worker_id`'s claims (only on `ids` if given); how many there were."""
    statement = update(Outbox).where(col(Outbox.claimed_by) == worker_id)
    if ids is not None:
        statement = statement.where(col(Outbox.id).in_(list(ids)))
    result = session.execute(
        statement.values(claimed_by=None, claimed_at=None).execution_options(
            synchronize_session=False
        )
    )
    return changed(result)


@dataclass(frozen=True)
class ClaimHolder:
    """Who holds pending outbox rows, how many, and since when (its row None if gone)."""

    worker_id: str
    worker: Worker | None
    claims: int
    oldest_claim: datetime

    @property
    def host(self) -> str:
        return self.worker.host if self.worker else ""

    @property
    def pid(self) -> int | None:
        return self.worker.pid if self.worker else None

    @property
    def heartbeat_at(self) -> datetime | None:
        return self.worker.heartbeat_at if self.worker else None


def outbox_claim_holders(session: Session) -> list[ClaimHolder]:
    """Every holder of a claim on a pending outbox row, the oldest claim first."""
    query = (
        select(Outbox.claimed_by, func.count(), func.min(Outbox.claimed_at))
        .where(Outbox.state == "pending", col(Outbox.claimed_by).is_not(None))
        .group_by(col(Outbox.claimed_by))
        .order_by(func.min(Outbox.claimed_at))
    )
    holders = []
    for worker_id, claims, oldest in session.exec(query):
        assert worker_id is not None and oldest is not None
        holders.append(ClaimHolder(worker_id, session.get(Worker, worker_id), claims, oldest))
    return holders


# --- workers -------------------------------------------------------------------------------


def add_worker(session: Session, worker: Worker) -> None:
    """Insert the worker's row, or overwrite one a failed stop left under the same id."""
    session.merge(worker)


def renew_worker(session: Session, worker_id: str, at: datetime) -> bool:
    """Set the worker's heartbeat; False when its row is gone (another found it dead)."""
    result = session.execute(
        update(Worker)
        .where(col(Worker.id) == worker_id)
        .values(heartbeat_at=at)
        .execution_options(synchronize_session=False)
    )
    return changed(result) == 1


def workers(session: Session) -> list[Worker]:
    return list(session.exec(select(Worker).order_by(col(Worker.started_at))))


def remove_worker(session: Session, worker_id: str) -> int | None:
    """Remove a worker's row and give back its outbox claims; how many it held, None when
    its row was already gone (another worker removed it first)."""
    freed = release_claims(session, worker_id)
    result = session.execute(
        delete(Worker)
        .where(col(Worker.id) == worker_id)
        .execution_options(synchronize_session=False)
    )
    return freed if changed(result) == 1 else None


def outbox_rows(session: Session, ticket_id: int | None = None) -> list[Outbox]:
    """Every outbox row (pending, sent or failed), oldest first, for one ticket or all."""
    query = select(Outbox).order_by(col(Outbox.id))
    if ticket_id is not None:
        query = query.where(Outbox.ticket_id == ticket_id)
    return list(session.exec(query))


def inbound_rows(session: Session, states: Sequence[str]) -> list[Inbound]:
    query = select(Inbound).where(col(Inbound.state).in_(list(states)))
    return list(session.exec(query.order_by(col(Inbound.id))))


def recent_outbox_to(session: Session, kind: str, recipient: str, since: datetime) -> bool:
    """Whether a `kind` mail to exactly `recipient` was queued after `since` (rate limit)."""
    query = select(Outbox.id).where(
        Outbox.kind == kind,
        Outbox.recipients == recipients_json([recipient]),
        col(Outbox.created_at) >= since,
    )
    return session.exec(query).first() is not None


def follow_merges(session: Session, ticket: Ticket | None) -> Ticket | None:
    """The ticket a merged ticket lives on in (through chains), else `ticket` itself."""
    seen: set[int] = set()
    while ticket is not None and ticket.status == "merged" and ticket.linked_to_id:
        if ticket.linked_to_id in seen:
            break
        seen.add(ticket.linked_to_id)
        ticket = ticket_by_id(session, ticket.linked_to_id)
    return ticket


def customer_tickets(session: Session, customer_id: int, closed_since: datetime) -> list[Ticket]:
    """A customer's open tickets and those closed after `closed_since`, newest first."""
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id)
        .where(or_(col(Ticket.status).in_(OPEN_STATUSES), col(Ticket.updated_at) >= closed_since))
        .where(Ticket.status != "merged")
        .order_by(col(Ticket.updated_at).desc())
    )
    return list(session.exec(query.limit(50)))


def due_ticket_ids(
    session: Session, column: Any, cutoff: datetime, limit: int, *conditions: Any
) -> list[int]:
    """Ids of tickets whose timer `column` is set and at or before `cutoff` (index range)."""
    query = (
        select(Ticket.id)
        .where(col(column).is_not(None), col(column) <= cutoff, *conditions)
        .order_by(col(column))
        .limit(limit)
    )
    return [i for i in session.exec(query) if i is not None]


def mark_reminder_sent(session: Session, outbox: OutboxRow, sent_at: datetime) -> None:
    """The close clock starts when the reminder really left (or could never leave), and
    only for the ticket's current reminder, not a stale one sent late."""
    ticket = session.get(Ticket, outbox.ticket_id) if outbox.ticket_id else None
    if ticket is not None and ticket.reminder_outbox_id == outbox.id and ticket.status == "waiting":
        ticket.reminder_sent_at = sent_at
        ticket.reminder_outbox_id = None
        session.add(ticket)


def to_quarantine(session: Session, mailbox: str) -> list[Inbound]:
    query = select(Inbound).where(
        Inbound.mailbox == mailbox, Inbound.server_state == "to_quarantine"
    )
    return list(session.exec(query.order_by(col(Inbound.id))))


def mark_quarantined(session: Session, ids: Sequence[int]) -> None:
    session.execute(
        update(Inbound).where(col(Inbound.id).in_(list(ids))).values(server_state="quarantined")
    )


def requeue_inbound(session: Session, inbound_id: int) -> Inbound | None:
    """Put a quarantined mail back in the queue with its attempts reset."""
    row = session.get(Inbound, inbound_id)
    if row is None or row.state != "failed":
        return None
    row.state, row.attempts = "pending", 0
    session.add(row)
    return row


def bounced_mail(session: Session, bounce: Bounce) -> Outbox | None:
    """The outgoing mail a bounce is about, only through its signed VERP address: a bounce
    naming no valid token (a forgery quoting one of our Message-IDs) is about nothing."""
    if bounce.outbox_id is None:
        return None
    row = session.get(Outbox, bounce.outbox_id)
    key = site_secret(session, "verp")
    if row is None or not verp.valid(key, bounce.outbox_id, row.message_id, bounce.verp_token):
        return None
    returned = bounce.original_message_id  # the returned headers, when the bounce has them
    return row if not returned or returned == row.message_id else None


def site_secret(session: Session, name: str) -> str:
    """A key the migrations made for this installation (see versions/0002)."""
    row = session.get(SiteSecret, name)
    if row is None:
        raise LookupError(f"site secret {name!r} is missing: run `mailtickets db upgrade`")
    return row.value


def suppressed(session: Session, emails: Iterable[str]) -> set[str]:
    wanted = list(emails)
    if not wanted:
        return set()
    if len(wanted) > _FEW:
        return set(_read(session, _SUPPRESSED, {"emails": wanted}).scalars())
    values = {f"e{i}": e for i, e in enumerate(wanted)}
    return set(_read(session, _suppressed_among(len(wanted)), values).scalars())


_FEW = 8  # up to this many addresses, a statement of its own per count, prepared


@cache
def _suppressed_among(count: int) -> Prepared:
    """Which of `count` bound addresses (e0, e1...) are suppressed: a notice has one or two
    recipients, and an IN list that expands at every execution cannot be prepared."""
    wanted: list[Any] = [bindparam(f"e{i}") for i in range(count)]
    return Prepared(select_core(_SUPPRESSION.c.email).where(_SUPPRESSION.c.email.in_(wanted)))


def suppress(session: Session, email: str, reason: str, at: datetime) -> None:
    row = session.get(Suppression, email.lower())
    if row is None:
        session.add(Suppression(email=email.lower(), reason=reason, at=at))


def lift_suppression(session: Session, email: str) -> bool:
    """Allow automatic mail to `email` again; False when it was not suppressed."""
    session.flush()  # a suppression added in this transaction is deleted too
    result = _write(session, _LIFT_SUPPRESSION, [{"email": email.lower()}])
    return bool(changed(result))


def automatic_mail_count(session: Session, recipient: str, since: datetime) -> int:
    """Automatic replies queued to `recipient` since `since` (for the hourly limit); older
    counts of that address are dropped on the way, so the table holds about an hour."""
    params = {"email": recipient, "since": since}
    _write(session, _FORGET_AUTO_MAIL, [params])
    return int(_read(session, _AUTO_MAIL_COUNT, params).scalar_one())


def unmarked_uids(session: Session, mailbox: str, uidvalidity: int) -> list[int]:
    query = select(Inbound.uid).where(
        Inbound.mailbox == mailbox,
        Inbound.uidvalidity == uidvalidity,
        Inbound.server_state == "to_mark",
    )
    return list(session.exec(query.order_by(col(Inbound.uid))))


def mark_server_done(session: Session, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> None:
    session.execute(
        update(Inbound)
        .where(
            col(Inbound.mailbox) == mailbox,
            col(Inbound.uidvalidity) == uidvalidity,
            col(Inbound.uid).in_(list(uids)),
            col(Inbound.server_state) == "to_mark",
        )
        .values(server_state="")
    )
