"""Tell mail written by machines from mail written by people (pure, RFC 3834 rules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailtickets.mail import ParsedMail

MACHINE_SENDERS = ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply")


@dataclass(frozen=True)
class Triage:
    """automatic: never answer it; reasons say which rules matched."""

    automatic: bool
    bounce: bool
    reasons: tuple[str, ...]


def triage(mail: ParsedMail, our_addresses: frozenset[str]) -> Triage:
    """Run every rule over `mail` and collect the reasons it must not be answered."""
    reasons = tuple(r for rule in _RULES if (r := rule(mail, our_addresses)))
    bounce = any(r.startswith(("bounce", "null sender")) for r in reasons)
    return Triage(automatic=bool(reasons), bounce=bounce, reasons=reasons)


Rule = Callable[[ParsedMail, frozenset[str]], str | None]


def auto_submitted(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    value = mail.header("auto-submitted").split(";")[0].strip().lower()
    return f"Auto-Submitted: {value}" if value and value != "no" else None


def bulk_precedence(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    value = mail.header("precedence").strip().lower()
    return f"Precedence: {value}" if value in ("bulk", "junk", "list") else None


def mailing_list(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    return "list mail (List-Id)" if mail.header("list-id") else None


def autoreply_headers(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    for name in ("x-autoreply", "x-autorespond"):
        if mail.header(name):
            return f"{name} header"
    suppress = mail.header("x-auto-response-suppress").lower()
    if any(word in suppress for word in ("all", "oof", "autoreply")):
        return f"X-Auto-Response-Suppress: {suppress}"
    return None


def null_sender(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    return_path = mail.header("return-path").strip()
    # A mail with no usable From is not a bounce for that alone: decide holds it as an
    # unidentified sender instead.
    if return_path == "<>":
        return "null sender"
    return None


def machine_sender(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    local = mail.from_addr.split("@")[0]
    if local in MACHINE_SENDERS:
        return f"bounce or robot sender {mail.from_addr}"
    return None


def delivery_report(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    content_type = mail.header("content-type").lower()
    if "multipart/report" in content_type:
        return "bounce (delivery status report)"
    return None


def our_own_mail(mail: ParsedMail, ours: frozenset[str]) -> str | None:
    if any(v.strip().lower() in ours for v in mail.headers.get("x-loop", ())):
        return "X-Loop: our own mail came back"
    if mail.from_addr in ours:
        return f"sent from our own address {mail.from_addr}"
    return None


_RULES: tuple[Rule, ...] = (
    auto_submitted,
    bulk_precedence,
    mailing_list,
    autoreply_headers,
    null_sender,
    machine_sender,
    delivery_report,
    our_own_mail,
)
