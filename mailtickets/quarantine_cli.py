"""`mailtickets quarantine list|retry`: mail that kept failing, kept for a human."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sqlalchemy.engine import Engine

from mailtickets import store
from mailtickets.db import transaction


def quarantine_parser(sub: Any) -> None:
    quarantine = sub.add_parser("quarantine", help="mail that could not be processed")
    verbs = quarantine.add_subparsers(dest="verb", required=True, metavar="VERB")
    lst = verbs.add_parser("list", help="quarantined mail with its error")
    lst.add_argument("--json", action="store_true")
    retry = verbs.add_parser("retry", help="process one quarantined mail again")
    retry.add_argument("id", type=int)


def run_quarantine(engine: Engine, args: argparse.Namespace) -> int:
    """List quarantined mail, or put one back in the queue for the next cycle."""
    if args.verb == "retry":
        with transaction(engine) as session:
            row = store.requeue_inbound(session, args.id)
        if row is None:
            print(
                f"mailtickets: no quarantined mail with id {args.id}; see "
                "`mailtickets quarantine list`",
                file=sys.stderr,
            )
            return 1
        print(
            f"inbound {args.id} ({row.message_id or 'no Message-ID'}) queued again; "
            "the next `run` cycle processes it"
        )
        return 0
    with transaction(engine) as session:
        rows = [
            {
                "id": r.id,
                "message_id": r.message_id,
                "mailbox": r.mailbox,
                "uid": r.uid,
                "attempts": r.attempts,
                "error": r.error,
                "quarantined_at": r.quarantined_at.isoformat() if r.quarantined_at else None,
                "on_server": r.server_state or "-",
            }
            for r in store.inbound_rows(session, ["failed"])
        ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        last = str(r["error"]).strip().splitlines()[-1:] or [""]
        print(f"{r['id']:>6}  {r['quarantined_at']}  {r['message_id']}  {last[0][:120]}")
    print(f"{len(rows)} quarantined", file=sys.stderr)
    return 0
