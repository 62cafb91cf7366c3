"""Property tests: whatever MIME, headers and charsets arrive, parse and decide never raise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtickets.bounces import read_bounce
from mailtickets.codes import find_code
from mailtickets.decide import Sender, decide, find_thread
from mailtickets.mail import dedup_key, header_message_id, parse_mail
from mailtickets.quoting import latest_reply
from mailtickets.routing import route
from mailtickets.settings import Limits
from mailtickets.triage import triage
from tests.unit.test_mail import DEPARTMENTS, OURS

CHARSETS = st.sampled_from(
    [
        "utf-8",
        "iso-8859-1",
        "windows-1252",
        "utf-9",
        "x-unknown",
        "",
        "utf-16",
        "gb2312",
        'us-ascii"',
        "koi8-r",
    ]
)
ENCODINGS = st.sampled_from(
    ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "b64 ", ""]
)
TYPES = st.sampled_from(
    [
        "text/plain",
        "text/html",
        "application/octet-stream",
        "image/png",
        "message/rfc822",
        "text/rfc822-headers",
        "message/delivery-status",
        "text/",
        "garbage",
    ]
)
HEADER_TEXT = st.one_of(
    st.text(max_size=60),
    st.builds(lambda cs, t: f"=?{cs}?Q?{t}?=", CHARSETS, st.text("abc=_?0F", max_size=20)),
    st.builds(lambda cs, t: f"=?{cs}?B?{t}?=", CHARSETS, st.text("QUJD=+/", max_size=20)),
)


def header_line(name: str, value: str) -> bytes:
    return f"{name}: {value}".encode("utf-8", "surrogateescape").replace(b"\n", b" ") + b"\r\n"


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    head = header_line("Content-Type", f"{draw(TYPES)}; charset={draw(CHARSETS)}")
    head += header_line("Content-Transfer-Encoding", draw(ENCODINGS))
    if draw(st.booleans()):
        name = draw(st.text(max_size=30))
        head += header_line("Content-Disposition", f'attachment; filename="{name}"')
    return head + b"\r\n" + draw(st.binary(max_size=300))


def multipart(children: list[bytes], boundary: str, close: bool) -> bytes:
    head = header_line("Content-Type", f'multipart/mixed; boundary="{boundary}"') + b"\r\n"
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + c + b"\r\n" for c in children)
    return head + body + (b"--" + boundary.encode() + b"--\r\n" if close else b"")


PARTS = st.recursive(
    leaf(),
    lambda inner: st.builds(
        multipart,
        st.lists(inner, max_size=4),
        st.text("abcXYZ0123-_=", min_size=1, max_size=12),
        st.booleans(),
    ),
    max_leaves=12,
)


@st.composite
def hostile_mail(draw: st.DrawFn) -> bytes:
    headers = b"".join(
        header_line(name, draw(HEADER_TEXT))
        for name in draw(
            st.lists(
                st.sampled_from(
                    [
                        "From",
                        "To",
                        "Cc",
                        "Subject",
                        "Message-ID",
                        "In-Reply-To",
                        "References",
                        "Date",
                        "Auto-Submitted",
                        "Precedence",
                        "Return-Path",
                        "Importance",
                        "X-Priority",
                        "Authentication-Results",
                        "List-Id",
                        "Delivered-To",
                    ]
                ),
                max_size=12,
            )
        )
    )
    return headers + b"MIME-Version: 1.0\r\n" + draw(PARTS)


def run_all_stages(raw: bytes) -> None:
    limits = Limits(max_message_bytes=50_000, max_attachments=3, max_mime_depth=4)
    mail = parse_mail(raw, limits)
    verdict = triage(mail, OURS)
    route(mail, DEPARTMENTS)
    latest_reply(mail.text)
    find_code(mail.subject, "SOP")
    dedup_key(raw, header_message_id(raw))
    read_bounce(raw, mail)
    now = datetime(2026, 11, 23, tzinfo=UTC)
    sender = Sender(mail.from_addr, is_staff=False, customer_id=None)
    decide(find_thread(None, None), sender, verdict, now, timedelta(days=30))
    for attachment in mail.attachments:
        assert "/" not in attachment.filename and "\\" not in attachment.filename
        assert all(ord(c) >= 32 for c in attachment.filename)
    assert "<script" not in mail.html.lower()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_mail())
def test_structured_hostile_mail_never_escapes_as_an_exception(raw: bytes) -> None:
    run_all_stages(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes_never_escape_as_an_exception(raw: bytes) -> None:
    run_all_stages(raw)
