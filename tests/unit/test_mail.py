"""Parsing, triage and routing over the .eml corpus: no servers, real mail."""

from __future__ import annotations

import tracemalloc

import pytest

from mailtickets.customer_mail import mentions_domain
from mailtickets.mail import dedup_key, header_message_id, header_sender, parse_mail, safe_filename
from mailtickets.quoting import _PARSER, _before_first_header, latest_reply
from mailtickets.routing import fold, priority_of, route
from mailtickets.settings import Department
from mailtickets.triage import triage
from tests.conftest import DATA, eml

OURS = frozenset({"soporte@hostingejemplo.es", "facturacion@hostingejemplo.es"})
DEPARTMENTS = (
    Department("Hosting", ("soporte@hostingejemplo.es",), ("wordpress", "web"), (), True),
    Department("Facturación", ("facturacion@hostingejemplo.es",), ("factura", "cobro")),
    Department("Dominios", ("dominios@hostingejemplo.es",), ("dominio", "renovación", "dns")),
)


def test_gmail_utf8_quoted_printable() -> None:
    mail = parse_mail(eml("new-gmail-plain.eml"))
    assert mail.from_addr == "laura.martinez@gmail.com" and mail.from_name == "Laura Martínez"
    assert mail.to == ("soporte@hostingejemplo.es",)
    assert mail.message_id.startswith("<") and mail.message_id.endswith("@mail.gmail.com>")
    assert "floristerialaura.es" in mail.text and mail.date is not None
    assert mail.date.tzinfo is not None


def test_outlook_latin1_encoded_word_subject_and_body() -> None:
    mail = parse_mail(eml("new-outlook-latin1.eml"))
    assert mail.subject == "Facturación duplicada en la factura de octubre"
    assert mail.from_name == "José Pérez"
    assert "\ufffd" not in mail.text and "é" in mail.text


def test_windows1252_8bit_body() -> None:
    mail = parse_mail(eml("new-thunderbird-windows1252.eml"))
    assert "€" in mail.text and "\ufffd" not in mail.text


def test_apple_mail_attachment_with_rfc2231_name_is_decoded_whole() -> None:
    mail = parse_mail(eml("new-apple-mail-attachment.eml"))
    (attachment,) = mail.attachments
    assert attachment.filename == "Captura de pantalla 2026-11-20 a las 9.41.03.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.data.startswith(b"%PDF-1.4") and len(attachment.data) >= 2_000_000


def test_broken_mime_parses_and_hostile_names_are_made_safe() -> None:
    mail = parse_mail(eml("broken-mime.eml"))
    assert mail.from_addr == "pedro@pedrosanchez.es"
    for attachment in mail.attachments:
        name = attachment.filename
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert all(ord(c) >= 32 for c in name)


def test_html_only_mail_is_sanitised_and_has_a_text_version() -> None:
    mail = parse_mail(eml("bulk-newsletter.eml"))
    assert "<script" not in mail.html.lower() and "onclick" not in mail.html.lower()
    assert mail.text and "<" not in mail.text.split("\n")[0]


def test_safe_filename() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\x\\factura.pdf") == "factura.pdf"
    assert safe_filename("a\x00b\x1fc.txt") == "abc.txt"
    assert safe_filename("...") == "attachment"


def test_message_id_and_dedup_key() -> None:
    raw = eml("new-gmail-plain.eml")
    assert header_message_id(raw) == parse_mail(raw).message_id
    assert dedup_key(raw, "<a@b>") == "mid:<a@b>"
    no_id = eml("no-message-id.eml")
    assert header_message_id(no_id) == ""
    assert dedup_key(no_id, "").startswith("sha256:")
    assert dedup_key(no_id, "") != dedup_key(no_id + b"\n", "")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("autoreply-vacation.eml", "Auto-Submitted"),
        ("autoreply-outlook-oof.eml", "X-Auto-Response-Suppress"),
        ("bulk-newsletter.eml", "Precedence: bulk"),
        ("dsn-bounce.eml", "bounce"),
        ("loop-own-mail.eml", "X-Loop"),
    ],
)
def test_machine_mail_is_recognised_with_its_reason(name: str, reason: str) -> None:
    verdict = triage(parse_mail(eml(name)), OURS)
    assert verdict.automatic and any(reason in r for r in verdict.reasons), verdict.reasons


@pytest.mark.parametrize(
    "name",
    [
        "new-gmail-plain.eml",
        "new-outlook-latin1.eml",
        "new-apple-mail-attachment.eml",
        "reply-outlook-rv-latin1.eml",
        "staff-reply-thunderbird.eml",
        "new-english-plain.eml",
    ],
)
def test_mail_people_wrote_is_not_automatic(name: str) -> None:
    assert not triage(parse_mail(eml(name)), OURS).automatic


def test_routing_by_address_then_keyword_then_default() -> None:
    assert route(parse_mail(eml("new-outlook-latin1.eml")), DEPARTMENTS[1:]).department == (
        "Facturación"
    )
    by_keyword = route(parse_mail(eml("new-thunderbird-windows1252.eml")), DEPARTMENTS[1:])
    assert by_keyword.department == "Dominios" and "keyword" in by_keyword.reasons[0]
    plain = (Department("Comercial", (), ("presupuesto",)), Department("Hosting", default=True))
    fallback = route(parse_mail(eml("new-gmail-plain.eml")), plain)
    assert fallback.department == "Hosting" and "default" in fallback.reasons[0]


def test_priority_from_subject_tag_and_headers() -> None:
    assert priority_of(parse_mail(eml("new-english-plain.eml")))[0] == "urgent"
    assert priority_of(parse_mail(eml("new-gmail-plain.eml")))[0] == "normal"


def test_fold_accents_and_case() -> None:
    assert fold("Facturación") == fold("FACTURACION") == "facturacion"


def test_quoted_history_is_cut_from_replies() -> None:
    outlook = latest_reply(parse_mail(eml("reply-outlook-rv-latin1.eml")).text)
    assert "Adjunto los datos" in outlook and "Enviado el:" not in outlook
    staff = latest_reply(parse_mail(eml("staff-reply-thunderbird.eml")).text)
    assert staff.count("Revisa que el puerto SMTP sea el 465 con SSL.") == 1
    assert "escribió:" not in staff
    gmail = latest_reply(parse_mail(eml("reply-gmail-edited-subject.eml")).text)
    assert "escribió:" not in gmail and "\n>" not in gmail


def test_a_long_unmarked_history_is_cut_where_its_header_is() -> None:
    # Outlook plain text: the old message under "On … wrote:" without ">" marks, a long
    # log inside it.
    reply = latest_reply(parse_mail(eml("reply-english-unmarked-history.eml")).text)
    assert reply.startswith("Hi,") and reply.endswith("Daniel Brooks")
    assert "wrote:" not in reply and "proxy_fcgi" not in reply


def test_a_pasted_log_is_kept_and_the_quote_under_it_cut_in_bounded_memory() -> None:
    # 200 KB of pasted error log below her signature: mail-parser-reply's signature
    # pattern held about 300 bytes per character of what followed (61 MB here).
    text = parse_mail(eml("reply-pasted-error-log.eml")).text
    latest_reply("Hola")  # its patterns compiled outside the measure
    tracemalloc.start()
    try:
        reply = latest_reply(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20
    assert "-------- fin --------" in reply and reply.count("[proxy_fcgi:error]") == 600
    assert "Sara Sanz" in reply  # the signature above the log is hers, and kept
    assert "wrote:" not in reply and "Hola Sara:" not in reply  # the quote, 200 KB down


def test_the_reply_is_what_mail_parser_reply_would_cut() -> None:
    # Its reply part, found without its signature patterns, over every test mail.
    for path in sorted(DATA.glob("*.eml")):
        text = parse_mail(path.read_bytes()).text.replace("\r\n", "\n")
        assert _before_first_header(text) == (_PARSER.parse_reply(text) or "").strip(), path


def test_acknowledgement_asks_for_a_domain_only_when_none_is_named() -> None:
    assert mentions_domain("no va la web www.midominio.es")
    assert mentions_domain("mirad https://tienda.example.com/carrito")
    assert not mentions_domain("me han cobrado dos veces la factura de octubre")
    assert mentions_domain("no puedo enviar desde ana@cliente.es")
    ours = frozenset({"hostingejemplo.es"})
    assert not mentions_domain("os escribí a soporte@hostingejemplo.es", ours)


def test_an_encoded_display_name_cannot_pose_as_another_address() -> None:
    raw = (
        b"From: =?utf-8?q?Ana_=3Cana.garcia=40hostingejemplo.es=3E?= <eve@evil.example>\r\n"
        b"To: soporte@hostingejemplo.es\r\nSubject: [SOP-7KQ2MX] x\r\n\r\n#cerrar\r\n"
    )
    mail = parse_mail(raw)
    assert mail.from_addr == "eve@evil.example"
    assert mail.from_name == "Ana <ana.garcia@hostingejemplo.es>"


def test_non_ascii_addresses_are_not_taken_as_recipients() -> None:
    raw = (
        "From: laura@cliente.es\r\nTo: soporte@hostingejemplo.es\r\n"
        "Cc: José <josé@ejemplo.es>, socia@cliente.es\r\nSubject: x\r\n\r\nhola\r\n"
    ).encode()
    assert parse_mail(raw).cc == ("socia@cliente.es",)


@pytest.mark.parametrize(
    ("head", "sender"),
    [
        (
            b"From: Laura <Laura.M@Gmail.com>\r\nSubject: x\r\n\r\nFrom: body@x.es\r\n",
            "laura.m@gmail.com",
        ),
        (b'Subject: x\r\nFrom:\r\n "Garcia, Ana" <ana@x.es>\r\n\r\n', "ana@x.es"),
        (b"from : plain@x.es\n\n", "plain@x.es"),
        (b"X-Original-From: z@z.es\r\nFrom: c@x.es\r\n\r\n", "c@x.es"),
        (b"From: a@x.es, b@x.es\r\n\r\n", ""),  # two mailboxes: no one sender
        (b"From: A <a@x.es>, B <b@x.es>\r\n\r\n", ""),
        (b"From: a@x.es\r\nFrom: b@x.es\r\n\r\n", ""),  # two From fields
        (b"Fromage: x@y.es\r\n\r\n", ""),
        (b"Subject: a\r\n from: folded@x.es\r\n\r\n", ""),  # a folded line, not a field
        (b"From: Sin direccion\r\n\r\n", ""),
    ],
)
def test_the_ordering_key_of_a_saved_mail_is_its_one_from_address(head: bytes, sender: str) -> None:
    assert header_sender(head) == sender
