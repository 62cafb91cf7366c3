"""The bytes transfer.py puts after DATA are the ones aiosmtplib's own rewrite would."""

from __future__ import annotations

from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from hypothesis import given, settings
from hypothesis import strategies as st

from mailtickets.transfer import stuffed, wire_lines


def by_aiosmtplib(raw: bytes) -> bytes:
    """What `SMTPProtocol.execute_data_command` writes after DATA."""
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(raw)) + b".\r\n"


# Line ends and dots are what the rewrite is about: draw mostly those.
PIECES = st.sampled_from([b"\r\n", b"\n", b"\r", b".", b"..", b"a", b" ", b"\r\n.", b"\xc3\xb1"])
MESSAGES = st.lists(PIECES, max_size=40).map(b"".join)


@settings(max_examples=3000, deadline=None)
@given(MESSAGES)
def test_the_bytes_after_data_are_aiosmtplibs_for_any_line_ends_and_dots(raw: bytes) -> None:
    assert stuffed(wire_lines(raw)) == by_aiosmtplib(raw)
    # SIZE announces the message as it is carried, before dot-stuffing (as sendmail does).
    assert len(wire_lines(raw)) == len(normalize_message_line_endings(raw))


def test_composed_mail_is_carried_without_a_copy_of_its_lines() -> None:
    composed = b"Subject: Hola\r\n\r\n.linea con punto\r\nfin\r\n"
    assert wire_lines(composed) is composed
    assert stuffed(composed) == b"Subject: Hola\r\n\r\n..linea con punto\r\nfin\r\n.\r\n"


def test_lone_line_ends_and_a_missing_last_one_are_mended() -> None:
    assert wire_lines(b"a\nb\rc") == b"a\r\nb\r\nc\r\n"
    assert wire_lines(b"a\r\nb") == b"a\r\nb\r\n"
    assert stuffed(wire_lines(b".")) == b"..\r\n.\r\n"
    assert stuffed(wire_lines(b"")) == b"\r\n.\r\n"
