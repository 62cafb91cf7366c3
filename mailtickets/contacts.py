"""Customers' contacts: read a CSV (UTF-8 or Excel's), and add, list or remove them."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from mailtickets import store
from mailtickets.addresses import plain_address
from mailtickets.errors import ConfigError
from mailtickets.models import Contact, Customer

COLUMNS = {
    "customer": "customer",
    "cliente": "customer",
    "email": "email",
    "correo": "email",
    "e-mail": "email",
    "name": "name",
    "nombre": "name",
    "notify": "notify",
    "notificar": "notify",
    "avisar": "notify",
}
YES = {"", "1", "yes", "y", "true", "si", "sí", "s", "x"}
NO = {"0", "no", "n", "false"}


@dataclass(frozen=True)
class ContactRow:
    line: int
    customer: str
    email: str
    name: str
    notify: bool


@dataclass(frozen=True)
class RowProblem:
    line: int
    problem: str


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def read_csv(path: Path) -> tuple[list[ContactRow], list[RowProblem]]:
    """Rows and per-line problems; ConfigError when the file itself is unusable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_csv(_decode(raw), str(path))


def _decode(raw: bytes) -> str:
    # Excel writes UTF-8 with a BOM ("CSV UTF-8") or the Windows code page ("CSV").
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def parse_csv(text: str, where: str) -> tuple[list[ContactRow], list[RowProblem]]:
    """Parse CSV text with a header row; Spanish Excel uses ';' and that is detected."""
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    columns = [COLUMNS.get(h.strip().lower(), "") for h in header or []]
    missing = {"customer", "email"} - set(columns)
    if missing:
        raise ConfigError(
            f"{where}: line 1: the header needs columns customer,email[,name,notify] "
            f"(missing: {', '.join(sorted(missing))})"
        )
    rows: list[ContactRow] = []
    problems: list[RowProblem] = []
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        result = _row(number, dict(zip(columns, (v.strip() for v in values), strict=False)))
        if isinstance(result, ContactRow):
            rows.append(result)
        else:
            problems.append(result)
    return rows, problems


def _row(line: int, fields: dict[str, str]) -> ContactRow | RowProblem:
    email = valid_email(fields.get("email", ""))
    if email is None:
        return RowProblem(line, f"{fields.get('email', '')!r} is not an email address")
    customer = fields.get("customer", "")
    if not customer:
        return RowProblem(line, "the customer column is empty")
    flag = fields.get("notify", "").lower()
    if flag not in YES | NO:
        return RowProblem(line, f"notify {flag!r} should be yes/no (sí/no, 1/0)")
    return ContactRow(line, customer, email, fields.get("name", ""), flag in YES)


def valid_email(text: str) -> str | None:
    """The address in a contacts row, lower-cased; None when it is not one."""
    return plain_address(text.strip().strip("<>"))


def upsert(session: Session, row: ContactRow, report: ImportReport, now: datetime) -> None:
    """Add or update one contact; a row that matches what is stored changes nothing."""
    customer = customer_named(session, row.customer, created_at=now)
    assert customer is not None and customer.id is not None
    contact = store.contact_by_email(session, row.email)
    if contact is None:
        session.add(
            Contact(customer_id=customer.id, email=row.email, name=row.name, notify=row.notify)
        )
        report.added += 1
        return
    wanted = (customer.id, row.name or contact.name, row.notify)
    if (contact.customer_id, contact.name, contact.notify) == wanted:
        report.unchanged += 1
        return
    contact.customer_id, contact.name, contact.notify = wanted
    session.add(contact)
    report.updated += 1


def customer_named(
    session: Session, name: str, created_at: datetime | None = None
) -> Customer | None:
    """The customer called `name`; created (at `created_at`) when given and missing."""
    customer = session.exec(select(Customer).where(Customer.name == name)).first()
    if customer is None and created_at is not None:
        customer = Customer(name=name, created_at=created_at)
        session.add(customer)
        session.flush()
    return customer


def list_contacts(session: Session, customer: str | None) -> list[tuple[Contact, str]]:
    query = select(Contact, Customer.name).join(Customer, col(Customer.id) == Contact.customer_id)
    if customer:
        query = query.where(Customer.name == customer)
    return [(c, n) for c, n in session.exec(query.order_by(col(Customer.name), col(Contact.email)))]


def remove_contact(session: Session, email: str) -> bool:
    contact = store.contact_by_email(session, email)
    if contact is None:
        return False
    session.delete(contact)
    return True
