"""Read the spam verdict the site's own receiving server wrote into a mail (pure; SPEC §8).

Only the topmost instance of each configured header counts: a receiving server adds its
verdict above the headers the mail arrived with, so anything below it (a sender can write
`X-Spam-Flag: NO` into its own mail) is ignored. Values are parsed exactly, never searched
for a word: `X-Spam-Status: No, score=-1.0 tests=BAYES_00` says no, whatever it contains.

A mail is spam when any configured header's topmost instance says so. A sender who writes
a "yes" of its own where the server wrote none only gets its own mail held for ops; a
sender's "no" never outweighs the server's "yes" in another header.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# The trusted verdict is near the top of the header block (only the site's own trace
# headers come before it), so a bounded prefix holds it however big the mail is.
HEAD_BYTES = 256 * 1024
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII but the colon
_FIELD = re.compile(rf"({HEADER_NAME.pattern})[ \t]*:(.*)")  # WSP before ':' is obsolete syntax
_SCORE = re.compile(r"(?:^|[\s,])(score|hits)=(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_FIRST_WORD = re.compile(r"[^\s,;:()]+")
# "X-Spam-Flag: YES", "X-Spam-Status: Yes, …", "X-Spam: Yes": SpamAssassin and rspamd.
_YES = ("yes",)
_YES_OR_TRUE = ("yes", "true")

Header = tuple[str, str]


@dataclass(frozen=True)
class SpamVerdict:
    """spam: the site's filter marked the mail; reason: which header said so, and how."""

    spam: bool
    reason: str = ""


NOT_SPAM = SpamVerdict(False)


def head(raw: bytes, limit: int = HEAD_BYTES) -> bytes:
    """The header block of `raw` (up to the first blank line), at most `limit` bytes."""
    found = _BLANK_LINE.search(raw, 0, limit)
    return raw[: found.start()] if found else raw[:limit]


def header_fields(raw: bytes, limit: int = HEAD_BYTES) -> list[Header]:
    """(name, value) of each header field of `raw`, topmost first, unfolded, names as
    written; a line that is no field (an mbox "From " line, junk) is skipped."""
    fields: list[list[str]] = []
    for line in head(raw, limit).decode("latin-1").split("\n"):
        line = line.removesuffix("\r")
        if line[:1] in (" ", "\t"):
            if fields:  # a folded continuation of the field above
                fields[-1][1] += " " + line.strip()
            continue
        match = _FIELD.fullmatch(line)
        if match:
            fields.append([match.group(1), match.group(2)])
    return [(name, " ".join(value.split())) for name, value in fields]


def topmost(fields: Sequence[Header], name: str) -> str | None:
    """The value of the first (topmost) field called `name` (any case); None if none."""
    wanted = name.lower()
    return next((value for field, value in fields if field.lower() == wanted), None)


def spam_verdict(fields: Sequence[Header], names: Sequence[str]) -> SpamVerdict:
    """Spam when the topmost instance of any of `names` says so; the reason names each."""
    reasons = []
    for name in names:
        value = topmost(fields, name)
        if value is not None and says_spam(name, value):
            reasons.append(f"{name}: {_shown(name, value)}")
    return SpamVerdict(True, "; ".join(reasons)) if reasons else NOT_SPAM


def says_spam(name: str, value: str) -> bool:
    """Whether one verdict header's value says spam, read the way its filter writes it."""
    kind = name.lower()
    if kind == "x-spam-flag":  # SpamAssassin: the whole value is YES (or NO)
        return value.strip().lower() in _YES
    if kind == "x-spam-status":  # SpamAssassin, rspamd: "Yes, score=7.1 required=5.0 …"
        return value.split(",", 1)[0].strip().lower() in _YES
    word = _FIRST_WORD.match(value.strip())  # rspamd's X-Spam: Yes; a site's own header
    return word is not None and word.group(0).lower() in _YES_OR_TRUE


def _shown(name: str, value: str) -> str:
    """The verdict as the log and `spam list` show it: "Yes, score=7.1", not every test."""
    if name.lower() == "x-spam-status":
        answer = value.split(",", 1)[0].strip()
        score = _SCORE.search(value)
        return f"{answer}, {score.group(1)}={score.group(2)}" if score else answer
    return value if len(value) <= 80 else value[:79] + "…"
