"""A customer's plan and domains from the contacts CSV (issue 12 points 2 and 7): read,
refused line by line, stored on the customer, counted right, and looked at by the checks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from mailtickets.assistant.targets import Domain
from mailtickets.contacts import (
    ImportReport,
    customer_named,
    customer_profile,
    parse_csv,
    parse_domains,
    upsert,
    valid_domain,
)
from mailtickets.db import transaction
from mailtickets.mail import parse_mail
from mailtickets.settings import Settings
from mailtickets.ticket_checks import targets_of

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
HEADER = "cliente;correo;nombre;notificar;plan;dominios\r\n"
LAURA = "Floristería Laura;laura@floristerialaura.es;Laura;sí;Web autogestionada;"


def import_text(engine: Engine, text: str) -> ImportReport:
    rows, problems = parse_csv(text, "contactos.csv")
    assert problems == []
    report = ImportReport()
    with transaction(engine) as session:
        for row in rows:
            upsert(session, row, report, NOW)
    return report


def test_domains_are_split_lowered_and_stripped_of_www() -> None:
    assert parse_domains("WWW.FloristeriaLaura.es, floristerialaura.com;tienda.laura.es") == (
        ("floristerialaura.es", "floristerialaura.com", "tienda.laura.es"),
        "",
    )
    assert parse_domains(" a.es  a.es. ") == (("a.es",), "")
    assert parse_domains("") == ((), "")
    assert valid_domain("Mañana.es") == "mañana.es"
    assert valid_domain("xn--maana-pta.es") == "xn--maana-pta.es"
    for bad in ("https://a.es/", "ana@a.es", "10.0.0.5", "localhost", "-a.es", "a..es", "a_b.es"):
        assert valid_domain(bad) is None, bad


def test_plan_and_domains_columns_are_read_and_optional() -> None:
    text = HEADER + LAURA + '"floristerialaura.es www.floristerialaura.com"\r\n'
    text += "Bodegas Antonio;antonio@bodegasantonio.es;Antonio;sí;;\r\n"
    rows, problems = parse_csv(text, "contactos.csv")
    assert problems == []
    assert rows[0].plan == "Web autogestionada"
    assert rows[0].domains == ("floristerialaura.es", "floristerialaura.com")
    assert (rows[1].plan, rows[1].domains) == (None, None)  # empty cells say nothing
    without = parse_csv("customer,email\nA,a@a.es\n", "x.csv")[0][0]
    assert (without.plan, without.domains) == (None, None)


def test_a_bad_domain_or_a_contradiction_skips_that_line_with_one_message() -> None:
    text = HEADER + LAURA + "floristerialaura.es\r\n"
    text += "Floristería Laura;tienda@floristerialaura.es;Tienda;sí;;https://laura.es/\r\n"
    text += "Floristería Laura;pedidos@floristerialaura.es;Pedidos;sí;Web gestionada;\r\n"
    text += "Floristería Laura;compras@floristerialaura.es;Compras;sí;;otra.es\r\n"
    text += "Floristería Laura;ok@floristerialaura.es;Ok;sí;Web autogestionada;\r\n"
    rows, problems = parse_csv(text, "contactos.csv")
    assert [r.email for r in rows] == ["laura@floristerialaura.es", "ok@floristerialaura.es"]
    assert [(p.line, p.problem) for p in problems] == [
        (3, "domain 'https://laura.es/' is not a domain name like midominio.es"),
        (4, "plan 'Web gestionada' differs from 'Web autogestionada' on line 2"),
        (5, "domains differ from those on line 2"),
    ]


def test_stored_on_the_customer_and_reimporting_counts_right(engine: Engine) -> None:
    first = HEADER + LAURA + "floristerialaura.es\r\n"
    first += "Floristería Laura;tienda@floristerialaura.es;Tienda;sí;;\r\n"
    report = import_text(engine, first)
    assert (report.added, report.updated, report.unchanged) == (2, 0, 0)
    with transaction(engine) as session:
        customer = customer_named(session, "Floristería Laura")
        assert customer is not None and customer.id is not None
        assert customer.plan == "Web autogestionada"
        assert json.loads(customer.domains) == ["floristerialaura.es"]
        assert customer_profile(session, customer.id).domains == ("floristerialaura.es",)
    again = import_text(engine, first)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    # The customer moves to a managed web: the row that says so is an update, the other
    # contact's row (which says nothing of plans) stays unchanged.
    moved = first.replace("Web autogestionada", "Web gestionada")
    moved = moved.replace("floristerialaura.es\r\n", "floristerialaura.es laura.shop\r\n", 1)
    report = import_text(engine, moved)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    with transaction(engine) as session:
        customer = customer_named(session, "Floristería Laura")
        assert customer is not None and customer.id is not None
        profile = customer_profile(session, customer.id)
    assert (profile.plan, profile.domains) == (
        "Web gestionada",
        ("floristerialaura.es", "laura.shop"),
    )


def test_an_imported_domain_becomes_a_target_of_the_checks(
    engine: Engine, settings: Settings
) -> None:
    import_text(engine, HEADER + LAURA + "floristerialaura.es\r\n")
    with transaction(engine) as session:
        customer = customer_named(session, "Floristería Laura")
        assert customer is not None and customer.id is not None
        domains = customer_profile(session, customer.id).domains
    mail = parse_mail(
        b"From: Laura <laura.martinez@gmail.com>\r\nTo: soporte@hostingejemplo.es\r\n"
        b"Subject: No me llegan los correos\r\nMessage-ID: <x@gmail.com>\r\n\r\n"
        b"Desde ayer no recibo nada.\r\n"
    )
    checks = replace(settings, checks=replace(settings.checks, enabled=True))
    found = targets_of(checks, mail, domains)
    assert found.domains == (Domain("floristerialaura.es", "customer"),)  # gmail.com is public
    assert targets_of(checks, mail).domains == ()
