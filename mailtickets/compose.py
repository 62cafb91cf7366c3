"""Build the bytes of an outgoing mail from a rendered notice (pure but for randomness)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mailtickets.mail import ParsedAttachment
from mailtickets.render import Rendered


@dataclass(frozen=True)
class OutgoingMail:
    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    raw: bytes
    subject: str
    text: str


@dataclass(frozen=True)
class Envelope:
    """Who it is from and to, and what it answers."""

    from_address: str
    from_name: str
    to: Sequence[str]
    code: str
    in_reply_to: str = ""
    references: Sequence[str] = ()
    auto_submitted: str = ""  # "" for mail a person wrote, else auto-replied / auto-generated
    shown_to: Sequence[str] = ()  # the To header when it is not `to` (a participant's copy)


def new_message_id(code: str, from_address: str) -> str:
    """A Message-ID that names the ticket, so replies thread even with an edited subject."""
    domain = from_address.rpartition("@")[2] or "localhost"
    return f"<{code or 'mt'}.{secrets.token_hex(8)}@{domain}>"


def compose(
    rendered: Rendered,
    envelope: Envelope,
    now: datetime,
    attachments: Sequence[ParsedAttachment] = (),
) -> OutgoingMail:
    """An RFC 5322 message with [CODE] in the subject, Reply-To and loop-guard headers."""
    msg = EmailMessage()
    subject = rendered.subject
    if envelope.code and f"[{envelope.code}]" not in subject:
        subject = f"[{envelope.code}] {subject}"
    message_id = new_message_id(envelope.code, envelope.from_address)
    msg["From"] = Address(display_name=envelope.from_name, addr_spec=envelope.from_address)
    msg["To"] = ", ".join(envelope.shown_to or envelope.to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["Reply-To"] = envelope.from_address
    if envelope.in_reply_to:
        msg["In-Reply-To"] = envelope.in_reply_to
    references = [r for r in envelope.references if r]
    if references:
        msg["References"] = " ".join(dict.fromkeys(references))
    if envelope.auto_submitted:
        msg["Auto-Submitted"] = envelope.auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Loop"] = envelope.from_address
    if envelope.code:
        msg["X-Mailtickets-Ticket"] = envelope.code
    msg.set_content(rendered.text)
    if rendered.html:
        msg.add_alternative(rendered.html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        # The content manager wants Message objects for message/* and multipart/* parts (a
        # forwarded DSN, a mail attached to a mail): their bytes travel as a plain file.
        if not (maintype and subtype) or maintype in ("multipart", "message"):
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return OutgoingMail(
        message_id=message_id,
        envelope_from=envelope.from_address,
        recipients=tuple(envelope.to),
        raw=msg.as_bytes(policy=SMTP),
        subject=subject,
        text=rendered.text,
    )
