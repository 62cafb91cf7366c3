"""Parse raw message bytes into a frozen ParsedMail (pure: no I/O).

Each message is parsed once. Its MIME tree is found with bytes searches over the raw
mail (C speed, nothing copied): each entity's header block is read as the stdlib's
compat32 parser reads it, each body stays a span of the raw bytes until it is decoded,
and an attachment already too big by its encoded length is never decoded. Structure the
searches might read otherwise than the stdlib (a lone CR, a missing start boundary, a
header block cut short, nesting past the limit, delivery-status blocks) is left to the
stdlib's parser, and both trees go through one extraction: the same mail, the same
ParsedMail (tests/unit/test_mail_speed_equivalence.py).
"""

from __future__ import annotations

import binascii
import hashlib
import html as htmllib
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import errors, message_from_bytes
from email.errors import HeaderParseError
from email.generator import BytesGenerator
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from itertools import pairwise
from typing import Any

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
    head = raw[: _message_id_head_end(raw)]
    lower = head.lower()
    at = 0 if lower.startswith(b"message-id:") else lower.find(b"\nmessage-id:") + 1
    match = _MESSAGE_ID.match(head, at) if at or lower.startswith(b"message-id:") else None
    if not match:
        return ""
    ids = _message_ids(match.group(1).decode("ascii", "replace"))
    return ids[0] if ids else ""


def header_sender(raw: bytes) -> str:
    """The address of `raw`'s one From header, lower case; '' when there is not exactly
    one with one address. Only an ordering key for ingest (store.pending_inbound): read
    cheaply from the raw header block; who the sender is, is decided by the full parse."""
    head = raw[: _message_id_head_end(raw)]
    found = _from_fields(head)
    if len(found) != 1:
        return ""
    value = found[0]
    if value.count(b"<") > 1:
        return ""
    angle = _ANGLE.search(value)
    address = (angle.group(1) if angle else value).strip()
    if not _BARE_ADDRESS.fullmatch(address):
        return ""
    return address.decode("utf-8", "replace").lower()


def _from_fields(head: bytes) -> list[bytes]:
    """The values of every From field of a header block, unfolded lines included; found by
    bytes.find on the lowered block (a regex trying every position cost ten times more)."""
    lower, values, at = b"\n" + head.lower(), [], 0
    while (at := lower.find(b"\nfrom", at)) != -1:
        # `lower` starts with an added newline: its "\nfrom" at `at` is "from" at `at` in head.
        if match := _FROM_FIELD.match(head, at):
            values.append(match.group(1))
        at += 5
    return values


def parse_mail(raw: bytes, limits: Limits | None = None) -> ParsedMail:
    """Parse `raw` within `limits`; never raises on malformed MIME, charsets or size."""
    limits = limits or Limits()
    if len(raw) > limits.max_message_bytes:
        return _headers_only(raw, Problem("message_size", len(raw), limits.max_message_bytes))
    head_size = _head_size(raw)
    if head_size > limits.max_header_bytes:
        return _headers_only(raw, Problem("header_size", head_size, limits.max_header_bytes))
    too_deep = Problem("mime_depth", limit=limits.max_mime_depth)
    try:
        try:
            root = read_entities(raw, limits.max_mime_depth)
        except Irregular:
            # Counted before the stdlib parser, which recurses once per nesting level.
            if _rough_depth(raw) > limits.max_mime_depth * 4:
                return _headers_only(raw, too_deep)
            root = stdlib_entities(message_from_bytes(raw, policy=compat32))
        return parsed_from_entities(raw, root, limits)
    except RecursionError:
        return _headers_only(raw, too_deep)
    except Exception as exc:  # the stdlib's own bugs on broken MIME: keep the raw text
        return _unparsed(raw, exc)


# --- The MIME tree -------------------------------------------------------------------


@dataclass(frozen=True)
class MimeEntity:
    """One MIME entity: its header fields, its body still transfer-encoded as
    raw[start:end], and its entities when it is a multipart or message/* (as the stdlib
    reads them: a message/* holds the message inside it)."""

    head: Message
    mime: Message  # its MIME fields alone: quicker to look up than all of `head`
    raw: bytes
    start: int
    end: int
    parts: tuple[MimeEntity, ...] | None = None
    whole: Message | None = None  # the stdlib's own Message, when the stdlib read it

    @property
    def body(self) -> memoryview:
        return memoryview(self.raw)[self.start : self.end]

    def saved_bytes(self) -> bytes:
        """The body of a multipart or message/* saved as a file: the bytes as sent, or
        the stdlib's rendering of what it parsed."""
        if self.whole is None:
            return self.raw[self.start : self.end]
        return _flattened_body(self.whole)


class Irregular(Exception):
    """MIME structure that the stdlib parser might read differently than the fast reader."""


_MESSAGE_ID = re.compile(rb"message-id:[ \t]*((?:.|\r?\n[ \t])*)", re.I)
_BLANK_LINE = re.compile(rb"\n\r?\n")
_ANGLE = re.compile(rb"<([^<>]*)>")
_BARE_ADDRESS = re.compile(rb"[^\s<>,;@\"]+@[^\s<>,;@\"]+")
_FROM_FIELD = re.compile(rb"from[ \t]*:[ \t]*((?:[^\r\n]|\r?\n[ \t])*)", re.I)
# What the stdlib's feedparser takes for a header line (its headerRE), on bytes.
_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[ \t]")
_NOT_A_HEADER_LINE = re.compile(rb"\n(?!From |[\x21-\x39\x3b-\x7e]*:|[ \t])")
_BOUNDARY_TAIL = re.compile(rb"(--)?[ \t]*(\r?\n|\r|\Z)")
_LONE_CR = re.compile(rb"\r(?!\n)")
_UUENCODE = ("x-uuencode", "uuencode", "uue", "x-uue")
_MIME_FIELDS = ("content-type", "content-disposition", "content-id", "content-transfer-encoding")


def read_entities(raw: bytes, max_depth: int) -> MimeEntity:
    """The MIME tree of `raw`, found with bytes searches; raises Irregular for structure
    the stdlib parser might read otherwise (it alone knows its own quirks), such as a
    lone CR where the stdlib would end a line that matters and the searches would not."""
    return _entity(raw, 0, len(raw), 1, "text/plain", False, max_depth)


def stdlib_entities(msg: Message) -> MimeEntity:
    """The same tree from a Message the stdlib parsed (compat32, from bytes)."""
    payload = msg.get_payload()
    mime = _mime_fields(msg)
    if isinstance(payload, list):
        return MimeEntity(
            msg,
            mime,
            b"",
            0,
            0,
            tuple(stdlib_entities(p) for p in payload if isinstance(p, Message)),
            msg,
        )
    # The undecoded text, as read from bytes; get_payload() would apply the charset.
    text = msg._payload  # type: ignore[attr-defined]
    body = text.encode("ascii", "surrogateescape") if isinstance(text, str) else b""
    return MimeEntity(msg, mime, body, 0, len(body), None, msg)


def _entity(
    raw: bytes, start: int, end: int, depth: int, default: str, in_multipart: bool, max_depth: int
) -> MimeEntity:
    """The entity in raw[start:end]; in a multipart, the line end before the next
    boundary belongs to the boundary (RFC 2046), not to the body."""
    if depth > max_depth:
        raise Irregular("nested deeper than the limit")
    head_end, body_start = _head_span(raw, start, end)
    head = _header_block(raw[start:head_end])
    head.set_default_type(default)
    mime = _mime_fields(head)
    kind = mime.get_content_maintype()
    if mime.get_content_type() == "message/delivery-status":
        raise Irregular("delivery-status blocks")  # small, and the stdlib's own format
    if kind == "multipart":
        parts = _multipart(raw, head, mime, body_start, end, depth, max_depth)
    elif kind == "message":  # the line end before a boundary is stripped from inside it
        inner = _entity(raw, body_start, end, depth + 1, "text/plain", in_multipart, max_depth)
        parts = (inner,)
    else:
        parts = None
    body_end = _without_line_end(raw, body_start, end) if in_multipart else end
    return MimeEntity(head, mime, raw, body_start, body_end, parts)


def _head_span(raw: bytes, start: int, end: int) -> tuple[int, int]:
    """Where the header block of raw[start:end] ends and its body starts."""
    for blank in (b"\n", b"\r\n"):
        if raw.startswith(blank, start, end):
            return start, start + len(blank)
    found = _BLANK_LINE.search(raw, start, end)
    head_end, body_start = (found.start() + 1, found.end()) if found else (end, end)
    last = head_end - 1 if raw[head_end - 1 : head_end] == b"\n" else head_end
    if head_end > start and (
        not _HEADER_LINE.match(raw, start, head_end)
        or _LONE_CR.search(raw, start, head_end)
        or _NOT_A_HEADER_LINE.search(raw, start, last)
        or raw.find(b"\nFrom ", start, head_end) >= 0
    ):
        raise Irregular("a header block the stdlib would end elsewhere")
    return head_end, body_start


def _header_block(block: bytes) -> Message:
    """The header fields of a block that `_head_span` checked, read as the stdlib's
    feedparser reads them (compat32), without its line-by-line machinery."""
    head = Message()
    pieces = block.decode("ascii", "surrogateescape").split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    field: list[str] = []
    for number, line in enumerate(lines):
        if line[0] in " \t":
            if field:
                field.append(line)
            else:
                head.defects.append(errors.FirstHeaderLineIsContinuationDefect(line))
            continue
        if field:
            head.set_raw(*compat32.header_source_parse(field))
            field = []
        if number == 0 and line.startswith("From "):
            head.set_unixfrom(line.rstrip("\r\n"))
        elif line.startswith(":"):
            head.defects.append(errors.InvalidHeaderDefect("Missing header name."))
        else:
            field = [line]
    if field:
        head.set_raw(*compat32.header_source_parse(field))
    return head


def _without_line_end(raw: bytes, start: int, end: int) -> int:
    if end > start and raw[end - 1] == 0x0A:
        end -= 1
        if end > start and raw[end - 1] == 0x0D:
            end -= 1
    elif end > start and raw[end - 1] == 0x0D:
        end -= 1
    return end


def _multipart(
    raw: bytes, head: Message, mime: Message, start: int, end: int, depth: int, max_depth: int
) -> tuple[MimeEntity, ...]:
    boundary = mime.get_boundary()
    if boundary is None:
        raise Irregular("a multipart without a boundary")
    try:
        separator = b"--" + boundary.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        raise Irregular("a boundary that is no byte string") from None
    if str(mime.get("content-transfer-encoding", "8bit")).lower() not in ("7bit", "8bit", "binary"):
        head.defects.append(errors.InvalidMultipartContentTransferEncodingDefect())
    lines = _boundary_lines(raw, separator, start, end)
    if not lines or lines[0][2]:
        raise Irregular("no start boundary")
    if not lines[-1][2]:  # cut short: the last part runs to the end, as the stdlib reads it
        head.defects.append(errors.CloseBoundaryNotFoundDefect())
        lines.append((end, end, True))
    default = "message/rfc822" if mime.get_content_type() == "multipart/digest" else "text/plain"
    parts = []
    for (_, part_start, _), (part_end, _, _) in pairwise(lines):
        if part_start == part_end:  # the stdlib skips repeated boundary lines
            raise Irregular("an empty part")
        parts.append(_entity(raw, part_start, part_end, depth + 1, default, True, max_depth))
    return tuple(parts)


def _boundary_lines(
    raw: bytes, separator: bytes, start: int, end: int
) -> list[tuple[int, int, bool]]:
    """(start, end, closes?) of each boundary line in raw[start:end], up to the closing one."""
    found: list[tuple[int, int, bool]] = []
    at = raw.find(separator, start, end)
    while at >= 0:
        before = raw[at - 1 : at] if at > start else b"\n"
        if before == b"\r":  # the stdlib would see a line, and maybe a boundary, here
            raise Irregular("a lone CR before a boundary")
        tail = _BOUNDARY_TAIL.match(raw, at + len(separator), end) if before == b"\n" else None
        if tail and tail.group(2) == b"\r":
            raise Irregular("a boundary line ended by a lone CR")
        if tail:
            found.append((at, tail.end(), tail.group(1) is not None))
            if tail.group(1):
                break
        at = raw.find(separator, at + 1, end)
    return found


def _flattened_body(msg: Message) -> bytes:
    out = io.BytesIO()
    try:
        BytesGenerator(out, mangle_from_=False, maxheaderlen=0).flatten(msg)
    except (LookupError, UnicodeError, TypeError, ValueError):
        return b""
    data = out.getvalue()
    return data[data.find(b"\n\n") + 2 :] if len(msg) else data[1:]


def _walk(root: MimeEntity) -> Iterator[tuple[MimeEntity, bool]]:
    """Every entity in order, and whether it lies inside an attached container (whose
    inline parts are then not shown as the mail's own text, RFC 2183 §2.9)."""
    stack = [(root, False)]
    while stack:
        entity, inside = stack.pop()
        yield entity, inside
        if entity.parts is not None:
            below = inside or _attached_container(entity.mime)
            stack.extend((part, below) for part in reversed(entity.parts))


def _attached_container(head: Message) -> bool:
    disposition = head.get_content_disposition()
    return disposition not in (None, "inline") or (
        disposition != "inline" and bool(head.get_filename())
    )


def _depth(root: MimeEntity) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        entity, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((part, level + 1) for part in entity.parts or ())
    return deepest


# --- What the tree holds: text, HTML and attachments -----------------------------------


@dataclass(frozen=True)
class _Attached:
    filename: str
    content_type: str
    entity: MimeEntity
    encoding: str  # Content-Transfer-Encoding, stripped and lower-cased


@dataclass
class _Contents:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attached: list[_Attached] = field(default_factory=list)
    defects: set[str] = field(default_factory=set)


def parsed_from_entities(raw: bytes, root: MimeEntity, limits: Limits) -> ParsedMail:
    """The ParsedMail of `raw` from its MIME tree (either reader's)."""
    problems: list[Problem] = []
    if _depth(root) > limits.max_mime_depth:
        problems.append(Problem("mime_depth", limit=limits.max_mime_depth))
    contents = _Contents()
    for index, (entity, inside) in enumerate(_walk(root)):
        contents.defects.update(type(d).__name__ for d in entity.head.defects)
        _read_part(index, entity, inside, contents)
    plain = "\n".join(contents.plain).strip()
    raw_html = "\n".join(contents.html).strip()
    safe_html = nh3.clean(raw_html) if raw_html else ""
    attachments = _within_limits(contents.attached, limits, problems)
    return _from_message(
        raw,
        root.head,
        plain or html_to_text(safe_html),
        safe_html,
        attachments,
        tuple(sorted(contents.defects)),
        tuple(problems),
    )


def _read_part(index: int, entity: MimeEntity, inside: bool, contents: _Contents) -> None:
    """File `entity` as text, HTML or an attachment (a named inline text as both)."""
    view = _utf8_view(entity.mime)
    disposition = view.get_content_disposition() or ""
    if entity.parts is not None and disposition != "attachment":
        return
    filename = _header_text(view.get_filename())
    subtype = view.get_content_subtype()
    content_id = _nfc(str(view.get("content-id") or ""))
    if not filename:
        filename = _unnamed_file(index, content_id, subtype, disposition)
    if filename:
        encoding = str(view.get("content-transfer-encoding", "")).strip().lower()
        content_type = _nfc(view.get_content_type())
        contents.attached.append(_Attached(filename, content_type, entity, encoding))
    inline_text = (
        not inside
        and entity.parts is None
        and disposition == "inline"
        and entity.mime.get_content_type() in ("text/plain", "text/html")
    )
    if filename and not inline_text:
        return
    text = _body_text(entity, view.get_content_charset("utf-8"), contents)
    kind = entity.mime.get_content_subtype()
    if text and kind in ("plain", "html"):
        (contents.plain if kind == "plain" else contents.html).append(text)


def _unnamed_file(index: int, content_id: str, subtype: str, disposition: str) -> str:
    """The name of a part that is a file though it gives no name; '' when it is none."""
    if content_id and subtype not in ("html", "plain"):
        return content_id  # an inline image, as HTML refers to it
    if subtype in ("rtf", ""):  # rich text, or a type with no subtype: kept, not shown
        return f"attachment-{index}.rtf"
    if disposition == "attachment":
        return f"attachment-{index}.txt"
    return ""


def _mime_fields(head: Message) -> Message:
    fields = Message()
    fields.set_default_type(head.get_default_type())
    for name, value in head.raw_items():
        if name.lower() in _MIME_FIELDS:
            fields[name] = value
    return fields


def _utf8_view(mime: Message) -> Message:
    """The MIME fields with 8-bit values read as UTF-8, as mail clients write file names."""
    if all(str(value).isascii() for value in mime.values()):
        return mime
    view = Message()
    view.set_default_type(mime.get_default_type())
    for name, value in mime.raw_items():
        view[name] = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return view


def _header_text(value: str | None) -> str:
    """A MIME parameter with its encoded words decoded, each in its charset if it can be."""
    if not value:
        return ""
    try:
        text = "".join(_chunk_text(chunk, charset) for chunk, charset in decode_header(value))
    except (HeaderParseError, UnicodeError):
        text = value
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a codec that made lone surrogates: keep the literal value
        return value.encode("utf-8", "backslashreplace").decode("utf-8").strip()
    return text.strip()


def _chunk_text(chunk: str | bytes, charset: str | None) -> str:
    if isinstance(chunk, str):
        return _nfc(chunk)
    try:
        return _nfc(chunk.decode(charset or "utf-8"))
    except (LookupError, UnicodeError):
        return _nfc(chunk.decode("utf-8", "ignore"))


def _nfc(text: str) -> str:
    # Text is kept in the form the W3C recommends, as mail-parser kept it before.
    return unicodedata.normalize("NFC", text)


def _body_text(entity: MimeEntity, charset: str, contents: _Contents) -> str:
    """A text body decoded from its transfer encoding and its charset, or from UTF-8 when
    the charset is unknown or lies."""
    encoding = str(entity.mime.get("content-transfer-encoding", ""))
    if encoding.strip().lower() in ("", "7bit", "8bit"):
        payload = bytes(entity.body)
        if payload.isascii():
            return payload.decode("ascii")
    else:
        payload = _transfer_decoded(entity)
    if not payload:
        return ""
    try:
        text = payload.decode(charset)
        text.encode("utf-8")  # some codecs make lone surrogates, which are not text
    except (LookupError, UnicodeError):
        contents.defects.add("CharsetDecodeDefect")
        return _nfc(payload.decode("utf-8", "replace"))
    return _nfc(text)


def _transfer_decoded(entity: MimeEntity) -> bytes:
    """The body decoded as the stdlib's get_payload(decode=True) does."""
    encoding = str(entity.mime.get("content-transfer-encoding", "")).lower()
    if encoding == "quoted-printable":
        return binascii.a2b_qp(entity.body)
    if encoding == "base64":
        try:
            return binascii.a2b_base64(entity.body)
        except binascii.Error:  # the stdlib mends bad padding
            return _stdlib_decoded(encoding, entity.body)
    if encoding in _UUENCODE:
        return _stdlib_decoded(encoding, entity.body)
    return bytes(entity.body)


def _stdlib_decoded(encoding: str, body: memoryview) -> bytes:
    stand_in = Message()
    stand_in["Content-Transfer-Encoding"] = encoding
    stand_in.set_payload(bytes(body).decode("ascii", "surrogateescape"))
    decoded = stand_in.get_payload(decode=True)
    return decoded if isinstance(decoded, bytes) else bytes(body)


def _within_limits(
    attached: list[_Attached], limits: Limits, problems: list[Problem]
) -> tuple[ParsedAttachment, ...]:
    kept: list[ParsedAttachment] = []
    for item in attached:
        name = safe_filename(_decoded(item.filename))
        size, data = _attachment_data(item, limits.max_attachment_bytes)
        if data is None:
            problems.append(Problem("attachment_size", size, limits.max_attachment_bytes, name))
        elif len(kept) >= limits.max_attachments:
            problems.append(Problem("attachments", len(attached), limits.max_attachments, name))
        else:
            content_type = item.content_type or "application/octet-stream"
            kept.append(ParsedAttachment(filename=name, content_type=content_type, data=data))
    return tuple(kept)


def _attachment_data(item: _Attached, limit: int) -> tuple[int, bytes | None]:
    """The attachment's size and bytes, or only its size when that is over `limit`; a
    body whose encoded length is already over it is not decoded at all."""
    entity = item.entity
    if entity.parts is not None:
        data = entity.saved_bytes()
    elif item.encoding == "base64":
        # Decoding never makes more than 3 bytes of 4: only a long body is counted.
        size = _base64_size(entity) if (entity.end - entity.start) * 3 // 4 > limit else 0
        if size > limit:
            return size, None
        data = _base64_file(entity)
    else:
        encoding = str(entity.mime.get("content-transfer-encoding", "")).lower()
        size = entity.end - entity.start
        if encoding not in ("quoted-printable", "base64", *_UUENCODE) and size > limit:
            return size, None
        data = _transfer_decoded(entity)
    return (len(data), None) if len(data) > limit else (len(data), data)


def _base64_file(entity: MimeEntity) -> bytes:
    """A base64 attachment decoded; one that is not base64 at all is kept as it came."""
    encoded = bytes(entity.body)
    if not encoded.isascii():
        return encoded
    try:
        return binascii.a2b_base64(encoded)
    except binascii.Error:
        return encoded


def _base64_size(entity: MimeEntity) -> int:
    """The decoded size of a base64 body, from its length (exact for well-formed base64)."""
    raw, start, end = entity.raw, entity.start, entity.end
    ignored = sum(raw.count(c, start, end) for c in (b"\n", b"\r", b"="))
    return (end - start - ignored) * 3 // 4


# --- Header fields ---------------------------------------------------------------------


def _from_message(
    raw: bytes,
    msg: Message,
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


def _head_size(raw: bytes) -> int:
    """Where the first blank line starts (CR LF or LF)."""
    found = _BLANK_LINE.search(raw)
    if not found:
        return len(raw)
    return found.start() - (raw[found.start() - 1 : found.start()] == b"\r")


def _message_id_head_end(raw: bytes) -> int:
    """Where the first CR LF CR LF or LF LF starts, whichever comes first."""
    found = _BLANK_LINE.search(raw)
    while found:
        at = found.start()
        if found.end() - at == 2:
            return at
        if raw[at - 1 : at] == b"\r":
            return at - 1
        found = _BLANK_LINE.search(raw, at + 1)
    return len(raw)


def _headers_only(raw: bytes, problem: Problem) -> ParsedMail:
    """A mail too big or too deep to read whole: its headers, and why the rest is missing."""
    msg = BytesHeaderParser(policy=compat32).parsebytes(raw[: _head_size(raw)])
    return _from_message(raw, msg, "", "", (), (), (problem,))


def _unparsed(raw: bytes, exc: Exception) -> ParsedMail:
    """Headers, and the body as raw text, for MIME the parser could not take apart."""
    found = _BLANK_LINE.search(raw)
    # 100,000 characters never take more than 400,000 bytes of UTF-8.
    start = found.end() if found else len(raw)
    body = raw[start : start + 400_000].decode("utf-8", "replace")[:100_000]
    mail = _headers_only(raw, Problem("unreadable", name=exc.__class__.__name__))
    return replace(mail, text=body.strip())


def _rough_depth(raw: bytes) -> int:
    return len(re.findall(rb"(?i)content-type:\s*multipart/", raw))


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


def _kept_headers(msg: Message) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[Any]] = {}
    for name, value in msg.raw_items():
        if name.lower() in _KEPT_HEADERS:
            # As get_all() returns them (8-bit text as a Header).
            found.setdefault(name.lower(), []).append(compat32.header_fetch_parse(name, value))
    kept: dict[str, tuple[str, ...]] = {}
    for name in _KEPT_HEADERS:
        values = found.get(name)
        if values:
            bounded = (str(v)[:MAX_KEPT_VALUE] for v in values[:MAX_KEPT_VALUES])
            kept[name] = tuple(_one_line(_decoded(v)) for v in bounded)
    return kept
