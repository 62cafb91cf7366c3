"""The shipped templates word dates, statuses, priorities and missing subjects per locale."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mailtickets.customer_mail import expected_answer
from mailtickets.render import KINDS, Renderer
from mailtickets.routing import PRIORITIES

MADRID = ZoneInfo("Europe/Madrid")
# Monday 30 November 2026, 10:20 in Madrid (09:20 UTC).
DUE = datetime(2026, 11, 30, 9, 20, tzinfo=UTC)
OPENED = datetime(2026, 11, 27, 17, 50, tzinfo=MADRID)  # a Friday
STATUSES = ("new", "open", "waiting", "closed", "merged")


def one_line(text: str) -> str:
    """Spaces as a reader sees them (CLDR puts a narrow no-break space before AM/PM)."""
    return " ".join(text.split())


def context(**changes: Any) -> dict[str, Any]:
    """Every variable the templates use, for a ticket of the Facturación department."""
    digest_row = {
        "code": "SOP-GHJKMN",
        "subject": "",
        "status": "new",
        "priority": "high",
        "department": "Facturación",
        "assignee": "",
        "opened": OPENED,
        "age_days": 0,
        "due": OPENED,
        "late": False,
        "closes": OPENED,
    }
    digest_section = {"rows": [digest_row], "count": 1, "more": 0}
    base: dict[str, Any] = {
        "code": "SOP-ABCDEF",
        "subject": "Factura duplicada",
        "status": "open",
        "priority": "high",
        "department": "Facturación",
        "assignee": "",
        "customer_name": "Construcciones Pérez",
        "company": "Hosting Ejemplo",
        "hours": "L-V 10-18",
        "expected": expected_answer(DUE, OPENED, MADRID),
        "needs_domain": False,
        "open_tickets": [{"code": "SOP-GHJKMN", "subject": "", "status": "waiting"}],
        "not_added": [],
        "commands": [{"name": "close", "word": "#cerrar"}],
        "reason": "",
        "login": "imap:soporte",
        "summary": "Comprobaciones: 1 problema.",
        "note": "- Problema: el dominio no tiene registro MX",
        "since": OPENED,
        "reminder_minutes": 2880,
        "close_minutes": 1440,
        "reopen_minutes": 43200,
        "opened": OPENED,
        "first_response_minutes": 30,
        "id": 7,
        "message_id": "<a@example.com>",
        "uid": 7,
        "mailbox": "soporte@example.com/INBOX",
        "attempts": 3,
        "error": "ValueError: x",
        "folder": "failed",
        "limits": {"max_message_bytes": 1048576, "max_attachments": 2, "max_attachment_bytes": 1},
        "merged_code": "SOP-GHJKMN",
        "left_out": ["otro@example.com"],
        "from_header": "a@example.com, b@example.com",
        "text": "Nos han cobrado dos veces.",
        "sender": "jose@example.com",
        "reopened": False,
        "attachments": [],
        "staff_name": "Pablo",
        "problems": [],
        "tickets": [
            {"code": "SOP-GHJKMN", "subject": "", "status": "waiting", "updated": OPENED},
        ],
        "suggestions": [],  # help-centre articles (ack, staff_new): tests/unit/test_articles.py
        # The daily digest (digest_job.py): one ticket in each section.
        "digest_day": OPENED,
        "digest_department": "Facturación",
        "digest_open": 1,
        "digest_bands": [{"key": "under_1d", "count": 1}],
        "digest_within_minutes": 120,
        "digest_at_risk": digest_section,
        "digest_waiting": digest_section,
        "digest_closing": digest_section,
        "digest_assigned": digest_section,
    }
    return base | changes


def label(locale: str, macro: str, value: str) -> str:
    template = '{% import "_labels.j2" as labels %}{{ labels.' + macro + "(value) }}"
    return Renderer(locale).env.from_string(template).render(value=value)


@pytest.mark.parametrize(
    ("locale", "when", "expected"),
    [
        ("es", datetime(2026, 11, 30, 10, 20, tzinfo=MADRID), "lunes noviembre"),
        ("es", datetime(2027, 6, 2, 8, 0, tzinfo=MADRID), "miércoles junio"),
        ("en", datetime(2026, 11, 30, 10, 20, tzinfo=MADRID), "Monday November"),
        ("en", datetime(2027, 6, 2, 8, 0, tzinfo=MADRID), "Wednesday June"),
    ],
)
def test_weekday_and_month_names_come_from_babel(
    locale: str, when: datetime, expected: str
) -> None:
    env = Renderer(locale).env
    assert env.from_string("{{ d | weekday }} {{ d | month }}").render(d=when) == expected


def test_dates_are_written_in_the_zone_they_carry_and_naive_ones_refused() -> None:
    time = Renderer("es").env.from_string("{{ d | time }}")
    assert time.render(d=DUE) == "9:20"
    assert time.render(d=DUE.astimezone(MADRID)) == "10:20"
    with pytest.raises(ValueError, match="aware"):
        time.render(d=datetime(2026, 11, 30, 10, 20))


def test_date_forms_follow_the_locale() -> None:
    es, en = Renderer("es").env, Renderer("en").env
    assert es.from_string("{{ d | date }}").render(d=OPENED) == "27 de noviembre de 2026"
    assert en.from_string("{{ d | date }}").render(d=OPENED) == "November 27, 2026"
    assert es.from_string("{{ d | datetime }}").render(d=OPENED) == "27 nov 2026, 17:50"
    assert one_line(en.from_string("{{ d | datetime }}").render(d=OPENED)) == (
        "Nov 27, 2026, 5:50 PM"
    )


@pytest.mark.parametrize(
    ("now", "spanish", "english"),
    [
        (OPENED, "antes del lunes 30 de noviembre a las 10:20", "before Monday, November 30 at"),
        (datetime(2026, 11, 29, 12, tzinfo=MADRID), "mañana antes de las 10:20", "tomorrow before"),
        (datetime(2026, 11, 30, 8, tzinfo=MADRID), "hoy antes de las 10:20", "today before"),
    ],
)
def test_acknowledgement_says_when_the_answer_is_due(
    now: datetime, spanish: str, english: str
) -> None:
    ctx = context(expected=expected_answer(DUE, now, MADRID))
    assert spanish in Renderer("es").render("ack", ctx).text
    assert f"{english} 10:20 AM" in one_line(Renderer("en").render("ack", ctx).text)


def test_expected_answer_counts_days_in_the_sites_zone() -> None:
    # 23:30 UTC on the 30th is already 1 December in Madrid: tomorrow, seen from the 30th.
    due = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    answer = expected_answer(due, datetime(2026, 11, 30, 10, tzinfo=UTC), MADRID)
    assert answer is not None and answer["days"] == 1
    assert answer["at"].tzinfo == MADRID and answer["at"].hour == 0
    assert expected_answer(None, OPENED, MADRID) is None


def test_spanish_staff_notices_show_no_raw_status_or_priority() -> None:
    renderer = Renderer("es")
    new = renderer.render("staff_new", context())
    reply = renderer.render("staff_reply", context())
    breach = renderer.render("sla_breach", context(status="new"))
    assert "(Facturación, prioridad alta)" in new.subject
    assert "Prioridad: alta" in new.text
    assert "Estado: abierto · Departamento: Facturación · Prioridad: alta" in reply.text
    assert "Estado: nuevo · Prioridad: alta" in breach.text
    assert "prioridad alta" in breach.subject
    for mail in (new, reply, breach):
        words = re.findall(r"\w+", f"{mail.subject}\n{mail.text}")
        assert not {"open", "new", "high"} & set(words), mail.subject


def test_english_staff_notices_name_status_and_priority_in_english() -> None:
    renderer = Renderer("en")
    reply = renderer.render("staff_reply", context(status="waiting", priority="urgent"))
    assert "Status: waiting for the customer · Department: Facturación" in reply.text
    assert "Priority: urgent" in reply.text
    assert "(Facturación, high priority)" in renderer.render("staff_new", context()).subject


def test_the_sla_breach_says_when_the_ticket_was_opened() -> None:
    spanish = Renderer("es").render("sla_breach", context()).text
    english = one_line(Renderer("en").render("sla_breach", context()).text)
    assert "se abrió el 27 de noviembre de 2026 a las 17:50" in spanish
    assert "was opened on November 27, 2026 at 5:50 PM" in english


def test_customers_see_their_own_words_for_a_status() -> None:
    ack = Renderer("es").render("ack", context()).text
    listing = Renderer("es").render("ticket_list", context()).text
    assert "SOP-GHJKMN: (sin asunto) (pendiente de su respuesta)" in ack
    assert "pendiente de su respuesta, actualizado el 27 nov 2026 a las 17:50" in listing
    english = one_line(Renderer("en").render("ticket_list", context()).text)
    assert "waiting for your reply, updated Nov 27, 2026 at 5:50 PM" in english


@pytest.mark.parametrize("locale", ["es", "en"])
def test_every_status_and_priority_has_a_label(locale: str) -> None:
    words = {"es": {"open": "abierto", "closed": "cerrado"}, "en": {"open": "open"}}[locale]
    for status, word in words.items():
        assert label(locale, "status_label", status) == word
    for status in STATUSES:
        assert label(locale, "status_label", status).strip()
    spanish = {"low": "baja", "normal": "normal", "high": "alta", "urgent": "urgente"}
    for priority in PRIORITIES:
        expected = spanish[priority] if locale == "es" else priority
        assert label(locale, "priority_label", priority) == expected


@pytest.mark.parametrize(("locale", "words"), [("es", "(sin asunto)"), ("en", "(no subject)")])
def test_a_missing_subject_is_worded_by_the_locale(locale: str, words: str) -> None:
    renderer = Renderer(locale)
    for kind in ("ack", "answer", "staff_new", "staff_reply", "sla_breach", "reject", "status"):
        subject = renderer.render(kind, context(subject="")).subject
        assert subject.endswith(words), (kind, subject)
    assert f": {words}" in renderer.render("unidentified_sender", context(subject="")).text
    assert "(sin asunto)" not in Renderer("en").render("ack", context(subject="")).subject


ODD = [{}, {"subject": ""}, {"priority": ""}, {"code": ""}, {"department": ""}]


@pytest.mark.parametrize("locale", ["es", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_no_subject_template_writes_stray_spaces(locale: str, kind: str) -> None:
    """The raw template output, before `render` folds whitespace for the header."""
    template = Renderer(locale).env.get_template(f"{kind}.subject.j2")
    for changes in ODD:
        raw = template.render(context(**changes))
        assert "  " not in raw and raw == raw.strip() + "\n", (changes, raw)
        assert " )" not in raw and "( " not in raw, (changes, raw)


def test_limits_a_mail_broke_are_worded_by_the_template_in_its_language() -> None:
    from dataclasses import asdict

    from mailtickets.mail import Problem

    problems = [
        asdict(Problem("attachment_size", 12_000_000, 10_485_760, "planos.pdf")),
        asdict(Problem("attachments", 25, 20, "foto21.jpg")),
        asdict(Problem("header_size", 400_000, 262_144)),
    ]
    spanish = Renderer("es").render("over_limit", context(problems=problems)).text
    assert "el adjunto «planos.pdf» ocupa 11.4 MB, más que el máximo de 10.0 MB" in spanish
    assert "supera el máximo de 20 adjuntos" in spanish and "391 KB" in spanish
    assert not re.search(r"\b(attachment|bytes|limit|over the)\b", spanish)
    english = Renderer("en").render("over_limit", context(problems=problems)).text
    assert 'the attachment "planos.pdf" is 11.4 MB, over the limit of 10.0 MB' in english


def test_default_support_hours_are_worded_in_the_template_language() -> None:
    english = Renderer("en").render("ack", context(hours="")).text
    spanish = Renderer("es").render("ack", context(hours="")).text
    assert "Monday to Friday" in english and "lunes" not in english
    assert "de lunes a viernes, de 10:00 a 18:00" in spanish
