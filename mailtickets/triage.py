"""Tell mail written by machines from mail written by people (named rules; RFC 3834).

Each rule is a `TriageRule`: a name, a description, the flags a match sets (`automatic`:
never answer it; `bounce`: read it as a delivery report of our mail) and a `check` that
returns the reason it matched, or None. `triage()` runs every rule and takes the verdict's
flags from the rules that matched, never from the wording of their reasons.

A site adds its own rules without editing this package: a small distribution of its own
declares an entry point in the `mailtickets.triage` group naming a `TriageRule`, or a
tuple of them, e.g. in its pyproject.toml

    [project.entry-points."mailtickets.triage"]
    alarms = "acme_rules:MONITORING_ALARMS"

where `acme_rules.MONITORING_ALARMS = TriageRule("acme-alarms", "…", check)`. Once it is
installed in the daemon's environment, the next start loads it (once, the first time mail
is triaged) and runs it after the built-in rules. A plugin that cannot be loaded, is not a
TriageRule, reuses a rule's name, or raises while checking a mail is logged in one line
and skipped: a broken plugin never stops the daemon.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib.metadata import entry_points

from mailtickets.bounces import permanent_failures_in_text
from mailtickets.mail import ParsedMail

log = logging.getLogger("mailtickets.triage")

ENTRY_POINT_GROUP = "mailtickets.triage"
BOUNCE_SENDERS = ("mailer-daemon", "postmaster")
# A customer's monitoring system or web form: never answered, but its mail is no bounce.
ROBOT_SENDERS = ("noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply")

Check = Callable[[ParsedMail, frozenset[str]], str | None]


@dataclass(frozen=True)
class TriageRule:
    """check(mail, our_addresses) -> the reason this rule matched, or None."""

    name: str
    description: str
    check: Check
    automatic: bool = True  # a match means: never answer it automatically
    bounce: bool = False  # a match means: a delivery report of our mail

    def __post_init__(self) -> None:
        if self.bounce and not self.automatic:
            raise ValueError(f"triage rule {self.name}: a bounce is always automatic mail")


@dataclass(frozen=True)
class Triage:
    """automatic: never answer it; reasons say which rules matched (rules: their names)."""

    automatic: bool
    bounce: bool
    reasons: tuple[str, ...]
    rules: tuple[str, ...] = ()


def triage(
    mail: ParsedMail, our_addresses: frozenset[str], rules: Sequence[TriageRule] | None = None
) -> Triage:
    """Run every rule (the built-ins, then the site's) over `mail`; flags from the matches."""
    matched = [
        (rule, reason)
        for rule in (all_rules() if rules is None else rules)
        if (reason := rule.check(mail, our_addresses))
    ]
    return Triage(
        automatic=any(rule.automatic for rule, _ in matched),
        bounce=any(rule.bounce for rule, _ in matched),
        reasons=tuple(reason for _, reason in matched),
        rules=tuple(rule.name for rule, _ in matched),
    )


@cache
def all_rules() -> tuple[TriageRule, ...]:
    """The built-in rules, then the site's from the entry points (loaded once)."""
    return BUILTIN_RULES + site_rules()


def site_rules(group: str = ENTRY_POINT_GROUP) -> tuple[TriageRule, ...]:
    """Every usable rule the installed distributions declare in `group`."""
    names = {rule.name for rule in BUILTIN_RULES}
    found: list[TriageRule] = []
    for entry in entry_points(group=group):
        try:
            loaded = _as_rules(entry.load(), names)
        except Exception as exc:  # a site's plugin: whatever is wrong with it, skip it
            log.error("triage plugin %s = %s skipped: %s", entry.name, entry.value, _line(exc))
            continue
        names.update(rule.name for rule in loaded)
        found.extend(replace(rule, check=_Guarded(rule)) for rule in loaded)
    return tuple(found)


def _as_rules(loaded: object, taken: set[str]) -> tuple[TriageRule, ...]:
    rules = loaded if isinstance(loaded, tuple | list) else (loaded,)
    for rule in rules:
        if not isinstance(rule, TriageRule) or not callable(rule.check):
            raise TypeError(f"{rule!r} is not a TriageRule")
    names = [rule.name for rule in rules]
    clash = sorted({n for n in names if n in taken or names.count(n) > 1})
    if clash:
        raise ValueError(f"rule name already used: {', '.join(clash)}")
    return tuple(rules)


@dataclass(frozen=True)
class _Guarded:
    """A site rule's check that logs and matches nothing when it raises."""

    rule: TriageRule

    def __call__(self, mail: ParsedMail, ours: frozenset[str]) -> str | None:
        try:
            reason = self.rule.check(mail, ours)
        except Exception as exc:  # the site's code must not make every mail fail
            log.error(
                "triage rule %s failed on %s: %s", self.rule.name, mail.message_id, _line(exc)
            )
            return None
        return str(reason) if reason else None


def _line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


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


def _null_sender(mail: ParsedMail) -> bool:
    return mail.header("return-path").strip() == "<>"


def null_sender(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    # Machine mail, but no bounce for that alone: vacation replies (RFC 3834; Sieve's
    # vacation), read receipts and delay warnings are sent from <> too. A mail with no
    # usable From is no bounce either: decide holds it as an unidentified sender instead.
    return "null sender (Return-Path <>)" if _null_sender(mail) else None


def bounce_format(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    # Only a bounce's own null sender makes its text a report (RFC 5321 §4.5.5): a customer
    # who pastes a qmail or Exim bounce into a mail is asking for help, not bouncing.
    if not _null_sender(mail):
        return None
    failed = permanent_failures_in_text(mail)
    return f"bounce in a known format (flufl.bounce): {', '.join(failed)}" if failed else None


def _local_part(mail: ParsedMail) -> str:
    return mail.from_addr.rpartition("@")[0].split("+")[0]


def bounce_sender(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    local = _local_part(mail)
    return f"bounce sender {mail.from_addr}" if local in BOUNCE_SENDERS else None


def robot_sender(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    local = _local_part(mail)
    return f"robot sender {mail.from_addr}" if local in ROBOT_SENDERS else None


_REPORT_TYPE = re.compile(r"""report-type\s*=\s*"?([\w.-]+)""", re.IGNORECASE)


def _report_type(mail: ParsedMail) -> str | None:
    """None unless multipart/report; then its report-type ('' when it names none)."""
    content_type = mail.header("content-type")
    if "multipart/report" not in content_type.lower():
        return None
    found = _REPORT_TYPE.search(content_type)
    return found.group(1).lower() if found else ""


def delivery_report(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    kind = _report_type(mail)
    return "delivery status report (multipart/report)" if kind in ("delivery-status", "") else None


def other_report(mail: ParsedMail, _ours: frozenset[str]) -> str | None:
    kind = _report_type(mail)
    return f"machine report ({kind})" if kind not in (None, "delivery-status", "") else None


def our_own_mail(mail: ParsedMail, ours: frozenset[str]) -> str | None:
    if any(v.strip().lower() in ours for v in mail.headers.get("x-loop", ())):
        return "X-Loop: our own mail came back"
    if mail.from_addr in ours:
        return f"sent from our own address {mail.from_addr}"
    return None


BUILTIN_RULES: tuple[TriageRule, ...] = (
    TriageRule("auto-submitted", "Auto-Submitted other than 'no' (RFC 3834)", auto_submitted),
    TriageRule("bulk-precedence", "Precedence: bulk, junk or list", bulk_precedence),
    TriageRule("mailing-list", "a List-Id header: mail from a list", mailing_list),
    TriageRule(
        "autoreply-headers",
        "X-Autoreply, X-Autorespond, or Exchange's X-Auto-Response-Suppress",
        autoreply_headers,
    ),
    TriageRule(
        "null-sender", "Return-Path <>: machine mail (a bounce only by another rule)", null_sender
    ),
    TriageRule("bounce-sender", "from mailer-daemon@ or postmaster@", bounce_sender, bounce=True),
    TriageRule("robot-sender", "from noreply@, no-reply@, donotreply@…", robot_sender),
    TriageRule(
        "delivery-report",
        "multipart/report with a delivery status (RFC 3464)",
        delivery_report,
        bounce=True,
    ),
    TriageRule(
        "bounce-format",
        "null sender and a bounce text flufl.bounce knows (qmail, Yahoo, old Exchange…)",
        bounce_format,
        bounce=True,
    ),
    TriageRule(
        "other-report", "multipart/report of another kind (read receipt, abuse)", other_report
    ),
    TriageRule("our-own-mail", "X-Loop naming us, or From one of our addresses", our_own_mail),
)
