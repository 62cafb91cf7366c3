"""Ticket codes: make them, find them in subjects, clean reply prefixes (pure)."""

from __future__ import annotations

import re
import secrets
from functools import lru_cache

# No 0/O, 1/I/L: codes are read aloud on the phone and typed by hand.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6

_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|rv|fw|fwd|tr|aw|wg|antw|sv|vs|r|rif|res|enc)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)


def new_code(prefix: str) -> str:
    """A fresh random code such as SOP-7KQ2MX (about 10^9 possibilities: hard to guess)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{prefix}-{body}"


# The code's characters in either case and nothing else: under re.IGNORECASE alone "K"
# would also match the Kelvin sign, so the class is spelled out with case-folding off.
_BODY = rf"(?-i:[{ALPHABET}{ALPHABET.lower()}]){{{CODE_LENGTH}}}"


@lru_cache(maxsize=16)
def _code_pattern(prefix: str) -> re.Pattern[str]:
    # The prefix comes from config: escape it, never splice it raw into a regex.
    return re.compile(
        rf"(?<![A-Za-z0-9]){re.escape(prefix)}\s*-\s*({_BODY})(?![A-Za-z0-9])",
        re.IGNORECASE,
    )


def find_code(subject: str, prefix: str) -> str | None:
    """The first ticket code in `subject` (any case, extra brackets or spaces), normalised."""
    match = _code_pattern(prefix).search(subject)
    return f"{prefix}-{match.group(1).upper()}" if match else None


def parse_code(text: str, prefix: str) -> str | None:
    """`text` when it is one ticket code and nothing else ('[sop-7kq2mx]' -> 'SOP-7KQ2MX'),
    normalised; None when it is anything else, such as a code with letters the alphabet
    never produces (0, O, 1, I, L)."""
    match = _code_pattern(prefix).fullmatch(text.strip().strip("[]").strip())
    return f"{prefix}-{match.group(1).upper()}" if match else None


def strip_reply_prefixes(subject: str) -> str:
    """'RE: RV: Fwd: hola' -> 'hola'."""
    return _REPLY_PREFIX.sub("", subject).strip()


def clean_subject(subject: str, prefix: str) -> str:
    """A ticket subject: no reply prefixes, no bracketed code; "" when nothing is left (the
    templates word a missing subject in their own language)."""
    without_code = _code_pattern(prefix).sub("", strip_reply_prefixes(subject))
    without_brackets = re.sub(r"\[\s*\]", "", without_code)
    return strip_reply_prefixes(" ".join(without_brackets.split()))
