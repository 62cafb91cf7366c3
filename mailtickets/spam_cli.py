"""`mailtickets spam list|release`: mail the site's spam filter marked, held for ops (SPEC §8).

Its queries live here too (the spam hold's own store): the held rows, their sender and
subject read from the first bytes of each mail, and the release.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailtickets.db import changed, transaction
from mailtickets.mail import parse_mail
from mailtickets.models import Inbound, InboundBody
from mailtickets.spam import HEAD_BYTES, head

HELD = "spam"  # the inbound state of a held mail (pipeline.Pipeline._hold_as_spam)


def spam_parser(sub: Any) -> None:
    spam = sub.add_parser("spam", help="mail held as spam by the site's spam filter")
    verbs = spam.add_subparsers(dest="verb", required=True, metavar="VERB")
    lst = verbs.add_parser("list", help="held mail: id, date, sender, subject, verdict")
    lst.add_argument("--json", action="store_true")
    release = verbs.add_parser("release", help="process one held mail as ordinary mail")
    release.add_argument("id", type=int)


def run_spam(engine: Engine, args: argparse.Namespace) -> int:
    """List the mail held as spam, or release one for the next cycle to process."""
    if args.verb == "release":
        return _release(engine, args.id)
    with transaction(engine) as session:
        rows = [held.as_json() for held in held_mail(session)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        print(f"{r['id']:>6}  {r['date']}  {r['sender']}  {r['subject'][:70]}  {r['verdict']}")
    print(f"{len(rows)} held as spam", file=sys.stderr)
    return 0


def _release(engine: Engine, inbound_id: int) -> int:
    with transaction(engine) as session:
        released = release(session, inbound_id, datetime.now(UTC))
    if not released:
        print(
            f"mailtickets: no mail with id {inbound_id} is held as spam; see "
            "`mailtickets spam list`",
            file=sys.stderr,
        )
        return 1
    print(f"inbound {inbound_id} released: the next `run` cycle processes it as ordinary mail")
    return 0


# --- the spam hold's queries ---------------------------------------------------------------


@dataclass(frozen=True)
class HeldMail:
    id: int
    message_id: str
    mailbox: str
    date: datetime  # when it reached the mailbox (INTERNALDATE), else when it was fetched
    sender: str
    subject: str
    verdict: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "date": self.date.isoformat(timespec="seconds"),
            "sender": self.sender,
            "subject": self.subject,
            "verdict": self.verdict,
            "message_id": self.message_id,
            "mailbox": self.mailbox,
        }


def held_mail(session: Session) -> list[HeldMail]:
    """Every mail held as spam, oldest first; sender and subject from its header block
    (only its first bytes are read: a held mail may be 25 MB)."""
    first_bytes = func.substr(col(InboundBody.raw), 1, HEAD_BYTES)
    query = (
        select(Inbound, first_bytes)
        .join(InboundBody, col(InboundBody.inbound_id) == col(Inbound.id))
        .where(Inbound.state == HELD)
        .order_by(col(Inbound.id))
    )
    found = []
    for row, start in session.exec(query):
        mail = parse_mail(head(bytes(start)) + b"\n\n")
        found.append(
            HeldMail(
                id=row.id or 0,
                message_id=row.message_id,
                mailbox=row.mailbox,
                date=row.internal_date or row.fetched_at,
                sender=mail.from_addr or mail.sender_problem or "(no From)",
                subject=mail.subject,
                verdict=row.outcome.removeprefix(f"{HELD}: "),
            )
        )
    return found


def release(session: Session, inbound_id: int, now: datetime) -> bool:
    """Put a held mail back in the queue, remembered as released so it is never held
    again; False when no mail `inbound_id` is held (the UPDATE decides, as claims do)."""
    result = session.execute(
        update(Inbound)
        .where(col(Inbound.id) == inbound_id, col(Inbound.state) == HELD)
        .values(state="pending", attempts=0, attempted_by=None, spam_released_at=now)
    )
    return changed(result) == 1
