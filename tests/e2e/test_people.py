"""Customers, contacts, departments and staff by mail (issue 3), on the real servers."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from mailtickets.codes import find_code
from tests.conftest import World, eml, utc

JOSE = "jose.perez@construccionesperez.es"
ADMIN = "administracion@construccionesperez.es"
OBRA = "obra@construccionesperez.es"
ANA = "ana.garcia@hostingejemplo.es"
PABLO = "pablo.ruiz@hostingejemplo.es"
INTRUDER = "intruso@otrodominio.com"

CSV_SPANISH_EXCEL = (
    "cliente;correo;nombre;notificar\r\n"
    f"Construcciones Pérez S.L.;{JOSE};José Pérez;sí\r\n"
    f"Construcciones Pérez S.L.;{ADMIN};Administración;sí\r\n"
    f"Construcciones Pérez S.L.;{OBRA};Jefe de obra;no\r\n"
    "Construcciones Pérez S.L.;no-es-un-correo;Roto;sí\r\n"
    "Floristería Laura;laura.martinez@gmail.com;Laura Martínez;1\r\n"
)


def mail_from(sender: str, subject: str, body: str, in_reply_to: str = "", cc: str = "") -> bytes:
    """A plain mail as a person's client sends it."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "soporte@hostingejemplo.es"
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utc(2026, 11, 23, 11))
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[1])
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def import_contacts(world: World) -> tuple[int, str, str]:
    path = world.tmp / "contactos.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CSV_SPANISH_EXCEL.encode("utf-8"))
    return world.cli("contacts", "import", str(path))


def jose_ticket(world: World) -> str:
    import_contacts(world)
    world.deliver(eml("new-outlook-latin1.eml"))
    world.cycle()
    return str(world.tickets()[0]["code"])


def test_csv_import_reports_bad_rows_by_line_and_is_idempotent(world: World) -> None:
    rc, out, err = import_contacts(world)
    assert rc == 0, err
    assert "4 added, 0 updated, 0 unchanged, 1 skipped" in out
    assert "contactos.csv:5: skipped" in err and "no-es-un-correo" in err
    rc, out, _ = import_contacts(world)
    assert rc == 0 and "0 added, 0 updated, 4 unchanged" in out and "nothing changed" in out
    rc, out, _ = world.cli("contacts", "list", "--customer", "Construcciones Pérez S.L.")
    assert rc == 0 and out.count("construccionesperez.es") == 3


def test_excel_windows_csv_and_add_list_remove(world: World) -> None:
    path = world.tmp / "excel.csv"
    path.write_bytes(
        "customer,email,name,notify\nBodegas Antonio,antonio@bodegasantonio.es,"
        "Antonio Muñoz,yes\n".encode("cp1252")
    )
    rc, out, _ = world.cli("contacts", "import", str(path))
    assert rc == 0 and "1 added" in out
    rc, out, _ = world.cli(
        "contacts",
        "add",
        "bodega@bodegasantonio.es",
        "--customer",
        "Bodegas Antonio",
        "--no-notify",
    )
    assert rc == 0 and "1 added" in out
    rc, out, _ = world.cli("contacts", "list", "--json")
    assert "Antonio Muñoz" in out and '"notify": false' in out
    assert world.cli("contacts", "remove", "bodega@bodegasantonio.es")[0] == 0
    assert world.cli("contacts", "remove", "bodega@bodegasantonio.es")[0] == 1
    rc, _, err = world.cli("contacts", "import", str(world.tmp / "absent.csv"))
    assert rc == 2 and "absent.csv" in err and "Traceback" not in err


def test_notifications_go_to_requester_and_authorised_contacts_only(world: World) -> None:
    code = jose_ticket(world)
    ticket = world.show(code)
    assert ticket["customer"] == "Construcciones Pérez S.L."
    assert sorted(ticket["contacts_notified"]) == [ADMIN, JOSE]
    ack = world.sink.received[0]
    assert sorted(ack.rcpt_tos) == [ADMIN, JOSE] and OBRA not in ack.rcpt_tos

    # Another contact of the customer writes in, copying a colleague: the requester stays
    # José, the colleague becomes a participant, never a contact.
    world.deliver(
        mail_from(
            OBRA, f"Re: [{code}] factura", "Yo también lo he visto.", cc="contable@gestoria.es"
        )
    )
    world.cycle()
    after = world.show(code)
    assert after["requester"] == JOSE and after["customer"] == "Construcciones Pérez S.L."
    assert after["participants"] == ["contable@gestoria.es"]
    rc, out, _ = world.cli("contacts", "list", "--json")
    assert rc == 0 and "contable@gestoria.es" not in out

    world.deliver(mail_from(PABLO, f"Re: [{code}] factura", "Les devolvemos el cargo."))
    world.cycle()
    # The account gets one mail; the participant a copy of its own (security issue, point 4).
    account, participant = world.sink.received[-2:]
    assert sorted(account.rcpt_tos) == sorted([JOSE, ADMIN])
    assert participant.rcpt_tos == ["contable@gestoria.es"]
    assert "Les devolvemos el cargo." in account.text and "Les devolvemos" in participant.text


def test_routing_reason_is_an_event(world: World) -> None:
    world.deliver(eml("new-thunderbird-windows1252.eml"))
    world.cycle()
    code = str(world.tickets()[0]["code"])
    routed = [e["detail"] for e in world.show(code)["events"] if e["kind"] == "routed"]
    assert any("keyword" in r and "→ Dominios" in r for r in routed), routed


def test_unknown_sender_is_rejected_once_a_day_under_reject_policy(world: World) -> None:
    world.config.write_text(world.config.read_text().replace('"open"', '"reject"'))
    world.deliver(mail_from("desconocido@nuevo.es", "Hola", "Quiero contratar hosting."))
    world.deliver(mail_from("desconocido@nuevo.es", "Otra vez", "¿Me contestan?"))
    report = world.cycle()
    assert [r.state for r in report.results] == ["ignored", "ignored"]
    assert world.tickets() == []
    rejects = world.sink.to("desconocido@nuevo.es")
    assert len(rejects) == 1 and "no figura como contacto" in rejects[0].text


def test_staff_commands_are_applied_removed_and_recorded(world: World) -> None:
    code = jose_ticket(world)
    world.deliver(
        mail_from(
            PABLO,
            f"Re: [{code}] x",
            "#prioridad alta\n#asignar ana.garcia@hostingejemplo.es\n"
            "#departamento dominios\n\nLo revisamos hoy mismo.",
        )
    )
    world.cycle()
    ticket = world.show(code)
    assert (ticket["priority"], ticket["assignee"], ticket["department"]) == (
        "high",
        ANA,
        "Dominios",
    )
    kinds = [(e["kind"], e["actor"]) for e in ticket["events"]]
    assert ("priority", PABLO) in kinds and ("assign", PABLO) in kinds
    answer = world.sink.received[-1]
    assert (
        answer.text.startswith("Lo revisamos hoy mismo.") and "#" not in answer.text.split("--")[0]
    )

    # The assignee alone hears about the customer's next reply.
    before = len(world.sink.received)
    world.deliver(mail_from(JOSE, f"RE: [{code}] x", "Gracias."))
    world.cycle()
    assert [m.rcpt_tos for m in world.sink.received[before:]] == [[ANA]]


def test_note_stays_internal_and_close_tells_the_customer(world: World) -> None:
    code = jose_ticket(world)
    before = len(world.sink.received)
    world.deliver(mail_from(PABLO, f"Re: [{code}] x", "#nota\nEl cliente debe 3 recibos."))
    world.cycle()
    assert len(world.sink.received) == before  # nothing reached anybody
    messages = world.show(code)["messages"]
    assert messages[-1]["direction"] == "internal"
    world.deliver(mail_from(PABLO, f"Re: [{code}] x", "#cerrar"))
    world.cycle()
    assert world.tickets()[0]["status"] == "closed"
    notice = world.sink.received[-1]
    assert JOSE in notice.rcpt_tos and "cerrado" in str(notice.message["Subject"])


def test_wrong_command_changes_nothing_and_tells_the_staff_member(world: World) -> None:
    code = jose_ticket(world)
    before = len(world.sink.received)
    world.deliver(mail_from(PABLO, f"Re: [{code}] x", "#prioridad altísima\n#cerrar\n\nHecho."))
    world.cycle()
    assert world.tickets()[0]["status"] == "new" and world.tickets()[0]["priority"] == "normal"
    sent = world.sink.received[before:]
    assert [m.rcpt_tos for m in sent] == [[PABLO]]
    assert "altísima" in sent[0].text and "no ha recibido nada" in sent[0].text


def test_merge_folds_a_ticket_into_another(world: World) -> None:
    code = jose_ticket(world)
    world.deliver(mail_from(JOSE, "Otra consulta", "También falla el correo de la obra."))
    world.cycle()
    second = next(str(t["code"]) for t in world.tickets() if t["code"] != code)
    world.deliver(mail_from(PABLO, f"Re: [{second}] x", f"#fusionar {code}"))
    world.cycle()
    statuses = {t["code"]: t["status"] for t in world.tickets()}
    assert statuses[second] == "merged"
    world.deliver(mail_from(JOSE, f"Re: [{second}] x", "¿Alguna novedad?"))
    world.cycle()
    assert len(world.show(code)["messages"]) == 2  # the reply went on in the merged-into one


def test_a_stranger_cannot_write_into_close_or_read_anothers_ticket(world: World) -> None:
    code = jose_ticket(world)
    before = world.show(code)
    world.deliver(eml("stranger-quotes-code.eml", code=code))
    world.deliver(mail_from(INTRUDER, f"Re: [{code}] x", "#cerrar"))
    world.cycle()
    after = world.show(code)
    assert after["status"] == before["status"] == "new"
    assert len(after["messages"]) == len(before["messages"])
    theirs = [t for t in world.tickets() if t["requester"] == INTRUDER]
    assert len(theirs) == 2 and all(t["linked_to"] == code for t in theirs)
    for mail in world.sink.to(INTRUDER):  # nothing of José's ticket reaches the stranger
        assert code not in mail.text and code not in str(mail.message["Subject"])
        assert "José" not in mail.text and JOSE not in mail.text


def test_requester_may_close_by_mail_and_contacts_may_list_tickets(world: World) -> None:
    code = jose_ticket(world)
    world.deliver(mail_from(JOSE, "mis tickets", ""))
    world.cycle()
    listing = world.sink.received[-1]
    assert listing.rcpt_tos == [JOSE] and code in listing.text
    assert len(world.tickets()) == 1  # asking opened nothing
    world.deliver(mail_from(OBRA, f"Re: [{code}] x", "#cerrar"))  # not authorised
    world.cycle()
    assert world.tickets()[0]["status"] == "new"
    world.deliver(mail_from(JOSE, f"Re: [{code}] x", "#cerrar\nYa está resuelto, gracias."))
    world.cycle()
    assert world.tickets()[0]["status"] == "closed"


def test_acknowledgement_lists_the_customers_other_open_tickets(world: World) -> None:
    code = jose_ticket(world)
    world.deliver(
        mail_from(
            ADMIN,
            "Cambio de titular del dominio construccionesperez.es",
            "Queremos cambiar el titular.",
        )
    )
    world.cycle()
    ack = world.sink.received[-2]
    assert ADMIN in ack.rcpt_tos and code in ack.text and "misma incidencia" in ack.text
    assert "dominio o la URL" not in ack.text  # this one names its domain


def test_staff_notice_lists_the_commands(world: World) -> None:
    jose_ticket(world)
    notice = world.sink.to(PABLO)[0]
    assert "#cerrar" in notice.text and "#asignar" in notice.text


def test_merge_loops_are_refused_and_people_follow_a_merge_within_the_customer(
    world: World,
) -> None:
    code = jose_ticket(world)
    world.deliver(mail_from(ADMIN, "Lo mismo", "Tampoco me llega la factura.", cc=OBRA))
    world.cycle()
    second = next(str(t["code"]) for t in world.tickets() if t["code"] != code)
    world.deliver(mail_from(PABLO, f"Re: [{second}] x", f"#fusionar {code}"))
    world.cycle()
    assert {ADMIN, OBRA} <= set(world.show(code)["participants"])
    world.deliver(mail_from(PABLO, f"Re: [{code}] x", f"#fusionar {second}"))  # a loop
    world.cycle()
    assert world.show(code)["status"] == "new"
    assert "merge the ticket into itself" in world.sink.to(PABLO)[-1].text
    world.deliver(mail_from(ADMIN, f"Re: [{second}] x", "¿Novedades?"))
    world.cycle()
    assert len(world.tickets()) == 2  # no new linked ticket: she may write to the merged one
    senders = [m["sender"] for m in world.show(code)["messages"] if m["direction"] == "in"]
    assert senders == [JOSE, ADMIN]  # her reply; her first mail stays in the merged one


def test_merging_into_another_customers_ticket_carries_over_only_its_contacts(
    world: World,
) -> None:
    code = jose_ticket(world)
    world.deliver(
        mail_from("otra@persona.es", "Lo mismo", "Tampoco me llega.", cc="socio@persona.es")
    )
    world.cycle()
    second = next(str(t["code"]) for t in world.tickets() if t["code"] != code)
    world.deliver(mail_from(PABLO, f"Re: [{second}] x", f"#fusionar {code}"))
    world.cycle()
    target = world.show(code)
    assert "otra@persona.es" not in target["participants"]
    assert "socio@persona.es" not in target["participants"]
    told = world.sink.to(PABLO)[-1]
    assert "no añadidas" in str(told.message["Subject"]) and "otra@persona.es" in told.text
    assert any(e["kind"] == "participants_refused" for e in target["events"])
    # Her later reply does not reach José's ticket: it opens one of her own, linked.
    world.deliver(mail_from("otra@persona.es", f"Re: [{second}] x", "¿Novedades?"))
    world.cycle()
    assert [m["sender"] for m in world.show(code)["messages"]] == [JOSE]
    assert len(world.tickets()) == 3
    assert not find_code(str(told.message["Subject"]), "SOP")  # a reply relays to no one
    for mail in world.sink.to("otra@persona.es"):
        assert "José" not in mail.text and "duplicada" not in str(mail.message["Subject"])
        assert code not in mail.text  # not even the code of the ticket it went into
