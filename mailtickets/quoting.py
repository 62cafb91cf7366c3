"""Cut quoted history and signatures off a reply, keeping what the writer added (pure)."""

from __future__ import annotations

import re
from itertools import chain

from mailparser_reply import EmailReplyParser
from mailparser_reply.parser import EmailMessage

_PARSER = EmailReplyParser(languages=["es", "en", "de", "fr"])

# Outlook quotes without ">" under a header block; mail-parser-reply misses the Spanish one
# ("De: … / Enviado el: …"), so such blocks are cut here first.
_OUTLOOK_BLOCK = re.compile(
    r"^[ \t*]*(?:De|From|Von|De la)[ \t*]*:.*\n(?:.*\n){0,2}?"
    r"[ \t*]*(?:Enviado(?: el)?|Sent|Gesendet|Fecha|Date)[ \t*]*:",
    re.IGNORECASE | re.MULTILINE,
)
# "El 23/11/26 a las 10:15, Soporte escribió:" right above a ">" quote (Thunderbird, Gmail,
# Apple Mail), also when the client wrapped the attribution over two lines.
_ATTRIBUTION = re.compile(
    r"^(?![ \t]*>)[^\n]{0,200}(?:\n(?![ \t]*>)[^\n]{0,200})?"
    r"(?:escribió|escribio|wrote|schrieb|a écrit|ha scritto)\s*:[ \t]*\n(?:[ \t]*\n)?[ \t]*>",
    re.IGNORECASE | re.MULTILINE,
)
_SEPARATORS = re.compile(
    r"^[ \t]*(?:-{3,}\s*(?:Mensaje original|Original Message|Ursprüngliche Nachricht)\s*-{3,}"
    r"|_{20,})[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def latest_reply(text: str) -> str:
    """The new part of a reply; the whole text when nothing looks quoted."""
    head = _cut_outlook_history(text.replace("\r\n", "\n"))
    try:
        reply = _before_first_header(head)
    except (ValueError, IndexError, AttributeError):
        reply = head
    return reply.strip() or head.strip() or text.strip()


def _before_first_header(text: str) -> str:
    """What mail-parser-reply's `parse_reply` gives (its first non-empty part before a
    reply header), without its signature and disclaimer patterns: the part's text never
    depends on them, and the signature one ends in `(.|\\s)*`, for which Python's regex
    engine keeps about 300 bytes per character: a reply with 200 KB of log pasted below
    its signature took 61 MB, one of a few MB would have taken gigabytes."""
    message = EmailMessage(text=text, languages=list(_PARSER.languages))  # text normalised
    normalised: str = message.text
    found = message.HEADER_REGEX.findall(normalised)
    at = 0
    for header in (h for h in chain.from_iterable(found) if h):
        # As EmailMessage.read walks its headers, so the part is the one it would return.
        position = normalised.find(header, at + 1 if at > 0 else at)
        part = normalised[at:position].strip()
        if part:
            return part
        at = position if position >= 0 else 0
    return normalised[at:].strip()


def _cut_outlook_history(text: str) -> str:
    found = (p.search(text) for p in (_OUTLOOK_BLOCK, _ATTRIBUTION, _SEPARATORS))
    cuts = [m.start() for m in found if m]
    return text[: min(cuts)] if cuts else text
