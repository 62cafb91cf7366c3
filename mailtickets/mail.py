"""Parse raw message bytes into a frozen ParsedMail (pure: no I/O)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import html as htmllib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from typing import Any

import mailparser
import nh3

from mailtickets import addresses
from mailtickets.settings import Limits

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
# Bounds on what a header may put into stored rows and outgoing mail: folding a 4 MB
# subject costs minutes per mail, so nothing that long is ever copied.
MAX_SUBJECT = 250
MAX_MESSAGE_ID = 250
MAX_REFERENCES = 20
MAX_KEPT_VALUES = 20
MAX_KEPT_VALUE = 4_096


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Problem:
    """A limit the mail broke, as data: templates word it for the customer, `text` is the
    operator's English for events and logs."""

    kind: (
        str  # message_size | header_size | mime_depth | unreadable | attachment_size | attachments
    )
    size: int = 0  # what the mail had (bytes, levels, count)
    limit: int = 0
    name: str = ""  # the attachment's file name, or the parser's error

    @property
    def text(self) -> str:
        return {
            "message_size": f"the message is {self.size:,} bytes; the limit is {self.limit:,}: "
            "only its headers were read",
            "header_size": f"the message's headers are {self.size:,} bytes; the limit is "
            f"{self.limit:,}: only its main header fields were read",
            "mime_depth": f"MIME parts nested deeper than {self.limit} levels",
            "unreadable": f"the MIME structure could not be read ({self.name}): raw text kept",
            "attachment_size": f"attachment {self.name!r} ({self.size:,} bytes) is over the "
            f"{self.limit:,}-byte limit",
            "attachments": f"attachment {self.name!r} is beyond the limit of {self.limit} "
            "attachments",
        }.get(self.kind, self.kind)


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
    problems: tuple[Problem, ...] = ()  # limits the mail broke: what was not kept, and why
    sender_problem: str = ""  # why From names no single usable mailbox ("" when it does)

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


def parse_mail(raw: bytes, limits: Limits | None = None) -> ParsedMail:
    """Parse `raw` within `limits`; never raises on malformed MIME, charsets or size."""
    limits = limits or Limits()
    if len(raw) > limits.max_message_bytes:
        return _headers_only(raw, Problem("message_size", len(raw), limits.max_message_bytes))
    head_size = len(_head(raw))
    if head_size > limits.max_header_bytes:
        return _headers_only(raw, Problem("header_size", head_size, limits.max_header_bytes))
    too_deep = Problem("mime_depth", limit=limits.max_mime_depth)
    if _rough_depth(raw) > limits.max_mime_depth * 4:
        return _headers_only(raw, too_deep)
    try:
        parsed = mailparser.parse_from_bytes(raw)
    except RecursionError:
        return _headers_only(raw, too_deep)
    except Exception as exc:  # mail-parser's own bugs on broken MIME: keep the raw text
        return _unparsed(raw, exc)
    msg: EmailMessage = parsed.message
    problems: list[Problem] = []
    if _depth(msg) > limits.max_mime_depth:
        problems.append(too_deep)
    plain = "\n".join(parsed.text_plain).strip()
    raw_html = "\n".join(parsed.text_html).strip()
    safe_html = nh3.clean(raw_html) if raw_html else ""
    attachments = _within_limits([_attachment(a) for a in parsed.attachments], limits, problems)
    return _from_message(
        raw,
        msg,
        plain or html_to_text(safe_html),
        safe_html,
        attachments,
        tuple(str(d) for d in parsed.defects_categories),
        tuple(problems),
    )


def _from_message(
    raw: bytes,
    msg: EmailMessage,
    text: str,
    html: str,
    attachments: tuple[ParsedAttachment, ...],
    defects: tuple[str, ...],
    problems: tuple[Problem, ...],
) -> ParsedMail:
    sender = addresses.author([str(v) for v in msg.get_all("From", [])])
    return ParsedMail(
        message_id=header_message_id(raw),
        subject=shorten(_one_line(_decoded(_bounded(msg.get("Subject", "")))), MAX_SUBJECT),
        from_addr=sender.address,
        from_name=sender.name,
        to=addresses.recipients([str(v) for v in msg.get_all("To", [])]),
        cc=addresses.recipients([str(v) for v in msg.get_all("Cc", [])]),
        date=_date(msg.get("Date")),
        in_reply_to=_message_ids(str(msg.get("In-Reply-To", "")))[:MAX_REFERENCES],
        references=_message_ids(str(msg.get("References", "")))[-MAX_REFERENCES:],
        text=text,
        html=html,
        attachments=attachments,
        headers=_kept_headers(msg),
        defects=defects,
        problems=problems,
        sender_problem=sender.problem,
    )


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis showing that it was."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _bounded(value: Any) -> str:
    # Decoding and unfolding are linear, but there is no reason to do them over megabytes.
    return str(value)[: MAX_SUBJECT * 16]


def _head(raw: bytes) -> bytes:
    return re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]


def _headers_only(raw: bytes, problem: Problem) -> ParsedMail:
    """A mail too big or too deep to read whole: its headers, and why the rest is missing."""
    msg = BytesHeaderParser(policy=compat32).parsebytes(_head(raw))
    return _from_message(raw, msg, "", "", (), (), (problem,))


def _unparsed(raw: bytes, exc: Exception) -> ParsedMail:
    """Headers, and the body as raw text, for MIME the parser could not take apart."""
    parts = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)
    body = parts[1].decode("utf-8", "replace")[:100_000] if len(parts) > 1 else ""
    mail = _headers_only(raw, Problem("unreadable", name=exc.__class__.__name__))
    return replace(mail, text=body.strip())


def _rough_depth(raw: bytes) -> int:
    # Counted before parsing: the stdlib parser recurses once per nesting level.
    return len(re.findall(rb"(?i)content-type:\s*multipart/", raw))


def _depth(msg: EmailMessage) -> int:
    deepest, stack = 0, [(msg, 1)]
    while stack:
        part, level = stack.pop()
        deepest = max(deepest, level)
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend((p, level + 1) for p in payload if isinstance(p, EmailMessage))
    return deepest


def _within_limits(
    attachments: list[ParsedAttachment], limits: Limits, problems: list[Problem]
) -> tuple[ParsedAttachment, ...]:
    kept: list[ParsedAttachment] = []
    for attachment in attachments:
        size, name = len(attachment.data), attachment.filename
        if size > limits.max_attachment_bytes:
            problems.append(Problem("attachment_size", size, limits.max_attachment_bytes, name))
        elif len(kept) >= limits.max_attachments:
            problems.append(Problem("attachments", len(attachments), limits.max_attachments, name))
        else:
            kept.append(attachment)
    return tuple(kept)


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
    except (UnicodeError, LookupError, binascii.Error, ValueError, HeaderParseError):
        return str(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def message_ids(value: str) -> tuple[str, ...]:
    """The <…> Message-IDs in a header value, in order, each once, none absurdly long."""
    return _message_ids(value)


def _message_ids(value: str) -> tuple[str, ...]:
    # An id longer than any mail system makes would only bloat the References we send.
    found = re.findall(r"<[^<>\s]+>", value)
    return tuple(dict.fromkeys(i for i in found if len(i) <= MAX_MESSAGE_ID))


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
            bounded = (str(v)[:MAX_KEPT_VALUE] for v in values[:MAX_KEPT_VALUES])
            kept[name] = tuple(_one_line(_decoded(v)) for v in bounded)
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
