"""Cut quoted history and signatures off a reply, keeping what the writer added (pure)."""

from __future__ import annotations

import re

from mailparser_reply import EmailReplyParser

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


# mail-parser-reply's signature pattern ends in `(.|\s)*`, and Python's regex engine keeps
# about 300 bytes for each character that repeat takes: a pasted log of 125 KB cost 39 MB
# and 0.25 s, a text of a few MB would cost gigabytes. So it reads at most this much of a
# text, from the top, where a reply's own words are; a quote that starts further down is
# left in (staff see more of the thread, nothing is lost).
SCAN_CHARS = 16_000


def latest_reply(text: str) -> str:
    """The new part of a reply; the whole text when nothing looks quoted."""
    head = _cut_outlook_history(text.replace("\r\n", "\n"))
    if len(head) > SCAN_CHARS:
        return _latest_of_long(head)
    try:
        reply = _PARSER.parse_reply(head)
    except (ValueError, IndexError, AttributeError):
        reply = head
    return (reply or "").strip() or head.strip() or text.strip()


def _latest_of_long(head: str) -> str:
    """What comes before the first quoted reply header within the first SCAN_CHARS (cut
    at a line's end), else the whole text: past the scan nothing is read, so none is cut."""
    scanned = head[: head.rfind("\n", 0, SCAN_CHARS) + 1 or SCAN_CHARS]
    try:
        found = _PARSER.read(scanned)
    except (ValueError, IndexError, AttributeError):
        return head.strip()
    if len(found.replies) > 1 and (reply := str(found.replies[0].content).strip()):
        return reply
    return head.strip()


def _cut_outlook_history(text: str) -> str:
    found = (p.search(text) for p in (_OUTLOOK_BLOCK, _ATTRIBUTION, _SEPARATORS))
    cuts = [m.start() for m in found if m]
    return text[: min(cuts)] if cuts else text
