"""Threading and the decision table (SPEC §4), as pure functions."""

from datetime import UTC, datetime, timedelta

import pytest

from mailtickets.decide import (
    Action,
    Sender,
    Thread,
    TicketView,
    decide,
    find_thread,
    is_list_request,
    may_write,
    status_after,
)
from mailtickets.triage import Triage

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HUMAN = Triage(automatic=False, bounce=False, reasons=())
ROBOT = Triage(automatic=True, bounce=False, reasons=("Auto-Submitted: auto-replied",))
MONTH = timedelta(days=30)


def ticket(
    code: str = "SOP-AAAAAA",
    status: str = "waiting",
    closed: datetime | None = None,
    customer: int = 1,
) -> TicketView:
    return TicketView(
        1, code, status, customer, "laura@cliente.es", frozenset({"socia@cliente.es"}), closed
    )


LAURA = Sender("laura@cliente.es", is_staff=False, customer_id=1)
ANA = Sender("ana@hostingejemplo.es", is_staff=True, customer_id=None)
STRANGER = Sender("intruso@otro.com", is_staff=False, customer_id=None)


def test_code_in_subject_wins_over_references() -> None:
    by_code, by_ref = ticket("SOP-AAAAAA"), ticket("SOP-BBBBBB")
    thread = find_thread(by_code, by_ref)
    assert thread.ticket == by_code and "code" in thread.found_by
    assert find_thread(None, by_ref).found_by == "In-Reply-To/References"
    assert find_thread(None, None).ticket is None


def test_new_mail_opens_a_ticket_for_the_senders_customer() -> None:
    decision = decide(find_thread(None, None), LAURA, HUMAN, NOW, MONTH)
    assert (decision.action, decision.customer_id) == (Action.NEW, 1)
    assert decide(find_thread(None, None), STRANGER, HUMAN, NOW, MONTH).customer_id is None
    # Not on another action: a reply's ticket is its own customer's.
    assert decide(find_thread(ticket(customer=2), None), ANA, HUMAN, NOW, MONTH).customer_id is None


def test_customer_reply_appends_and_staff_reply_is_relayed() -> None:
    thread = find_thread(ticket(), None)
    assert decide(thread, LAURA, HUMAN, NOW, MONTH).action is Action.APPEND
    assert decide(thread, ANA, HUMAN, NOW, MONTH).action is Action.STAFF_REPLY


def test_a_stranger_quoting_a_code_gets_a_new_linked_ticket() -> None:
    decision = decide(find_thread(ticket(), None), STRANGER, HUMAN, NOW, MONTH)
    assert decision.action is Action.NEW
    assert decision.linked_to is not None and decision.linked_to.code == "SOP-AAAAAA"


def test_who_may_write() -> None:
    t = ticket()
    assert may_write(LAURA, t) and may_write(ANA, t)
    assert may_write(Sender("socia@cliente.es", False, None), t)  # participant
    assert may_write(Sender("jefe@cliente.es", False, 1), t)  # same customer
    assert not may_write(Sender("otro@cliente2.es", False, 2), t)


def test_machine_mail_is_stored_on_its_ticket_or_ignored_never_answered() -> None:
    assert decide(find_thread(ticket(), None), LAURA, ROBOT, NOW, MONTH).action is Action.STORE_ONLY
    assert decide(find_thread(None, None), LAURA, ROBOT, NOW, MONTH).action is Action.IGNORE


def test_reply_to_closed_ticket_reopens_within_the_window_else_links() -> None:
    recent = ticket(status="closed", closed=NOW - timedelta(days=3))
    old = ticket(status="closed", closed=NOW - timedelta(days=31))
    reopened = decide(find_thread(recent, None), LAURA, HUMAN, NOW, MONTH)
    assert reopened.action is Action.APPEND and reopened.reopen
    later = decide(find_thread(old, None), LAURA, HUMAN, NOW, MONTH)
    assert later.action is Action.NEW and later.linked_to == old


def test_status_machine() -> None:
    assert status_after(Action.APPEND, "new", False) == "new"
    assert status_after(Action.APPEND, "waiting", False) == "open"
    assert status_after(Action.APPEND, "closed", True) == "open"
    assert status_after(Action.STAFF_REPLY, "new", False) == "waiting"
    assert status_after(Action.STORE_ONLY, "waiting", False) == "waiting"


def test_staff_mail_without_a_ticket_is_kept_not_made_a_ticket() -> None:
    assert decide(find_thread(None, None), ANA, HUMAN, NOW, MONTH).action is Action.IGNORE


def test_a_fake_auto_reply_cannot_slip_into_a_strangers_ticket() -> None:
    thread = find_thread(ticket(), None)
    assert decide(thread, STRANGER, ROBOT, NOW, MONTH).action is Action.IGNORE
    assert decide(thread, LAURA, ROBOT, NOW, MONTH).action is Action.STORE_ONLY
    bounce = Thread(ticket(), "bounce of our mail")
    assert decide(bounce, STRANGER, ROBOT, NOW, MONTH).action is Action.STORE_ONLY


def test_list_requests_are_short_mails_with_the_right_subject() -> None:
    assert is_list_request("Mis tickets", "")
    assert is_list_request("RE: estado", "gracias")
    assert not is_list_request("Estado", "¿Cómo va el traslado de midominio.es? Lo necesito ya.")
    assert not is_list_request("Estado de mi dominio", "")


SIGNATURE = (
    "Un saludo,\nLaura Martínez\nFloristería Laura\nTel. 654 321 987\nwww.floristerialaura.es"
)


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("mis tickets", "¿Me podéis decir cómo van mis consultas?"),  # the sentence
        ("Tickets", "Hola,\n\n¿Me podéis decir cómo van mis consultas?\n\nGracias,\nLaura"),
        ("Mis tickets", f"¿Cómo van mis consultas?\n\n{SIGNATURE}"),
        (
            "RE: Estado",
            "Hola Ana,\n¿en qué estado están mis incidencias? Un saludo, Laura Martínez",
        ),
        ("estado", "Me gustaría saber cuántas peticiones tengo pendientes, por favor."),
        (
            "tickets",
            "Enviadme la lista de mis tickets abiertos, por favor.\n\nEnviado desde mi iPhone",
        ),
        ("Mis tickets", "Laura"),
        ("estado", "Buenos días:\n¿Hay novedades de mis incidencias? ¿Qué pasa con ellas?"),
        ("status", "What's the status of my tickets?"),
        (
            "my tickets",
            "Hi,\ncould you tell me how my requests are going?\n\nThanks,\nJohn Smith\n-- \n"
            "Smith Consulting Ltd\n+44 20 7946 0958",
        ),
        ("My tickets", "Hi there, any update on my open cases?"),
    ],
)
def test_asking_how_my_requests_are_going_gets_the_list(subject: str, body: str) -> None:
    assert is_list_request(subject, body)


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Estado", "¿Y el traslado?"),
        ("estado", "¿Cómo va el traslado de midominio.es?"),
        (
            "mis tickets",
            "¿Cómo van mis consultas? Además necesito cambiar la contraseña del correo.",
        ),
        ("estado", "Tengo un error 500 en la web"),
        ("estado", "Error 500"),
        ("Estado", "midominio.es"),
        ("tickets", "¿Cómo va mi consulta de www.floristerialaura.es?"),
        ("estado", "¿Cómo van mis consultas? https://floristerialaura.es/tienda falla"),
        ("estado", "¿Cómo van mis consultas?\nfloristerialaura.es\nLaura"),  # domain, then name
        ("estado", "¿Cómo van mis consultas? Escribidme a laura@floristerialaura.es"),
        ("mis tickets", "No funciona el correo"),
        ("Mis tickets", "Gracias\n\nLa web no funciona desde esta mañana"),
        ("mis tickets", "¿Podéis cerrar mis tickets?"),
        ("mis tickets", "Dominio caducado\nLaura"),
        ("status", "What is the status of the transfer of smithconsulting.co.uk?"),
        ("my tickets", "How are my tickets going? Also the SSL certificate expired yesterday."),
        ("Consulta", "¿Me podéis decir cómo van mis consultas?"),  # not a list subject
    ],
)
def test_a_status_subject_with_a_request_in_the_body_opens_a_ticket(
    subject: str, body: str
) -> None:
    assert not is_list_request(subject, body)


def test_only_an_authorised_contact_gets_the_ticket_list() -> None:
    none = find_thread(None, None)
    authorised = Sender("laura@cliente.es", False, customer_id=1, authorised=True)
    unlisted = Sender("socia@cliente.es", False, customer_id=1, authorised=False)
    got = decide(none, authorised, HUMAN, NOW, MONTH, wants_list=True)
    assert got.action is Action.LIST_TICKETS and got.customer_id == 1
    # A contact without the notify flag is not told the account's tickets: a person reads it.
    assert decide(none, unlisted, HUMAN, NOW, MONTH, wants_list=True).action is Action.NEW
