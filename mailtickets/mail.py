"""Parse raw message bytes into a frozen ParsedMail (pure: no I/O)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import html as htmllib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message as EmailMessage
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

import mailparser
import nh3

# Headers the later stages look at; everything else stays in the raw bytes.
_KEPT_HEADERS = (
    "auto-submitted",
    "precedence",
    "x-loop",
    "return-path",
    "list-id",
    "list-unsubscribe",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "importance",
    "x-priority",
    "priority",
    "content-type",
    "authentication-results",
    "delivered-to",
    "x-original-to",
)


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedMail:
    message_id: str
    subject: str
    from_addr: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str
    html: str
    attachments: tuple[ParsedAttachment, ...] = ()
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    defects: tuple[str, ...] = ()

    def header(self, name: str) -> str:
        """First value of a kept header, '' when absent."""
        values = self.headers.get(name.lower(), ())
        return values[0] if values else ""

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this mail answers, nearest first."""
        return self.in_reply_to + tuple(reversed(self.references))


def dedup_key(raw: bytes, message_id: str) -> str:
    """The key that makes a mail unique: its Message-ID, else a hash of its content."""
    if message_id:
        return "mid:" + message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def header_message_id(raw: bytes) -> str:
    """Message-ID of `raw` read cheaply from the header block, normalised; '' if none."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    match = re.search(rb"^message-id:[ \t]*((?:.|\r?\n[ \t])*)", head, re.I | re.M)
    if not match:
        return ""
    ids = _message_ids(match.group(1).decode("ascii", "replace"))
    return ids[0] if ids else ""


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse `raw` as mail-parser sees it; never raises on malformed MIME or charsets."""
    parsed = mailparser.parse_from_bytes(raw)
    msg: EmailMessage = parsed.message
    from_name, from_addr = parseaddr(_decoded(msg.get("From", "")))
    plain = "\n".join(parsed.text_plain).strip()
    raw_html = "\n".join(parsed.text_html).strip()
    safe_html = nh3.clean(raw_html) if raw_html else ""
    return ParsedMail(
        message_id=header_message_id(raw),
        subject=_one_line(_decoded(msg.get("Subject", ""))),
        from_addr=from_addr.lower().strip(),
        from_name=_one_line(from_name),
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        date=_date(msg.get("Date")),
        in_reply_to=_message_ids(str(msg.get("In-Reply-To", ""))),
        references=_message_ids(str(msg.get("References", ""))),
        text=plain or html_to_text(safe_html),
        html=safe_html,
        attachments=tuple(_attachment(a) for a in parsed.attachments),
        headers=_kept_headers(msg),
        defects=tuple(str(d) for d in parsed.defects_categories),
    )


def html_to_text(html: str) -> str:
    """Readable plain text from HTML, for mail that has no text/plain part."""
    marked = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>|</h\d>", "\n", html)
    stripped = nh3.clean(marked, tags=set())
    text = htmllib.unescape(stripped)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def safe_filename(name: str) -> str:
    """A file name with no path, no control characters and a sane length."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip(" .")
    return cleaned[:200] or "attachment"


def _decoded(value: Any) -> str:
    try:
        return str(make_header(decode_header(str(value))))
    except (UnicodeError, LookupError, binascii.Error, ValueError):
        return str(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _addresses(msg: EmailMessage, name: str) -> tuple[str, ...]:
    values = [_decoded(v) for v in msg.get_all(name, [])]
    found = [addr.lower().strip() for _, addr in getaddresses(values) if "@" in addr]
    return tuple(dict.fromkeys(found))


def _message_ids(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(re.findall(r"<[^<>\s]+>", value)))


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _kept_headers(msg: EmailMessage) -> dict[str, tuple[str, ...]]:
    kept: dict[str, tuple[str, ...]] = {}
    for name in _KEPT_HEADERS:
        values = msg.get_all(name)
        if values:
            kept[name] = tuple(_one_line(_decoded(v)) for v in values)
    return kept


def _attachment(item: dict[str, Any]) -> ParsedAttachment:
    payload = item.get("payload") or ""
    if item.get("binary"):
        try:
            data = base64.b64decode(payload)
        except (binascii.Error, ValueError):
            data = str(payload).encode("utf-8", "replace")
    else:
        data = _encode(str(payload), str(item.get("charset") or "utf-8"))
    return ParsedAttachment(
        filename=safe_filename(_decoded(item.get("filename") or "")),
        content_type=str(item.get("mail_content_type") or "application/octet-stream"),
        data=data,
    )


def _encode(text: str, charset: str) -> bytes:
    try:
        return text.encode(charset, "replace")
    except LookupError:  # a lying or unknown charset name
        return text.encode("utf-8", "replace")
