"""Read a bounce: which of our mails failed, for whom (pure). RFC 3464 reports are read here;
the other formats MTAs still send (qmail, Exim, Yahoo, old Exchange…) by flufl.bounce,
GNU Mailman's maintained bounce-format knowledge."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from flufl.bounce import all_failures

from mailtickets import verp
from mailtickets.mail import ParsedMail, message_ids

log = logging.getLogger("mailtickets.bounces")
# flufl.bounce logs one INFO line per detector for every mail it reads: keep its warnings.
logging.getLogger("flufl.bounce").setLevel(logging.WARNING)

# Every format states its failures before the returned mail; reading no further than this
# keeps a bounce that returns a large attachment from costing seconds of regex scanning.
FORMAT_SCAN_BYTES = 256 * 1024


@dataclass(frozen=True)
class FailedRecipient:
    address: str
    status: str  # e.g. 5.1.1; "" when the report gives no code (formats other than RFC 3464)
    action: str  # failed | delayed | …

    @property
    def hard(self) -> bool:
        # "failed" means the MTA gave up (RFC 3464 §2.3.3); a 4.x status says it gave up on
        # a temporary error, so only 5.x, or no status at all, is a permanent failure.
        return self.action == "failed" and self.status[:1] in ("5", "")


@dataclass(frozen=True)
class Bounce:
    outbox_id: int | None  # from the VERP envelope address the bounce was sent to
    verp_token: str  # must match the outbox row's, or the VERP id is not believed
    original_message_id: str  # from the returned headers
    recipients: tuple[FailedRecipient, ...]

    def summary(self) -> str:
        parts = [f"{r.address} {r.action} {r.status}".strip() for r in self.recipients]
        return "; ".join(parts) or "delivery failed"


def read_bounce(raw: bytes, mail: ParsedMail) -> Bounce:
    """What a bounce says; fields it lacks stay empty rather than raising."""
    msg = message_from_bytes(raw, policy=compat32)
    verp = _verp(mail)
    # flufl.bounce finds addresses only: a delivery-status report's own fields say more.
    recipients = _failed_recipients(msg) or format_failures(_head_of(raw))
    return Bounce(
        outbox_id=verp[0] if verp else None,
        verp_token=verp[1] if verp else "",
        original_message_id=_original_message_id(msg),
        recipients=tuple(recipients),
    )


def format_failures(msg: Message) -> tuple[FailedRecipient, ...]:
    """The recipients flufl.bounce finds in `msg`: the permanent failures it reports as
    'failed', the temporary ones (delay warnings) as 'delayed'."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception as exc:  # a third-party heuristic on hostile mail must not fail the mail
        log.warning("bounce formats unreadable: %s: %s", type(exc).__name__, exc)
        return ()
    failed = [FailedRecipient(a, "", "failed") for a in _addresses(permanent)]
    delayed = [FailedRecipient(a, "", "delayed") for a in _addresses(temporary - permanent)]
    return (*failed, *delayed)


def permanent_failures_in_text(mail: ParsedMail) -> tuple[str, ...]:
    """The addresses flufl.bounce reads as permanently failed in `mail`'s sender, subject
    and text (triage sees the parsed mail, not its MIME parts: formats that live in the
    text — qmail, Yahoo, old Exchange, the simple ones — are found; Exim's header and the
    MIME-only formats are read from the raw mail by `read_bounce`)."""
    stand_in = Message()
    stand_in["From"] = mail.from_addr
    stand_in["Subject"] = mail.subject
    stand_in.set_payload(mail.text[:FORMAT_SCAN_BYTES])
    return tuple(r.address for r in format_failures(stand_in) if r.hard)


def _head_of(raw: bytes) -> Message:
    """`raw` up to FORMAT_SCAN_BYTES, cut at a line end, parsed (a cut MIME part is fine)."""
    cut = raw if len(raw) <= FORMAT_SCAN_BYTES else raw[: raw.rfind(b"\n", 0, FORMAT_SCAN_BYTES)]
    return message_from_bytes(cut, policy=compat32)


def _addresses(found: frozenset[bytes]) -> list[str]:
    decoded = (a.decode("ascii", "replace").strip().strip("<>").lower() for a in found)
    return sorted(a for a in decoded if "@" in a)


def _verp(mail: ParsedMail) -> tuple[int, str] | None:
    candidates = (
        *mail.to,
        *mail.headers.get("delivered-to", ()),
        *mail.headers.get("x-original-to", ()),
    )
    return next((found for a in candidates if (found := verp.parse(a))), None)


def _original_message_id(msg: Message) -> str:
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
            found = HeaderParser().parsestr(text).get("Message-ID", "")
        elif kind == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            found = first.get("Message-ID", "") if isinstance(first, Message) else ""
        else:
            continue
        ids = message_ids(str(found))
        if ids:
            return str(ids[0])
    return ""


def _failed_recipients(msg: Message) -> list[FailedRecipient]:
    found = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, Message):
                continue
            recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
            if not recipient:
                continue
            address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
            status = str(block.get("Status", "")).strip().split(" ")[0]
            action = str(block.get("Action", "")).strip().lower()
            found.append(FailedRecipient(address, status, action))
    return found
