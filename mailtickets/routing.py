"""Choose a department and a priority for a new ticket, with the reason (pure)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from mailtickets.mail import ParsedMail
from mailtickets.settings import Department

SUBJECT_WEIGHT = 2
BODY_WEIGHT = 1
PRIORITIES = ("low", "normal", "high", "urgent")
_URGENT_TAGS = ("urgente", "urgent")


@dataclass(frozen=True)
class Route:
    department: str
    priority: str
    reasons: tuple[str, ...]


def fold(text: str) -> str:
    """Lower case without accents: 'Facturación' -> 'facturacion'."""
    if text.isascii():
        return text.lower()  # the same as casefold for ASCII, and no accents to drop
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    if _ASTRAL.search(decomposed):  # rare: the table covers the BMP only
        return "".join(c for c in decomposed if not unicodedata.combining(c))
    return decomposed.translate(_combining_marks())


# A character beyond the BMP, found in C: a Python test of every character of a long body
# cost more than the rest of routing.
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@cache
def _combining_marks() -> dict[int, None]:
    # A translate table drops the marks in C; the generator above costs a Python step for
    # every character of a long body.
    return {c: None for c in range(0x10000) if unicodedata.combining(chr(c))}


def route(mail: ParsedMail, departments: Iterable[Department], mailbox: str = "") -> Route:
    """Department by recipient address, then the department of the mailbox it arrived in
    (`mailbox`: "mailbox-name:Department", or ""), then keywords, then the default; and a
    priority. A mailbox's own mail was sent to its address even when the headers hide it
    (Bcc, an alias), so it weighs like an address, above a keyword."""
    depts = tuple(departments)
    department, why = (
        _by_address(mail, depts)
        or _by_mailbox(mailbox, depts)
        or _by_keywords(mail, depts)
        or _by_default(depts)
    )
    priority, priority_why = priority_of(mail)
    return Route(department, priority, (why, priority_why))


def _by_address(mail: ParsedMail, depts: tuple[Department, ...]) -> tuple[str, str] | None:
    delivered = tuple(v.lower() for v in mail.headers.get("delivered-to", ()))
    for address in (*mail.to, *mail.cc, *delivered):
        for dept in depts:
            if address in dept.addresses:
                return dept.name, f"address {address} → {dept.name}"
    return None


def _by_mailbox(mailbox: str, depts: tuple[Department, ...]) -> tuple[str, str] | None:
    name, _, department = mailbox.partition(":")
    if any(d.name == department for d in depts):
        return department, f"mailbox {name} → {department}"
    return None


def _by_keywords(mail: ParsedMail, depts: tuple[Department, ...]) -> tuple[str, str] | None:
    subject, body = fold(mail.subject), fold(mail.text)
    best: tuple[int, str, str] | None = None
    for dept in depts:
        for keyword in dept.keywords:
            score, where = _keyword_score(keyword, subject, body)
            if score and (best is None or score > best[0]):
                best = (score, dept.name, f"keyword '{keyword}' in {where} → {dept.name}")
    return (best[1], best[2]) if best else None


@cache
def _keyword_pattern(keyword: str) -> tuple[str, re.Pattern[str]]:
    # Folded and compiled once per keyword of the configuration, not once per mail.
    folded = fold(keyword)
    return folded, re.compile(rf"(?<!\w){re.escape(folded)}(?!\w)")


def _keyword_score(keyword: str, subject: str, body: str) -> tuple[int, str]:
    folded, pattern = _keyword_pattern(keyword)
    # Most keywords are in no part of a mail: a substring search (in C, no look-behind at
    # every position) rules them out before the word-bounded count.
    in_subject = len(pattern.findall(subject)) * SUBJECT_WEIGHT if folded in subject else 0
    in_body = len(pattern.findall(body)) * BODY_WEIGHT if folded in body else 0
    return in_subject + in_body, "subject" if in_subject else "body"


def _by_default(depts: tuple[Department, ...]) -> tuple[str, str]:
    dept = next(d for d in depts if d.default)
    return dept.name, f"no address or keyword matched → default {dept.name}"


def priority_of(mail: ParsedMail) -> tuple[str, str]:
    """Priority from a subject tag, else Importance/X-Priority headers, else normal."""
    subject = fold(mail.subject)
    for tag in _URGENT_TAGS:
        if f"[{tag}]" in subject:
            return "urgent", f"subject tag [{tag}] → urgent"
    importance = (mail.header("importance") or mail.header("priority")).strip().lower()
    x_priority = mail.header("x-priority").strip()[:1]
    if importance in ("high", "urgent") or x_priority in ("1", "2"):
        return "high", "importance headers → high"
    if importance in ("low", "non-urgent") or x_priority in ("4", "5"):
        return "low", "importance headers → low"
    return "normal", "no priority given → normal"
