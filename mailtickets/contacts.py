"""Customers' contacts: read a CSV (UTF-8 or Excel's), and add, list or remove them; and
a customer's plan and domains, which the CSV may carry."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
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
    "plan": "plan",
    "servicio": "plan",
    "tipo de servicio": "plan",
    "domains": "domains",
    "domain": "domains",
    "dominios": "domains",
    "dominio": "domains",
}
YES = {"", "1", "yes", "y", "true", "si", "sí", "s", "x"}
NO = {"0", "no", "n", "false"}
# A domains cell: "a.es b.es", "a.es, b.es" or "a.es; b.es" (quoted in a ;-separated file).
_DOMAIN_SEPARATORS = re.compile(r"[\s,;]+")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True)
class ContactRow:
    line: int
    customer: str
    email: str
    name: str
    notify: bool
    # The customer's, when the row gives them; None leaves what is stored as it is.
    plan: str | None = None
    domains: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CustomerProfile:
    """What the help centre and the checks know of a customer."""

    plan: str = ""
    domains: tuple[str, ...] = ()


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
    seen = _Seen()
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        result = _row(number, dict(zip(columns, (v.strip() for v in values), strict=False)))
        if isinstance(result, ContactRow):
            result = _agrees(result, seen)
        if isinstance(result, ContactRow):
            rows.append(result)
        else:
            problems.append(result)
    return rows, problems


def _agrees(row: ContactRow, seen: _Seen) -> ContactRow | RowProblem:
    """A customer's plan and domains are one per file: a row that contradicts an earlier
    row of the same customer is refused, not silently applied after it."""
    plan = seen.plans.get(row.customer)
    if row.plan is not None and plan is not None and plan[0] != row.plan:
        return RowProblem(row.line, f"plan {row.plan!r} differs from {plan[0]!r} on line {plan[1]}")
    domains = seen.domains.get(row.customer)
    if row.domains is not None and domains is not None and domains[0] != row.domains:
        return RowProblem(row.line, f"domains differ from those on line {domains[1]}")
    if row.plan is not None:
        seen.plans.setdefault(row.customer, (row.plan, row.line))
    if row.domains is not None:
        seen.domains.setdefault(row.customer, (row.domains, row.line))
    return row


@dataclass
class _Seen:
    """Per customer, the plan and the domains a file gave first, and on which line."""

    plans: dict[str, tuple[str, int]] = field(default_factory=dict)
    domains: dict[str, tuple[tuple[str, ...], int]] = field(default_factory=dict)


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
    domains, bad = parse_domains(fields.get("domains", ""))
    if bad:
        return RowProblem(line, f"domain {bad!r} is not a domain name like midominio.es")
    plan = " ".join(fields.get("plan", "").split())
    return ContactRow(
        line,
        customer,
        email,
        fields.get("name", ""),
        flag in YES,
        plan or None,  # an empty cell: the row says nothing of the plan
        domains or None,
    )


def parse_domains(cell: str) -> tuple[tuple[str, ...], str]:
    """The domain names of a cell, lower-cased, without "www." and in order, and the first
    word that is not one ("" when all are)."""
    found: list[str] = []
    for word in _DOMAIN_SEPARATORS.split(cell.strip()):
        if not word:
            continue
        name = valid_domain(word)
        if name is None:
            return (), word
        if name not in found:
            found.append(name)
    return tuple(found), ""


def valid_domain(text: str) -> str | None:
    """`text` as a stored domain name ("WWW.Mañana.es." -> "mañana.es"); None if it is not
    one (a URL, an address, an IP, a single word)."""
    name = text.strip().rstrip(".").lower().removeprefix("www.")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = ascii_name.split(".")
    if len(labels) < 2 or len(ascii_name) > 253:
        return None
    if not (labels[-1].isalpha() or labels[-1].startswith("xn--")):  # "10.0.0.5" is no name
        return None
    return name if all(_LABEL.fullmatch(label) for label in labels) else None


def valid_email(text: str) -> str | None:
    """The address in a contacts row, lower-cased; None when it is not one."""
    return plain_address(text.strip().strip("<>"))


def upsert(session: Session, row: ContactRow, report: ImportReport, now: datetime) -> None:
    """Add or update one contact (and its customer's plan and domains when the row gives
    them); a row that matches what is stored changes nothing."""
    customer = customer_named(session, row.customer, created_at=now)
    assert customer is not None and customer.id is not None
    profile_changed = _set_profile(session, customer, row)
    contact = store.contact_by_email(session, row.email)
    if contact is None:
        session.add(
            Contact(customer_id=customer.id, email=row.email, name=row.name, notify=row.notify)
        )
        report.added += 1
        return
    wanted = (customer.id, row.name or contact.name, row.notify)
    if (contact.customer_id, contact.name, contact.notify) == wanted:
        if profile_changed:
            report.updated += 1
        else:
            report.unchanged += 1
        return
    contact.customer_id, contact.name, contact.notify = wanted
    session.add(contact)
    report.updated += 1


def _set_profile(session: Session, customer: Customer, row: ContactRow) -> bool:
    """Store the row's plan and domains on `customer`; True when that changed anything."""
    plan = customer.plan if row.plan is None else row.plan
    domains = customer.domains if row.domains is None else domains_json(row.domains)
    if (plan, domains) == (customer.plan, customer.domains):
        return False
    customer.plan, customer.domains = plan, domains
    session.add(customer)
    return True


def domains_json(domains: Iterable[str]) -> str:
    """The Customer.domains column's form of `domains`."""
    return json.dumps(list(domains), ensure_ascii=False)


def read_domains(column: str) -> tuple[str, ...]:
    """Customer.domains read back; a column someone broke by hand reads as none."""
    try:
        value = json.loads(column or "[]")
    except ValueError:
        return ()
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def customer_profile(session: Session, customer_id: int) -> CustomerProfile:
    """The plan and domains of customer `customer_id` (empty when it has none)."""
    query = select(Customer.plan, Customer.domains).where(Customer.id == customer_id)
    row = session.exec(query).first()
    if row is None:
        return CustomerProfile()
    return CustomerProfile(row[0] or "", read_domains(row[1]))


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


def list_contacts(session: Session, customer: str | None) -> list[tuple[Contact, Customer]]:
    """Contacts with their customer, by customer name then address; one customer's if given."""
    query = select(Contact, Customer).join(Customer, col(Customer.id) == Contact.customer_id)
    if customer:
        query = query.where(Customer.name == customer)
    return [(c, n) for c, n in session.exec(query.order_by(col(Customer.name), col(Contact.email)))]


def remove_contact(session: Session, email: str) -> bool:
    contact = store.contact_by_email(session, email)
    if contact is None:
        return False
    session.delete(contact)
    return True
