"""Build the bytes of an outgoing mail from a rendered notice (pure but for randomness).

The bytes are written directly rather than through `email.message.EmailMessage`, whose
header registry and content manager cost milliseconds per mail on every hot path: ASCII
headers as they are, anything else as RFC 2047 encoded words, lines folded at 78
characters and ended by CRLF, bodies in quoted-printable (text) or base64 (attachments).
"""

from __future__ import annotations

import re
import secrets
import string
from binascii import b2a_base64, b2a_qp
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from html import escape as html_escape

from mailtickets.mail import ParsedAttachment
from mailtickets.render import Rendered

MAX_LINE = 78  # RFC 5322's "should" for header lines
QP_LINE = 76  # RFC 2045's limit for an encoded body line
WORD_TEXT = 60  # encoded text per encoded word: with "=?utf-8?q?" and "?=", 72 at most
LONG_WORD = 60  # a plain word longer than this may not fit a line, so it is encoded
CRLF = "\r\n"

# A control character (CR and LF above all) in a value would start a new header line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What a word of a display name may hold unquoted (RFC 5322 atext).
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
_MIME_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
# RFC 2231 attribute-char: what a parameter value may hold without percent-encoding.
_ATTRIBUTE_CHARS = frozenset((string.ascii_letters + string.digits + "!#$&+-.^_`|~").encode())

# Q encoding as RFC 2047 allows it in a phrase (display names), which also suits Subject.
_Q: dict[str, str] = {
    chr(b): chr(b) if chr(b).isalnum() or chr(b) in "!*+-/" else f"={b:02X}" for b in range(128)
}
_Q[" "] = "_"


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
    message_id: str = ""  # "": a new one; else this one (a digest's, the same on every worker)


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
    subject = rendered.subject
    if envelope.code and f"[{envelope.code}]" not in subject:
        subject = f"[{envelope.code}] {subject}"
    message_id = envelope.message_id or new_message_id(envelope.code, envelope.from_address)
    lines = [
        _mailbox_header("From", envelope.from_name, envelope.from_address),
        _list_header("To", [_address(a) for a in envelope.shown_to or envelope.to]),
        _text_header("Subject", subject),
        f"Date: {format_datetime(now)}",
        _ids_header("Message-ID", [message_id]),
        _list_header("Reply-To", [_address(envelope.from_address)]),
    ]
    if envelope.in_reply_to:
        lines.append(_ids_header("In-Reply-To", [envelope.in_reply_to]))
    references = list(dict.fromkeys(r for r in envelope.references if r))
    if references:
        lines.append(_ids_header("References", references))
    if envelope.auto_submitted:
        lines.append(_text_header("Auto-Submitted", envelope.auto_submitted))
        lines.append("X-Auto-Response-Suppress: All")
    lines.append(_list_header("X-Loop", [_address(envelope.from_address)]))
    if envelope.code:
        lines.append(_text_header("X-Mailtickets-Ticket", envelope.code))
    lines.append("MIME-Version: 1.0")
    head = (CRLF.join(lines) + CRLF).encode("utf-8")
    return OutgoingMail(
        message_id=message_id,
        envelope_from=envelope.from_address,
        recipients=tuple(envelope.to),
        raw=head + _body(rendered, attachments),
        subject=subject,
        text=rendered.text,
    )


# Bodies ------------------------------------------------------------------------------------


def _body(rendered: Rendered, attachments: Sequence[ParsedAttachment]) -> bytes:
    """The MIME part(s) after the top-level headers: its Content-* headers, blank line, body."""
    part = _text_part("plain", rendered.text)
    if rendered.html:
        part = _multipart("alternative", [part, _text_part("html", rendered.html)])
    if attachments:
        part = _multipart("mixed", [part, *(_attachment_part(a) for a in attachments)])
    return part


def _text_part(subtype: str, text: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
    ).encode("ascii") + quoted_printable(text)


def _attachment_part(attachment: ParsedAttachment) -> bytes:
    content_type = attachment.content_type.partition(";")[0].strip().lower()
    maintype = content_type.partition("/")[0]
    # A message/* or multipart/* part (a forwarded DSN, a mail attached to a mail) would be
    # read as structure, not as the file it is here: its bytes travel as a plain file.
    if not _MIME_TYPE.fullmatch(content_type) or maintype in ("multipart", "message"):
        content_type = "application/octet-stream"
    disposition = "Content-Disposition: attachment"
    if attachment.filename:
        disposition = _fold_parameter(disposition, "filename", attachment.filename)
    return (
        f"Content-Type: {content_type}{CRLF}"
        f"Content-Transfer-Encoding: base64{CRLF}"
        f"{disposition}{CRLF}{CRLF}"
    ).encode() + base64_lines(attachment.data)


def _multipart(subtype: str, parts: Sequence[bytes]) -> bytes:
    # "=_" never occurs in quoted-printable or base64 text, so no part can hold the boundary.
    boundary = f"=_mt_{secrets.token_hex(12)}"
    delimiter = f"--{boundary}{CRLF}".encode("ascii")
    head = f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"{CRLF}{CRLF}'
    chunks = [head.encode("ascii")]
    for part in parts:
        chunks += (delimiter, part, CRLF.encode("ascii"))
    chunks.append(f"--{boundary}--{CRLF}".encode("ascii"))
    return b"".join(chunks)


def quoted_printable(text: str) -> bytes:
    """UTF-8 text in quoted-printable, CRLF line ends, encoded lines ≤ 76 characters, and
    no line that a relay or an mbox would read as something else ("From ", a lone ".")."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    # The trailing CRLF also makes b2a_qp write CRLF soft breaks (it copies the first line end).
    encoded = b2a_qp((CRLF.join(lines) + CRLF).encode("utf-8", "replace"), istext=True)
    if b"From " not in encoded and b"\n." not in encoded and not encoded.startswith(b"."):
        return encoded
    return CRLF.encode("ascii").join(_safe_qp_lines(encoded.split(b"\r\n")))


def _safe_qp_lines(lines: Sequence[bytes]) -> Iterator[bytes]:
    for line in lines:
        if line.startswith(b"From "):
            line = b"=46" + line[1:]
        elif line == b".":
            line = b"=2E"
        while len(line) > QP_LINE:
            cut = _qp_cut(line, QP_LINE - 1)
            yield line[:cut] + b"="
            line = line[cut:]
            if line.startswith(b"From "):
                line = b"=46" + line[1:]
        yield line


def _qp_cut(line: bytes, limit: int) -> int:
    """Where to soft-break `line` at or before `limit` without splitting an =XX escape."""
    cut = limit
    escape = line.rfind(b"=", max(cut - 2, 0), cut)
    return escape if escape != -1 else cut


def base64_lines(data: bytes) -> bytes:
    """`data` in base64, 76 characters a line, each ended by CRLF."""
    encoded = b2a_base64(data, newline=False)
    if not encoded:
        return b""
    lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
    return b"\r\n".join(lines) + b"\r\n"


# Headers -----------------------------------------------------------------------------------


def _clean(value: str) -> str:
    """The value with every control character a space: CR or LF must never end the header."""
    return _CONTROL.sub(" ", value) if _CONTROL.search(value) else value


def _text_header(name: str, value: str) -> str:
    """An unstructured header: plain words as they are, each run of words that must be
    encoded (not ASCII, too long to fold, or looking like an encoded word) encoded."""
    if _plain(name, value):
        return f"{name}: {value}"
    room = _room(name)
    atoms: list[str] = []
    for encoded, words in _groups(_clean(value).split(" ")):
        atoms += _encoded_words(" ".join(words), room) if encoded else _spaced(words)
    return _fold(name, atoms)


def _mailbox_header(name: str, display_name: str, address: str) -> str:
    """`Name <address>`: the name's words as atoms, quoted strings or encoded words."""
    display = _clean(display_name).strip(" ")
    if not display:
        return _fold(name, [_address(address)])
    atoms: list[str] = []
    for encoded, words in _groups(display.split(" ")):
        if encoded:
            atoms += _encoded_words(" ".join(words), _room(name))
        elif _are_atoms(words):
            atoms += words
        else:
            atoms.append(_quoted(" ".join(words)))
    return _fold(name, [*atoms, f"<{_address(address)}>"])


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ids_header(name: str, ids: Sequence[str]) -> str:
    """Message-IDs, one per atom: a long one is left whole, as readers match it verbatim."""
    if len(ids) == 1 and _plain(name, ids[0]):
        return f"{name}: {ids[0]}"
    atoms: list[str] = []
    for message_id in ids:
        words = [w for w in _clean(message_id).split(" ") if w]
        if any(_needs_encoding(w, 900) for w in words):
            atoms += _encoded_words(" ".join(words), _room(name))  # not a msg-id anyway
        else:
            atoms += words
    return _fold(name, atoms)


def _list_header(name: str, addresses: Sequence[str]) -> str:
    if len(addresses) == 1 and _plain(name, addresses[0]):
        return f"{name}: {addresses[0]}"
    atoms = [f"{a}," for a in addresses[:-1]] + list(addresses[-1:])
    return _fold(name, atoms)


def _address(address: str) -> str:
    """A bare address: no spaces or controls; a non-ASCII domain in its IDNA form."""
    address = "".join(_clean(address).split())
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    with suppress(UnicodeError):  # not a valid domain name: left as it is
        domain = domain.encode("idna").decode("ascii")
    # A non-ASCII local part has no ASCII form: it is written in UTF-8 (RFC 6532).
    return f"{local}{at}{domain}"


def _plain(name: str, value: str) -> bool:
    """Whether `Name: value` is one line as it is: short, ASCII, no control character."""
    return (
        len(name) + len(value) <= MAX_LINE - 2
        and value.isascii()
        and "=?" not in value
        and not _CONTROL.search(value)
    )


def _needs_encoding(word: str, longest: int = LONG_WORD) -> bool:
    return not word.isascii() or len(word) > longest or "=?" in word


def _groups(words: Sequence[str]) -> list[tuple[bool, list[str]]]:
    """Consecutive words that must be encoded, or need not be, as (encoded, words); an
    empty word (one more space) goes with the group before it."""
    groups: list[tuple[bool, list[str]]] = []
    for word in words:
        encoded = _needs_encoding(word) if word else bool(groups) and groups[-1][0]
        if groups and groups[-1][0] == encoded:
            groups[-1][1].append(word)
        else:
            groups.append((encoded, [word]))
    return groups


def _are_atoms(words: Sequence[str]) -> bool:
    """Words a phrase may hold as they are: atext only, one space apart."""
    return all(word and _ATOMS.fullmatch(word) for word in words)


def _spaced(words: Sequence[str]) -> list[str]:
    """Words as atoms to fold between: a run of spaces goes with the word after it."""
    atoms: list[str] = []
    pending = ""
    for word in words:
        if word:
            atoms.append(pending + word)
            pending = ""
        else:
            pending += " "
    if pending and atoms:
        atoms[-1] += pending
    return atoms


def _fold(name: str, atoms: Sequence[str]) -> str:
    """`Name: atom atom ...`, each line at most 78 characters when the atoms allow it,
    folded before the space between two atoms (that space is kept by unfolding)."""
    line, lines = f"{name}:", []
    for i, atom in enumerate(atoms):
        if i and len(line) + 1 + len(atom) > MAX_LINE:
            lines.append(line)
            line = ""
        line += " " + atom
    lines.append(line)
    return CRLF.join(lines)


def _room(name: str) -> int:
    """Encoded text an encoded word may hold and still fit the header's first line."""
    return min(WORD_TEXT, MAX_LINE - len(name) - len(": =?utf-8?q??="))


def _encoded_words(text: str, room: int) -> list[str]:
    """`text` as RFC 2047 encoded words of whole characters, "q" or "b", whichever is
    shorter; the spaces between the words are not part of the text (RFC 2047, 6.2)."""
    chars = [_Q.get(char) or _q_encode(char) for char in text]
    data = text.encode("utf-8", "replace")
    if sum(map(len, chars)) <= (len(data) + 2) // 3 * 4:
        return _q_words(chars, room)
    return _b_words(data, room // 4 * 3)


def _q_words(chars: Sequence[str], room: int) -> list[str]:
    words: list[str] = []
    chunk, size = "", 0
    for encoded in chars:
        if size + len(encoded) > room and chunk:
            words.append(f"=?utf-8?q?{chunk}?=")
            chunk, size = "", 0
        chunk += encoded
        size += len(encoded)
    return [*words, f"=?utf-8?q?{chunk}?="] if chunk else words


def _b_words(data: bytes, room: int) -> list[str]:
    words: list[str] = []
    while data:
        cut = min(room, len(data))
        while cut < len(data) and data[cut] & 0xC0 == 0x80:  # inside a UTF-8 sequence
            cut -= 1
        encoded = b2a_base64(data[:cut], newline=False).decode("ascii")
        words.append(f"=?utf-8?b?{encoded}?=")
        data = data[cut:]
    return words


def _q_encode(char: str) -> str:
    # A lone surrogate (an undecodable byte in the customer's subject) has no UTF-8 form.
    encoded = "".join(f"={b:02X}" for b in char.encode("utf-8", "replace"))
    if len(_Q) < 4096:
        _Q[char] = encoded
    return encoded


def _parameter_2231(name: str, value: str) -> list[str]:
    """`name*0*=utf-8''...; name*1*=...`: percent-encoded UTF-8 in pieces that fold."""
    data = value.encode("utf-8", "replace")
    quoted = "".join(chr(b) if b in _ATTRIBUTE_CHARS else f"%{b:02X}" for b in data)
    pieces: list[str] = []
    while quoted:
        cut = min(len(quoted), 50)
        percent = quoted.rfind("%", max(cut - 2, 0), cut)
        cut = percent if percent > 0 else cut
        pieces.append(quoted[:cut])
        quoted = quoted[cut:]
    if len(pieces) == 1:
        return [f"{name}*=utf-8''{pieces[0]}"]
    first = f"{name}*0*=utf-8''{pieces[0]}"
    return [first, *(f"{name}*{i}*={p}" for i, p in enumerate(pieces[1:], start=1))]


def _fold_parameter(header: str, name: str, value: str) -> str:
    """`header; name="value"` when the value is short printable ASCII, else RFC 2231."""
    if value.isascii() and len(value) <= 60 and not _CONTROL.search(value):
        param = f"{name}={_quoted(value)}"
        fits = len(header) + 2 + len(param) <= MAX_LINE
        return f"{header}; {param}" if fits else f"{header};{CRLF} {param}"
    params = _parameter_2231(name, value)
    return f"{header};{CRLF} " + f";{CRLF} ".join(params)


def with_preface(raw: bytes, preface: str) -> bytes:
    """`raw` with `preface` above its text (and its HTML, escaped), headers and attachments
    kept: the checks' summary put at the top of a staff notice that has not left yet."""
    message = message_from_bytes(raw, policy=SMTP_POLICY)
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain":
            text = f"{preface}\n\n{part.get_content()}"
            part.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
        elif kind == "text/html":
            block = f'<pre style="font-family:inherit">{html_escape(preface)}</pre>\n'
            html = str(part.get_content())
            body = re.search(r"<body[^>]*>", html, re.I)
            at = body.end() if body else 0
            part.set_content(
                html[:at] + block + html[at:],
                subtype="html",
                charset="utf-8",
                cte="quoted-printable",
            )
    return message.as_bytes(policy=SMTP_POLICY)
