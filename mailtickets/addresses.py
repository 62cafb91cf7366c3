"""Addresses out of From/To/Cc headers, read whole by the stdlib header registry (pure).

A display name never supplies an address: the header is parsed as RFC 5322 structure first
and encoded words are decoded only inside the parts they stand in, so
`=?utf-8?q?Luc=C3=ADa:lucia@example.com;?= <marcos@x.example>` is Marcos's mail.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from email import errors, policy
from email.headerregistry import Address
from functools import lru_cache

# A header this long is no person's address list; it is not parsed at all. The stdlib
# parser is slow (worse than linear) on hostile runs of quotes, backslashes or commas, so a
# From is bounded tightly and a long To/Cc is read one comma-separated piece at a time.
MAX_ADDRESS_HEADER = 65_536
MAX_FROM_HEADER = 2_048
MAX_PIECE = 1_024
MAX_SHOWN = 200  # how much of a bad header a problem line quotes
MAX_DISPLAY_NAME = 200
MAX_ADDRESS = 254  # RFC 5321's path limit: a longer one cannot be sent to anyway


@dataclass(frozen=True)
class Mailbox:
    """The one author of a mail, or why there is none ("" address)."""

    address: str
    name: str
    problem: str = ""


# The stdlib registry takes a few hundred µs a header, and the same headers come again and
# again (every customer writes To: our address; a customer's From in each of their mails).
# The result is immutable, and headers are bounded (MAX_FROM_HEADER, MAX_PIECE).
@lru_cache(maxsize=4096)
def _parsed(value: str) -> tuple[tuple[Address, ...], tuple[str | None, ...], bool]:
    """Addresses, the group names they came in (None outside a group), and whether the
    header was malformed in a way that makes its addresses untrustworthy."""
    unfolded = re.sub(r"[\r\n]+", " ", value).strip()
    return _plain_mailbox(unfolded) or _by_registry(unfolded)


def _by_registry(unfolded: str) -> tuple[tuple[Address, ...], tuple[str | None, ...], bool]:
    try:
        header = policy.default.header_factory("from", unfolded)
        groups = header.groups
    except (
        ValueError,
        TypeError,
        IndexError,
        AttributeError,
        RecursionError,  # deeply nested comments
        errors.HeaderParseError,
    ):
        # The stdlib's parser has its own bugs on hostile input (e.g. ':;'): no address.
        return (), (), True
    invalid = any(_serious(d) for d in header.defects)
    found = tuple((a, g.display_name) for g in groups for a in g.addresses)
    # The registry decodes encoded words even inside an address (user@=?utf-8?q?x.es?=),
    # which no DMARC check upstream saw as that domain: an address must stand in the header
    # as written.
    raw = unfolded.lower()
    invalid = invalid or any(_spec(a).lower() not in raw for a, _ in found)
    return tuple(a for a, _ in found), tuple(g for _, g in found), invalid


# Most From headers are one of three plain shapes: `local@domain`, `Words <local@domain>`,
# `=?charset?Q|B?...?= <local@domain>` (webmail's accented names: most of a Spanish
# inbox). Read by a strict pattern they give exactly what the registry gives (a property
# test compares the two), for a tenth of its cost; anything else, however slightly off
# (quotes, comments, dots in a name, two encoded words, an unknown charset, bad padding),
# goes to the registry. Atoms here leave out "=" and "?", so no encoded word can hide in
# a name's words or in the address.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]"
_SPEC = rf"(?P<local>{_ATEXT}+(?:\.{_ATEXT}+)*)@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
_NAMED_MAILBOX = re.compile(
    rf"(?:(?P<words>{_ATEXT}+(?: {_ATEXT}+)*)"
    r"|=\?(?P<charset>(?i:utf-8|iso-8859-1|iso-8859-15|windows-1252|us-ascii))"
    r"\?(?:(?i:q)\?(?P<q>(?:[A-Za-z0-9!*+/_.-]|=[0-9A-F]{2})+)|(?i:b)\?(?P<b>[A-Za-z0-9+/]+={0,2}))"
    rf"\?=) +<{_SPEC}>"
)
_BARE_MAILBOX = re.compile(_SPEC)
_QUOTED_OCTET = re.compile(r"=([0-9A-F]{2})")


def _plain_mailbox(
    unfolded: str,
) -> tuple[tuple[Address, ...], tuple[str | None, ...], bool] | None:
    """The registry's answer for a header of one plain shape, or None to ask the registry."""
    found = _NAMED_MAILBOX.fullmatch(unfolded) or _BARE_MAILBOX.fullmatch(unfolded)
    if found is None:
        return None
    groups = found.groupdict()
    name = groups.get("words") or ""
    if groups.get("charset"):
        try:
            if found["q"]:
                octets = _QUOTED_OCTET.sub(
                    lambda m: chr(int(m[1], 16)), found["q"].replace("_", " ")
                ).encode("latin-1")
            else:
                octets = binascii.a2b_base64(found["b"], strict_mode=True)
            name = octets.decode(found["charset"])
        except (binascii.Error, UnicodeDecodeError, LookupError):
            return None
        # The registry writes a run of spaces in a decoded name as one.
        if not name or not name.isprintable() or "  " in name:
            return None
    return (Address(name, found["local"], found["domain"]),), (None,), False


def _serious(defect: errors.MessageDefect) -> bool:
    """Whether a defect may change which address the header names. A display name written
    as an encoded word with no space before the "<" (common in webmail) is only cosmetic."""
    text = str(defect)
    cosmetic = "whitespace" in text and "encoded" in text
    return isinstance(defect, errors.InvalidHeaderDefect) and not cosmetic


def _spec(address: Address) -> str:
    try:
        return address.addr_spec
    except (ValueError, IndexError):
        return ""


def _usable(address: Address) -> str:
    """The lower-cased addr-spec when it is a plain ASCII local@domain, else ''."""
    spec = _spec(address)
    local, at, domain = spec.rpartition("@")
    if len(spec) > MAX_ADDRESS or not (at and local and "." in domain and spec.isascii()):
        return ""
    if any(c in spec for c in ' <>"\\'):  # quoted local parts are no customer's address
        return ""
    return spec.lower()


def plain_address(text: str) -> str | None:
    """`text` when it is exactly one usable address (as config and contact lists want), lower-
    cased; None otherwise."""
    addresses, groups, invalid = _parsed(text)
    if invalid or len(addresses) != 1 or groups[0] is not None or addresses[0].display_name:
        return None
    spec = _usable(addresses[0])
    return spec if spec and spec == text.strip().lower() else None


def author(values: list[str]) -> Mailbox:
    """SPEC §4, §8: the sender is the one mailbox of the one From header; anything else
    (no From, several, a group, unparseable) is an unknown sender."""
    if not values:
        return Mailbox("", "", "the mail has no From header")
    if len(values) > 1:
        return Mailbox("", "", f"the mail has {len(values)} From headers")
    shown = _shown(values[0])
    if len(values[0]) > MAX_FROM_HEADER:
        return Mailbox("", "", f"the From header is {len(values[0]):,} characters long")
    addresses, groups, invalid = _parsed(values[0])
    if invalid:
        return Mailbox("", "", f"the From header cannot be read as one address: {shown}")
    if len(addresses) != 1:
        return Mailbox("", "", f"the From header names {len(addresses)} mailboxes")
    if groups[0] is not None:
        return Mailbox("", "", "the From header is a group")
    spec = _usable(addresses[0])
    if not spec:
        return Mailbox("", "", f"the From header holds no usable address: {shown}")
    name = " ".join(addresses[0].display_name.split())[:MAX_DISPLAY_NAME]
    return Mailbox(spec, name)


def recipients(values: list[str]) -> tuple[str, ...]:
    """Every usable address of To or Cc headers, groups included; a malformed header gives
    none, since what it seems to name may come from a display name."""
    found: list[str] = []
    for value in values:
        if len(value) > MAX_ADDRESS_HEADER:
            continue
        for piece in _pieces(value):
            addresses, _, invalid = _parsed(piece)
            if not invalid:
                found.extend(spec for a in addresses if (spec := _usable(a)))
    return tuple(dict.fromkeys(found))


def _pieces(value: str) -> list[str]:
    """A plain list (no quotes, comments or groups) one address at a time; anything else
    whole, and only when it is short enough to parse quickly."""
    if not any(c in value for c in '"()\\:;'):
        return [p for p in value.split(",") if p.strip() and len(p) <= MAX_PIECE]
    return [value] if len(value) <= MAX_PIECE * 2 else []


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"
