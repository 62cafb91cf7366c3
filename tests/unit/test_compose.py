"""compose writes mail bytes by hand: they must parse cleanly with the standard library and
say exactly what the email package's own EmailMessage said (kept here, and only here, as
the reference), with no header a customer's CR/LF could add."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, default

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailtickets.compose import (
    Envelope,
    OutgoingMail,
    base64_lines,
    compose,
    new_message_id,
    quoted_printable,
)
from mailtickets.mail import ParsedAttachment
from mailtickets.render import Rendered

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
SPANISH = "Facturación de marzo: ñandú, camión, 25 € y un cohete 🚀"
ENVELOPE = Envelope(
    from_address="soporte@hostingejemplo.es",
    from_name="Soporte Hosting Ejemplo",
    to=("lucia@estudiolucia.es",),
    code="SOP-00A1B2",
    in_reply_to="<orig-1@estudiolucia.es>",
    references=("<orig-1@estudiolucia.es>", "", "<orig-1@estudiolucia.es>"),
    auto_submitted="auto-replied",
)
TEXT = "Hola Lucía:\n\nHemos recibido su consulta sobre la facturación (25 €).\n\nUn saludo\n"
PDF = ParsedAttachment("factura ñ €.pdf", "application/pdf", bytes(range(256)) * 40)


def reference_compose(
    rendered: Rendered,
    envelope: Envelope,
    now: datetime,
    attachments: Sequence[ParsedAttachment] = (),
) -> OutgoingMail:
    """The previous compose, through EmailMessage: the reference the bytes are judged by."""
    msg = EmailMessage()
    subject = rendered.subject
    if envelope.code and f"[{envelope.code}]" not in subject:
        subject = f"[{envelope.code}] {subject}"
    message_id = new_message_id(envelope.code, envelope.from_address)
    msg["From"] = Address(display_name=envelope.from_name, addr_spec=envelope.from_address)
    msg["To"] = ", ".join(envelope.shown_to or envelope.to)
    msg["Subject"] = subject
    msg["Date"] = now
    msg["Message-ID"] = message_id
    msg["Reply-To"] = envelope.from_address
    if envelope.in_reply_to:
        msg["In-Reply-To"] = envelope.in_reply_to
    references = [r for r in envelope.references if r]
    if references:
        msg["References"] = " ".join(dict.fromkeys(references))
    if envelope.auto_submitted:
        msg["Auto-Submitted"] = envelope.auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Loop"] = envelope.from_address
    if envelope.code:
        msg["X-Mailtickets-Ticket"] = envelope.code
    msg.set_content(rendered.text)
    if rendered.html:
        msg.add_alternative(rendered.html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not (maintype and subtype) or maintype in ("multipart", "message"):
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    raw = msg.as_bytes(policy=SMTP)
    return OutgoingMail(
        message_id, envelope.from_address, tuple(envelope.to), raw, subject, rendered.text
    )


def parse(raw: bytes) -> EmailMessage:
    """The mail as the standard library reads it, after checking it is well formed:
    CRLF line ends only, header lines ≤ 78 and body lines ≤ 76, no defect anywhere."""
    assert b"\r" not in raw.replace(b"\r\n", b"") and b"\n" not in raw.replace(b"\r\n", b"")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert all(len(line) <= 78 for line in head.split(b"\r\n")), head
    assert all(len(line) <= 78 for line in body.split(b"\r\n")), body
    msg = message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    for part in msg.walk():
        assert not part.defects, part.defects
        for name in part:
            header = part[name]
            assert not header.defects, (name, header, header.defects)
    return msg


# Not what a reader sees: the random Message-ID, the boundary, how the body was encoded.
SKIPPED = ("Message-ID", "Content-Type", "Content-Transfer-Encoding")


def summary(raw: bytes) -> dict[str, object]:
    """What a reader of the mail sees, line ends aside."""
    msg = parse(raw)
    body = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert body is not None
    return {
        **{name: str(msg[name]) for name in msg if name not in SKIPPED},
        "text": body.get_content().replace("\r\n", "\n"),
        "html": html.get_content().replace("\r\n", "\n") if html is not None else None,
        "attachments": [
            (p.get_filename(), p.get_content_type(), p.get_payload(decode=True))
            for p in msg.iter_attachments()
        ],
        "structure": [p.get_content_type() for p in msg.walk()],
    }


def both(
    rendered: Rendered,
    envelope: Envelope = ENVELOPE,
    attachments: Sequence[ParsedAttachment] = (),
) -> tuple[dict[str, object], dict[str, object]]:
    return (
        summary(compose(rendered, envelope, NOW, attachments).raw),
        summary(reference_compose(rendered, envelope, NOW, attachments).raw),
    )


def test_a_spanish_notice_reads_as_the_email_package_wrote_it() -> None:
    rendered = Rendered(SPANISH, TEXT, f"<p>{SPANISH}</p>\n")
    envelope = Envelope(**{**ENVELOPE.__dict__, "from_name": "Soporte Ñandú €"})
    new, old = both(rendered, envelope, [PDF])
    assert new == old
    assert new["Subject"] == f"[SOP-00A1B2] {SPANISH}"
    assert new["From"] == "Soporte Ñandú € <soporte@hostingejemplo.es>"
    assert new["attachments"] == [("factura ñ €.pdf", "application/pdf", PDF.data)]
    assert new["structure"] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ]


def test_every_header_the_notifier_relies_on_is_written() -> None:
    out = compose(Rendered("Hola", TEXT, None), ENVELOPE, NOW)
    msg = parse(out.raw)
    assert msg["Message-ID"] == out.message_id
    assert msg["Date"] == "Wed, 25 Nov 2026 12:00:00 +0000"
    assert msg["Reply-To"] == msg["X-Loop"] == "soporte@hostingejemplo.es"
    assert msg["In-Reply-To"] == "<orig-1@estudiolucia.es>"
    assert msg["References"] == "<orig-1@estudiolucia.es>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["X-Mailtickets-Ticket"] == "SOP-00A1B2"
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert (out.subject, out.recipients, out.text) == (
        "[SOP-00A1B2] Hola",
        ("lucia@estudiolucia.es",),
        TEXT,
    )


def test_a_person_s_mail_has_no_automatic_headers_and_a_participant_sees_the_requester() -> None:
    envelope = Envelope(
        "soporte@hostingejemplo.es",
        "",
        ("socio@estudiolucia.es",),
        "SOP-1",
        shown_to=("lucia@estudiolucia.es", "socio@estudiolucia.es"),
    )
    new, old = both(Rendered("[SOP-1] Respuesta", TEXT, None), envelope)
    assert new == old
    assert new["To"] == "lucia@estudiolucia.es, socio@estudiolucia.es"
    assert new["Subject"] == "[SOP-1] Respuesta"
    assert "Auto-Submitted" not in new and "In-Reply-To" not in new


@pytest.mark.parametrize(
    "subject",
    [
        "Consulta " * 30,
        ("Facturación " * 20).strip(),
        "🚀" * 40,
        "x" * 300,
        "Dominio " + "ñ" * 200,
        "Ver https://panel.hostingejemplo.es/clientes/factura?id=123456789&descarga=si&f=pdf",
        "dos  espacios y   tres, ñ  al final",
        '(paréntesis) "comillas" _guiones_bajos_ y =igual= ?',
    ],
)
def test_long_and_awkward_subjects_fold_and_read_back_exactly(subject: str) -> None:
    new, old = both(Rendered(subject, TEXT, None))
    assert new["Subject"] == f"[SOP-00A1B2] {subject}"
    assert new == old


def test_text_that_looks_like_an_encoded_word_stays_as_written() -> None:
    # The email package decoded it on the way back, changing what the customer wrote.
    subject = "=?utf-8?q?no_es_una_palabra_codificada?= pero lo parece"
    assert summary(compose(Rendered(subject, TEXT, None), ENVELOPE, NOW).raw)["Subject"] == (
        f"[SOP-00A1B2] {subject}"
    )


def test_long_unbroken_lines_and_lines_a_relay_or_mbox_would_misread() -> None:
    text = (
        "From now on, everything is fine.\n"
        ".\n"
        ".hidden line\n"
        + "ñ" * 300
        + "\n"
        + "a" * 75
        + "\nFrom "
        + "b" * 72
        + "\n"
        + "x" * 75
        + "From the soft break\n"
        + "y" * 75
        + ".\n"  # b2a_qp leaves this "." alone on the line after its soft break
        + "trailing spaces   \n"
        + "tab\t\n"
        + "equals = sign\n"
    )
    out = compose(Rendered("Líneas", text, text), ENVELOPE, NOW)
    lines = out.raw.split(b"\r\n")
    assert not [line for line in lines if line.startswith(b"From ") or line == b"."]
    assert all(len(line) <= 76 for line in out.raw.partition(b"\r\n\r\n")[2].split(b"\r\n"))
    new = summary(out.raw)
    assert new["text"] == new["html"] == text
    assert new == summary(reference_compose(Rendered("Líneas", text, text), ENVELOPE, NOW).raw)


@pytest.mark.parametrize(
    "filename",
    [
        "captura.png",
        "Presupuesto año 2026 – revisión final (versión definitiva) ñ€.pdf",
        'comillas "y" barra \\ invertida.txt',
        "n" * 120 + ".txt",
        "😀.zip",
    ],
)
def test_attachments_keep_their_bytes_and_names(filename: str) -> None:
    attachment = ParsedAttachment(filename, "image/png", bytes(range(256)) * 3 + b"\x00")
    new, old = both(Rendered("Adjunto", TEXT, None), attachments=[attachment])
    assert new["attachments"] == [(filename, "image/png", attachment.data)]
    assert new == old


def test_a_forwarded_mail_or_a_junk_type_travels_as_a_plain_file() -> None:
    attachments = [
        ParsedAttachment("dsn.eml", "message/delivery-status", b"Reporting-MTA: x\r\n"),
        ParsedAttachment("mail.eml", "message/rfc822", b"From: a@b\r\n\r\nhola\r\n"),
        ParsedAttachment("x.bin", "no type\r\nX-Evil: 1", b"\xff"),
        ParsedAttachment("empty.txt", "text/plain; charset=latin-1", b""),
        ParsedAttachment("", "application/pdf", b"%PDF"),
    ]
    msg = parse(compose(Rendered("Adjuntos", TEXT, None), ENVELOPE, NOW, attachments).raw)
    found = [
        (p.get_filename(), p.get_content_type(), p.get_payload(decode=True))
        for p in msg.iter_attachments()
    ]
    assert found == [
        ("dsn.eml", "application/octet-stream", attachments[0].data),
        ("mail.eml", "application/octet-stream", attachments[1].data),
        ("x.bin", "application/octet-stream", b"\xff"),
        ("empty.txt", "text/plain", b""),
        (None, "application/pdf", b"%PDF"),
    ]
    assert "X-Evil" not in str(msg)


@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\r\n\t", "\x0b", "\x00"])
def test_a_line_break_in_a_subject_or_a_name_never_starts_a_header(breaker: str) -> None:
    injected = f"Hola{breaker}Bcc: victima@ejemplo.com{breaker}X-Evil: 1"
    envelope = Envelope(
        **{
            **ENVELOPE.__dict__,
            "from_name": f"Soporte{breaker}Bcc: otra@ejemplo.com",
            "in_reply_to": f"<a@b>{breaker}X-Evil: 2",
        }
    )
    msg = parse(compose(Rendered(injected, TEXT, None), envelope, NOW).raw)
    assert msg.get_all("Bcc") is None and msg.get_all("X-Evil") is None
    assert len(msg.get_all("Subject") or []) == len(msg.get_all("From") or []) == 1
    assert msg["Subject"] == "[SOP-00A1B2] " + re.sub(r"[\x00-\x1f]", " ", injected)
    assert msg["From"].addresses[0].addr_spec == "soporte@hostingejemplo.es"


def test_a_line_break_in_an_address_never_starts_a_header() -> None:
    envelope = Envelope(**{**ENVELOPE.__dict__, "to": ("lucia@estudiolucia.es\r\nBcc: x@y.es",)})
    raw = compose(Rendered("Hola", TEXT, None), envelope, NOW).raw
    assert not [line for line in raw.split(b"\r\n") if line.lower().startswith(b"bcc")]
    assert message_from_bytes(raw, policy=default).get_all("Bcc") is None


def test_display_names_are_quoted_or_encoded_as_needed() -> None:
    for name in ("Ana", "Soporte, Hosting Ejemplo", 'Ana "la jefa" García', "O'Brien (soporte)"):
        envelope = Envelope(**{**ENVELOPE.__dict__, "from_name": name})
        msg = parse(compose(Rendered("Hola", TEXT, None), envelope, NOW).raw)
        assert msg["From"].addresses[0].display_name == name
        assert msg["From"].addresses[0].addr_spec == "soporte@hostingejemplo.es"


def test_a_subject_with_an_undecodable_byte_still_composes() -> None:
    msg = parse(compose(Rendered("Factura \udcf1", TEXT, None), ENVELOPE, NOW).raw)
    assert msg["Subject"] == "[SOP-00A1B2] Factura ?"


def test_boundaries_differ_and_never_occur_in_a_part() -> None:
    raws = [compose(Rendered("Hola", TEXT, "<p>hola</p>"), ENVELOPE, NOW, [PDF]).raw for _ in "ab"]
    boundaries = [parse(raw).get_boundary() for raw in raws]
    assert boundaries[0] != boundaries[1]
    assert all(raw.count(f"--{b}".encode()) == 3 for raw, b in zip(raws, boundaries, strict=True))


def test_base64_and_quoted_printable_helpers() -> None:
    assert base64_lines(b"") == b""
    assert base64_lines(b"x" * 57) == b"eHh4" * 19 + b"\r\n"
    assert all(len(line) == 76 for line in base64_lines(b"x" * 570).split(b"\r\n")[:-1])
    assert quoted_printable("a\r\nb\rc\n") == b"a\r\nb\r\nc\r\n"
    assert quoted_printable("sin salto") == b"sin salto\r\n"


@settings(max_examples=300, deadline=None)
@given(
    subject=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=200),
    text=st.text(st.characters(blacklist_categories=["Cs"]), max_size=400),
    name=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40),
)
def test_any_text_reads_back_as_the_email_package_wrote_it(
    subject: str, text: str, name: str
) -> None:
    subject = " ".join(subject.split())  # as the renderer hands it over
    envelope = Envelope(**{**ENVELOPE.__dict__, "from_name": name})
    rendered = Rendered(subject, text, None)
    msg = parse(compose(rendered, envelope, NOW).raw)
    body = msg.get_body(("plain",))
    assert body is not None
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    assert body.get_content().replace("\r\n", "\n") == (
        expected if expected.endswith("\n") else expected + "\n"
    )
    assert msg["Subject"] == f"[SOP-00A1B2] {subject}"
    # Where the email package's own mail reads back as written, this one must too (the
    # standard parser has quirks with some whitespace in names: both mails meet them).
    old = message_from_bytes(reference_compose(rendered, envelope, NOW).raw, policy=default)
    names = [m["From"].addresses[0].display_name for m in (old, msg)]
    if names[0] == name.strip(" "):
        assert names[1] == names[0]
