"""The bytes transfer.py puts after DATA: every line CRLF-ended and dot-stuffed, the lone
dot last, as RFC 5321 §4.5.2 (and aiosmtplib's own rewrite) has it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailtickets.transfer import stuffed, wire_lines


def lines_of(raw: bytes) -> list[bytes]:
    """The lines of `raw`, split at CRLF, a lone LF or a lone CR, one char at a time: an
    oracle written another way than the code under test."""
    lines, line, at = [], bytearray(), 0
    while at < len(raw):
        char = raw[at : at + 1]
        if char in (b"\r", b"\n"):
            lines.append(bytes(line))
            line = bytearray()
            at += 2 if raw[at : at + 2] == b"\r\n" else 1
        else:
            line += char
            at += 1
    if line or not lines:  # a last line without its end; an empty message is one line
        lines.append(bytes(line))
    return lines


# Line ends and dots are what the rewrite is about: draw mostly those.
PIECES = st.sampled_from([b"\r\n", b"\n", b"\r", b".", b"..", b"a", b" ", b"\r\n.", b"\xc3\xb1"])
MESSAGES = st.lists(PIECES, max_size=40).map(b"".join)


@settings(max_examples=3000, deadline=None)
@given(MESSAGES)
def test_every_line_is_crlf_ended_and_dot_stuffed_whatever_its_line_ends(raw: bytes) -> None:
    lines = lines_of(raw)
    assert wire_lines(raw) == b"".join(line + b"\r\n" for line in lines)
    dotted = [b"." + line if line.startswith(b".") else line for line in lines]
    assert stuffed(wire_lines(raw)) == b"".join(line + b"\r\n" for line in dotted) + b".\r\n"


def test_composed_mail_is_carried_without_a_copy_of_its_lines() -> None:
    composed = b"Subject: Hola\r\n\r\n.linea con punto\r\nfin\r\n"
    assert wire_lines(composed) is composed
    assert stuffed(composed) == b"Subject: Hola\r\n\r\n..linea con punto\r\nfin\r\n.\r\n"


def test_lone_line_ends_and_a_missing_last_one_are_mended() -> None:
    assert wire_lines(b"a\nb\rc") == b"a\r\nb\r\nc\r\n"
    assert wire_lines(b"a\r\nb") == b"a\r\nb\r\n"
    assert wire_lines(b"a\r\r\n") == b"a\r\n\r\n"
    assert stuffed(wire_lines(b".")) == b"..\r\n.\r\n"
    assert stuffed(wire_lines(b"")) == b"\r\n.\r\n"
