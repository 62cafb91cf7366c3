"""Read a delivery status notification (RFC 3464): which of our mails failed, for whom (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from mailtickets import verp
from mailtickets.mail import ParsedMail


@dataclass(frozen=True)
class FailedRecipient:
    address: str
    status: str  # e.g. 5.1.1
    action: str  # failed | delayed | …

    @property
    def hard(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


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
    return Bounce(
        outbox_id=verp[0] if verp else None,
        verp_token=verp[1] if verp else "",
        original_message_id=_original_message_id(msg),
        recipients=tuple(_failed_recipients(msg)),
    )


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
        ids = re.findall(r"<[^<>\s]+>", str(found))
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
