"""`mailtickets contacts import|add|list|remove`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from mailtickets.contacts import (
    ContactRow,
    ImportReport,
    list_contacts,
    read_csv,
    read_domains,
    remove_contact,
    upsert,
    valid_domain,
    valid_email,
)
from mailtickets.daemon import utc_now
from mailtickets.db import transaction
from mailtickets.errors import ConfigError


def contacts_parser(sub: Any) -> None:
    contacts = sub.add_parser("contacts", help="customers' contacts")
    verbs = contacts.add_subparsers(dest="verb", required=True, metavar="VERB")
    imp = verbs.add_parser("import", help="import CSV: customer,email,name,notify,plan,domains")
    imp.add_argument("file", type=Path)
    add = verbs.add_parser("add", help="add or update one contact")
    add.add_argument("email")
    add.add_argument("--customer", required=True)
    add.add_argument("--name", default="")
    add.add_argument("--no-notify", action="store_true", help="not an authorised contact")
    add.add_argument("--plan", help="the customer's plan (help-centre articles follow it)")
    add.add_argument(
        "--domain",
        action="append",
        dest="domains",
        metavar="DOMAIN",
        help="one of the customer's domains (repeat for more; replaces the stored ones)",
    )
    lst = verbs.add_parser("list", help="list contacts")
    lst.add_argument("--customer")
    lst.add_argument("--json", action="store_true")
    rm = verbs.add_parser("remove", help="remove one contact")
    rm.add_argument("email")


def run_contacts(engine: Engine, args: argparse.Namespace) -> int:
    """Dispatch one contacts verb; exit code per SPEC §2."""
    if args.verb == "import":
        return _import(engine, args.file)
    if args.verb == "add":
        return _add(engine, args)
    if args.verb == "list":
        return _list(engine, args.customer, args.json)
    with transaction(engine) as session:
        removed = remove_contact(session, args.email)
    if not removed:
        print(f"mailtickets: no contact {args.email}", file=sys.stderr)
        return 1
    print(f"removed {args.email.lower()}")
    return 0


def _add(engine: Engine, args: argparse.Namespace) -> int:
    email = valid_email(args.email)
    if email is None:
        raise ConfigError(f"contacts add: {args.email!r} is not an email address")
    domains = None if args.domains is None else tuple(map(_domain, args.domains))
    plan = None if args.plan is None else " ".join(args.plan.split())
    row = ContactRow(0, args.customer, email, args.name, not args.no_notify, plan, domains)
    report = ImportReport()
    with transaction(engine) as session:
        upsert(session, row, report, utc_now())
    print(_summary(report))
    return 0


def _domain(text: str) -> str:
    name = valid_domain(text)
    if name is None:
        raise ConfigError(f"contacts add: --domain {text!r} is not a domain name like midominio.es")
    return name


def _import(engine: Engine, path: Path) -> int:
    rows, problems = read_csv(path)
    for problem in problems:
        print(f"{path}:{problem.line}: skipped: {problem.problem}", file=sys.stderr)
    report = ImportReport()
    now = utc_now()
    with transaction(engine) as session:
        for row in rows:
            upsert(session, row, report, now)
    print(f"{_summary(report)}, {len(problems)} skipped")
    if not report.added and not report.updated and rows:
        print("nothing changed: every contact was already as in the file")
    return 0


def _summary(report: ImportReport) -> str:
    return f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged"


def _list(engine: Engine, customer: str | None, as_json: bool) -> int:
    with transaction(engine) as session:
        found = [
            {
                "customer": owner.name,
                "email": c.email,
                "name": c.name,
                "notify": c.notify,
                "plan": owner.plan,
                "domains": list(read_domains(owner.domains)),
            }
            for c, owner in list_contacts(session, customer)
        ]
    if as_json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        for item in found:
            flag = "notify" if item["notify"] else "-"
            print(f"{item['customer']:<30} {item['email']:<36} {flag:<6} {item['name']}")
    return 0
