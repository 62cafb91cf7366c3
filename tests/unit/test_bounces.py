"""Bounces in the formats other than RFC 3464 that our mail meets, read with flufl.bounce; a
vacation reply from the null sender is automatic mail, not a bounce (issue 15)."""

from __future__ import annotations

import pytest

from mailtickets.bounces import FailedRecipient, read_bounce
from mailtickets.mail import parse_mail
from mailtickets.triage import triage
from tests.conftest import eml

OURS = frozenset({"soporte@hostingejemplo.es"})
VERP_ADDRESS = "soporte+b-12-0123456789abcdef@hostingejemplo.es"


def bounce_mail(name: str, **placeholders: str) -> bytes:
    return eml(
        name,
        code="SOP-7KQ2MX",
        verp_address=VERP_ADDRESS,
        ack_message_id="<SOP-7KQ2MX.5d1e0c9a7b3f2e41@hostingejemplo.es>",
        answer_message_id="<SOP-7KQ2MX.a461a5deeba7f944@hostingejemplo.es>",
        **placeholders,
    )


FORMATS = [
    ("bounce-qmail.eml", "ventas@ceramicasolmedo.es"),
    ("bounce-exim-plain.eml", "pedidos@ferreteriagarcia.es"),
    ("bounce-exchange-ims-undeliverable.eml", "compras@grupoindustrialnorte.es"),
    ("bounce-yahoo.eml", "antonio.ruiz.b@yahoo.es"),
    ("bounce-ionos-simple.eml", "info@academiaidiomasluna.es"),
]


@pytest.mark.parametrize(("name", "failed"), FORMATS)
def test_each_format_is_a_bounce_naming_its_failed_address(name: str, failed: str) -> None:
    raw = bounce_mail(name)
    mail = parse_mail(raw)
    verdict = triage(mail, OURS)
    assert verdict.automatic and verdict.bounce
    assert "bounce-format" in verdict.rules
    bounce = read_bounce(raw, mail)
    assert bounce.recipients == (FailedRecipient(failed, "", "failed"),)
    assert bounce.recipients[0].hard  # permanent: the address is suppressed
    assert (bounce.outbox_id, bounce.verp_token) == (12, "0123456789abcdef")
    assert bounce.summary() == f"{failed} failed"


def test_a_delay_warning_names_the_address_but_not_as_a_failure() -> None:
    raw = bounce_mail("bounce-exim-delay-warning.eml")
    mail = parse_mail(raw)
    verdict = triage(mail, OURS)
    assert "bounce-format" not in verdict.rules  # flufl.bounce reports no permanent failure
    bounce = read_bounce(raw, mail)
    assert bounce.recipients == (FailedRecipient("pedidos@ferreteriagarcia.es", "", "delayed"),)
    assert not bounce.recipients[0].hard


def test_a_dovecot_vacation_reply_is_automatic_and_no_bounce() -> None:
    mail = parse_mail(bounce_mail("autoreply-dovecot-vacation.eml"))
    assert mail.from_addr == "miguel@tallerhernandez.es"
    assert mail.in_reply_to == ("<SOP-7KQ2MX.a461a5deeba7f944@hostingejemplo.es>",)
    verdict = triage(mail, OURS)
    assert verdict.automatic and not verdict.bounce
    assert set(verdict.rules) == {
        "auto-submitted",
        "bulk-precedence",
        "autoreply-headers",
        "null-sender",
    }


def test_a_null_sender_and_a_known_format_are_a_bounce_from_any_sender() -> None:
    raw = bounce_mail("bounce-qmail.eml").replace(
        b"From: MAILER-DAEMON@vps2384.servidoresplesk.es",
        b"From: Sistema de correo <correo@vps2384.servidoresplesk.es>",
    )
    verdict = triage(parse_mail(raw), OURS)
    assert verdict.bounce and "bounce-sender" not in verdict.rules
    assert "bounce-format" in verdict.rules


def test_a_customer_pasting_a_bounce_asks_for_help_and_is_no_bounce() -> None:
    # The text of a qmail bounce, sent by a person: the null sender is what makes a report.
    raw = bounce_mail("bounce-qmail.eml")
    body = raw.split(b"\n\n", 1)[1]
    pasted = (
        b"Return-Path: <ventas@ceramicasolmedo.es>\n"
        b"From: Rosa Olmedo <ventas@ceramicasolmedo.es>\n"
        b"To: soporte@hostingejemplo.es\n"
        b"Subject: Me devuelven los correos\n"
        b"Message-ID: <a81f3c2e@ceramicasolmedo.es>\n"
        b"Content-Type: text/plain; charset=utf-8\n\n"
        b"Hola, al escribir a un cliente me llega esto:\n\n" + body
    )
    verdict = triage(parse_mail(pasted), OURS)
    assert (verdict.automatic, verdict.bounce, verdict.rules) == (False, False, ())


def test_a_delivery_status_report_is_still_read_for_its_status_codes() -> None:
    raw = eml("dsn-bounce.eml", code="SOP-7KQ2MX", ack_message_id="<ack-1@hostingejemplo.es>")
    bounce = read_bounce(raw, parse_mail(raw))
    assert bounce.recipients == (
        FailedRecipient("pedro.gomez.floristeria@gmail.com", "5.1.1", "failed"),
    )


@pytest.mark.parametrize(
    ("status", "action", "hard"),
    [
        ("5.1.1", "failed", True),
        ("", "failed", True),  # a format that gives no code: the MTA gave up
        ("4.4.7", "failed", False),  # gave up on a temporary error
        ("4.2.2", "delayed", False),
        ("", "delayed", False),
    ],
)
def test_a_hard_failure_is_a_permanent_one(status: str, action: str, hard: bool) -> None:
    assert FailedRecipient("a@cliente.es", status, action).hard is hard
