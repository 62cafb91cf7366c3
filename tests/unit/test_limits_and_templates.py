"""Limits on hostile mail, and every template rendering in both languages (no servers)."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from mailtickets.check import sample_context
from mailtickets.config import load_settings
from mailtickets.mail import parse_mail
from mailtickets.render import KINDS, Renderer
from mailtickets.settings import Limits
from tests.conftest import eml

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def with_attachments(count: int, size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carmen <carmen@estudiocarmen.com>"
    msg["To"] = "soporte@hostingejemplo.es"
    msg["Subject"] = "Capturas del error"
    msg["Message-ID"] = "<capturas@estudiocarmen.com>"
    msg.set_content("Adjunto capturas.")
    for n in range(count):
        msg.add_attachment(bytes(size), maintype="image", subtype="png", filename=f"c{n}.png")
    return msg.as_bytes()


def nested(depth: int) -> bytes:
    inner = b"Content-Type: text/plain\r\n\r\nfondo\r\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        inner = (
            b"Content-Type: multipart/mixed; boundary="
            + boundary
            + b"\r\n\r\n--"
            + boundary
            + b"\r\n"
            + inner
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    return b"From: x@y.es\r\nSubject: profundo\r\nMIME-Version: 1.0\r\n" + inner


def test_a_message_over_the_size_limit_keeps_its_headers_and_says_why() -> None:
    mail = parse_mail(eml("new-apple-mail-attachment.eml"), Limits(max_message_bytes=100_000))
    assert mail.from_addr == "carmen@estudiocarmen.com" and mail.subject
    assert mail.attachments == () and "only its headers" in mail.problems[0].text


def test_attachments_over_count_or_size_are_dropped_with_a_reason() -> None:
    limits = Limits(max_attachments=2, max_attachment_bytes=5_000)
    mail = parse_mail(with_attachments(3, 1_000), limits)
    assert [a.filename for a in mail.attachments] == ["c0.png", "c1.png"]
    assert "beyond the limit of 2" in mail.problems[0].text
    big = parse_mail(with_attachments(1, 6_000), limits)
    assert big.attachments == () and "over the 5,000-byte limit" in big.problems[0].text


@pytest.mark.parametrize("depth", [12, 400])
def test_deep_nesting_is_refused_without_recursing(depth: int) -> None:
    mail = parse_mail(nested(depth), Limits(max_mime_depth=8))
    assert mail.subject == "profundo" and "nested deeper" in mail.problems[0].text


def test_ordinary_mail_breaks_no_limit() -> None:
    assert parse_mail(eml("new-apple-mail-attachment.eml")).problems == ()


@pytest.mark.parametrize("locale", ["es", "en"])
def test_every_template_renders_in_both_languages(
    locale: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "imap.password").write_text("x")
    monkeypatch.setenv("MAILTICKETS_SMTP_PASSWORD", "y")
    config = tmp_path / "c.toml"
    config.write_text(
        EXAMPLE.read_text().replace("/etc/mailtickets/imap.password", "imap.password")
    )
    context = sample_context(load_settings(config))
    renderer = Renderer(locale)
    for kind in KINDS:
        rendered = renderer.render(kind, context)
        assert rendered.subject and rendered.text.strip(), kind
        assert "{{" not in rendered.text and "{%" not in rendered.subject, kind


def test_html_templates_are_autoescaped(tmp_path: Path) -> None:
    (tmp_path / "es").mkdir()
    (tmp_path / "es" / "answer.html.j2").write_text("<p>{{ text }}</p>")
    rendered = Renderer("es", tmp_path).render(
        "answer", sample_context_minimal() | {"text": "<script>alert(1)</script>"}
    )
    assert rendered.html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert "<script>" in rendered.text  # plain text is not HTML: left as written


def sample_context_minimal() -> dict[str, object]:
    return {
        "code": "SOP-ABCDEF",
        "subject": "x",
        "staff_name": "Ana",
        "department": "Hosting",
        "company": "Hosting Ejemplo",
        "reminder_minutes": 2880,
        "close_minutes": 1440,
    }
