"""Satisfaction by mail (issue 13 point 3): the rating a reply to a closed ticket starts
with, and the decision it makes (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailtickets.decide import Action, Rated, Sender, Thread, TicketView, decide
from mailtickets.rating import read_rating
from mailtickets.render import Renderer
from mailtickets.triage import Triage

RATINGS = [
    ("5", 5, ""),
    ("5.", 5, ""),
    ("5!", 5, ""),
    ("5 muy bien", 5, "muy bien"),
    ("4 - todo correcto, gracias", 4, "todo correcto, gracias"),
    ("Un 3. Tardasteis un poco", 3, "Tardasteis un poco"),
    ("un 4, bien", 4, "bien"),
    ("Una 5", 5, ""),
    ("Nota: 4", 4, ""),
    ("Mi valoración: 2, lento", 2, "lento"),
    ("Puntuación 5", 5, ""),
    ("Le doy un 5", 5, ""),
    ("Os doy un 4: rápidos y amables", 4, "rápidos y amables"),
    ("4/5", 4, ""),
    ("5 / 5 genial", 5, "genial"),
    ("3 de 5, regular", 3, "regular"),
    ("3 sobre 5", 3, ""),
    ("5 estrellas", 5, ""),
    ("1 fatal", 1, "fatal"),
    ("2 mal, tardasteis días", 2, "mal, tardasteis días"),
    ("5\nMuy contenta con la atención", 5, "Muy contenta con la atención"),
    ("5 very good", 5, "very good"),
    ("4 - great, thanks", 4, "great, thanks"),
    ("Rating: 4", 4, ""),
    ("Score 5/5", 5, ""),
    ("I'd give you a 5", 5, ""),
    ("A 3. It took a while", 3, "It took a while"),
    ("5 stars!", 5, ""),
    ("3 out of 5", 3, ""),
    # Greeting and signature aside; a closing line is not the comment.
    ("Hola,\n\n5 muy bien\n\nUn saludo,\nLaura Martínez", 5, "muy bien"),
    ("5 muy bien\n\nLaura\n600 123 456", 5, "muy bien"),
    ("Hi,\n\n4 - good\n\nBest regards,\nJohn Smith", 4, "good"),
    ("5\n\n--\nLaura Martínez\nfloristerialaura.es", 5, ""),
]


@pytest.mark.parametrize(("text", "score", "comment"), RATINGS)
def test_a_reply_that_starts_with_1_to_5_is_a_rating(text: str, score: int, comment: str) -> None:
    assert read_rating(text) == Rated(score, comment)


NOT_RATINGS = [
    "",
    "Gracias",
    "Muy bien, un 5",  # not at the start
    "Todo bien. 5",
    "0",
    "6",
    "10",
    "10 de 10",
    "55",
    "-1",
    "5€",
    "5 €",
    "5%",
    "5º piso",
    "5h sin correo",
    "5GB más, por favor",
    "4,5",
    "4.5",
    "5/12/2026 se volvió a caer",
    "5-12-2026",
    "5 de diciembre se cayó otra vez",
    "5:30 de la mañana y sigue igual",
    "3 cuentas siguen sin recibir correo",
    "2 días sin web",
    "1 pregunta más: ¿y el SSL?",
    "5 muy bien, pero ¿y el certificado?",
    "4 - la web midominio.es ya carga",
    "5 escribidme a laura@floristerialaura.es",
    "3 errors on the site",
    "2 emails bounce",
    "1st of December it broke again",
    "5 " + "muy bien " * 40,  # a story, not a word or two
]


@pytest.mark.parametrize("text", NOT_RATINGS)
def test_anything_else_is_no_rating(text: str) -> None:
    assert read_rating(text) is None


NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LAURA = Sender("laura@example.es", False, 7)


def ticket(status: str, closed_at: datetime | None = None) -> TicketView:
    return TicketView(
        1, "SOP-AAAAAA", status, 7, "laura@example.es", frozenset({"cc@otra.es"}), closed_at
    )


CLOSED = ticket("closed", NOW)
HUMAN = Triage(automatic=False, bounce=False, reasons=())
WEEK = timedelta(days=7)
FIVE = Rated(5, "muy bien")


def rate(sender: Sender, ticket: TicketView, later: timedelta = timedelta(hours=1)) -> Action:
    found = Thread(ticket, f"code {ticket.code} in subject")
    return decide(found, sender, HUMAN, NOW + later, WEEK, rating=FIVE).action


def test_the_requester_or_an_authorised_contact_rates_a_closed_ticket() -> None:
    contact = Sender("jefe@example.es", False, 7, authorised=True)
    assert rate(LAURA, CLOSED) is Action.RATE
    assert rate(contact, CLOSED) is Action.RATE
    # Past the reopen window too: a rating opens no new linked ticket.
    assert rate(LAURA, CLOSED, timedelta(days=40)) is Action.RATE
    found = Thread(CLOSED, "code")
    assert decide(found, LAURA, HUMAN, NOW, WEEK, rating=FIVE).rating == FIVE


def test_anyone_else_rating_is_an_ordinary_reply() -> None:
    unauthorised = Sender("becario@example.es", False, 7, authorised=False)
    participant = Sender("cc@otra.es", False, None)
    stranger = Sender("pedro@otra.es", False, None)
    assert rate(unauthorised, CLOSED) is Action.APPEND  # reopens, as any reply would
    assert rate(participant, CLOSED) is Action.APPEND
    assert rate(stranger, CLOSED) is Action.NEW  # a code is not a key
    assert rate(participant, CLOSED, timedelta(days=40)) is Action.NEW


def test_a_number_on_an_open_ticket_is_a_reply() -> None:
    for status in ("new", "open", "waiting"):
        assert rate(LAURA, ticket(status)) is Action.APPEND


def test_a_closed_ticket_without_its_closing_time_has_nothing_to_rate() -> None:
    assert rate(LAURA, ticket("closed")) is Action.APPEND  # closed_at unknown: it reopens


INVITATIONS = {
    "es": "¿Qué tal le hemos atendido? Responda a este correo con un número del 1 al 5 "
    "(y, si quiere, unas palabras: «5 muy bien»).",
    "en": "How did we do? Reply to this mail with a number from 1 to 5 "
    '(and a few words if you like: "5 very good").',
}


@pytest.mark.parametrize("locale", ["es", "en"])
def test_the_closing_notices_invite_a_rating(locale: str) -> None:
    renderer = Renderer(locale)
    context = {
        "code": "SOP-AAAAAA",
        "subject": "Correo",
        "customer_name": "Laura",
        "reason": "",
        "company": "Hosting Ejemplo",
        "reopen_minutes": 7 * 24 * 60,
    }
    for kind, status in (("status", "closed"), ("autoclose", "closed")):
        text = renderer.render(kind, context | {"status": status}).text
        assert INVITATIONS[locale] in text, (kind, text)
        assert "\n\n\n" not in text
    for status in ("open", "waiting", "merged"):  # no closing, nothing to rate
        text = renderer.render("status", context | {"status": status}).text
        assert "1" not in text and "\n\n\n" not in text
