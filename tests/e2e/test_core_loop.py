"""The core loop on real servers: Dovecot in, mailtickets, aiosmtpd out, SQLite in between."""

from __future__ import annotations

import json
from email import message_from_bytes

from tests.conftest import World, both_databases, eml, utc
from tests.servers import Received

pytestmark = both_databases

LAURA = "laura.martinez@gmail.com"
JOSE = "jose.perez@construccionesperez.es"
ANA = "ana.garcia@hostingejemplo.es"
PABLO = "pablo.ruiz@hostingejemplo.es"


def only(mails: list[Received]) -> Received:
    assert len(mails) == 1, [m.message["Subject"] for m in mails]
    return mails[0]


def open_ticket(world: World, name: str) -> dict[str, object]:
    world.deliver(eml(name))
    report = world.cycle()
    assert report.errors == [] and report.results[0].state == "done", report
    tickets = world.tickets()
    return tickets[-1]


def test_new_mail_becomes_a_ticket_with_acknowledgement_and_staff_notice(world: World) -> None:
    ticket = open_ticket(world, "new-gmail-plain.eml")
    code = ticket["code"]
    assert ticket["status"] == "new" and ticket["department"] == "Hosting"
    assert ticket["requester"] == LAURA
    # Saved with its sender, by which several workers keep one sender's mails in order.
    assert world.query("SELECT sender FROM inbound") == [(LAURA,)]

    ack = only(world.sink.to(LAURA)).message
    assert f"[{code}]" in ack["Subject"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["Reply-To"] == "soporte@hostingejemplo.es"
    assert "<soporte@hostingejemplo.es>" in str(ack["From"])
    original_id = message_from_bytes(eml("new-gmail-plain.eml"))["Message-ID"].strip()
    assert str(ack["In-Reply-To"]).strip() == original_id
    assert ack["Message-ID"] and ack["Message-ID"] != original_id

    notice = only(world.sink.to(ANA))
    assert f"[{code}]" in notice.message["Subject"]
    assert notice.message["Reply-To"] == "soporte@hostingejemplo.es"
    assert "floristerialaura.es" in notice.text  # the customer's whole text, for staff

    detail = world.show(str(code))
    assert [m["direction"] for m in detail["messages"]] == ["in"]
    assert {e["kind"] for e in detail["events"]} >= {"created", "routed", "queued"}


def test_the_saved_mail_is_flagged_seen_only_after_it_is_stored(world: World) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    with world.dovecot.client(world.user) as client:
        client.select_folder("INBOX")
        assert client.search(["UNSEEN"])
    world.cycle()
    with world.dovecot.client(world.user) as client:
        client.select_folder("INBOX")
        assert client.search(["UNSEEN"]) == []


def test_mail_already_read_in_another_client_is_still_ingested(world: World) -> None:
    world.dovecot.append(world.user, eml("new-gmail-plain.eml"))
    with world.dovecot.client(world.user) as client:
        client.select_folder("INBOX")
        client.add_flags(client.search(["ALL"]), [b"\\Seen"])
    world.cycle()
    assert len(world.tickets()) == 1


def test_outlook_latin1_is_decoded_and_routed_by_address(world: World) -> None:
    ticket = open_ticket(world, "new-outlook-latin1.eml")
    assert ticket["department"] == "Facturación"
    assert "Facturación duplicada" in str(ticket["subject"])
    ack = only(world.sink.to(JOSE))
    assert "dominio o la URL" in ack.text  # the mail names no domain: the ack asks for it
    assert only(world.sink.to(PABLO))
    assert world.sink.to(ANA) == []


def test_thunderbird_windows1252_and_apple_mail_attachment(world: World) -> None:
    open_ticket(world, "new-thunderbird-windows1252.eml")
    ticket = world.tickets()[0]
    text = world.show(str(ticket["code"]))["messages"][0]["text"]
    assert "€" in text and "\ufffd" not in text

    apple = open_ticket(world, "new-apple-mail-attachment.eml")
    message = world.show(str(apple["code"]))["messages"][0]
    assert message["attachments"] == ["Captura de pantalla 2026-11-20 a las 9.41.03.pdf"]
    assert "estudiocarmen.com" in message["text"]


def test_reply_with_code_through_outlook_rv_prefix_threads_and_strips_quotes(world: World) -> None:
    code = str(open_ticket(world, "new-outlook-latin1.eml")["code"])
    ack_id = str(only(world.sink.to(JOSE)).message["Message-ID"])
    world.deliver(eml("reply-outlook-rv-latin1.eml", code=code, ack_message_id=ack_id))
    world.cycle()
    tickets = world.tickets()
    assert len(tickets) == 1 and tickets[0]["status"] == "new"  # no staff answer yet
    messages = world.show(code)["messages"]
    assert len(messages) == 2
    assert "Enviado el:" not in messages[1]["text"] and messages[1]["text"].strip()
    notices = world.sink.to(PABLO)
    assert len(notices) == 2 and "Respuesta del cliente" in notices[1].message["Subject"]


def test_reply_with_edited_subject_threads_by_in_reply_to(world: World) -> None:
    code = str(open_ticket(world, "new-gmail-plain.eml")["code"])
    ack_id = str(only(world.sink.to(LAURA)).message["Message-ID"])
    world.deliver(eml("reply-gmail-edited-subject.eml", ack_message_id=ack_id))
    world.cycle()
    assert [t["code"] for t in world.tickets()] == [code]
    detail = world.show(code)
    assert len(detail["messages"]) == 2
    assert len(world.sink.to(ANA)) == 2  # the new-ticket notice, then the reply


def test_staff_answer_is_relayed_from_the_support_address_without_quotes(world: World) -> None:
    code = str(open_ticket(world, "new-gmail-plain.eml")["code"])
    notice_id = str(only(world.sink.to(ANA)).message["Message-ID"])
    world.deliver(eml("staff-reply-thunderbird.eml", code=code, notice_message_id=notice_id))
    world.cycle()

    answers = world.sink.to(LAURA)
    assert len(answers) == 2  # the acknowledgement, then the answer
    answer = answers[1]
    assert ANA.encode() not in answer.data  # the staff member's address appears nowhere
    assert answer.mail_from.startswith("soporte+b-")  # VERP: a bounce names this mail
    assert f"[{code}]" in answer.message["Subject"]
    assert answer.text.count("Revisa que el puerto SMTP sea el 465 con SSL.") == 1
    assert "escribió:" not in answer.text and "\n>" not in answer.text
    assert answer.message["Auto-Submitted"] is None  # a person wrote it
    assert world.tickets()[0]["status"] == "waiting"
    assert [m["direction"] for m in world.show(code)["messages"]] == ["in", "out"]

    # The customer answers the relayed mail: the ticket is open again and staff are told.
    world.deliver(
        eml("reply-gmail-edited-subject.eml", ack_message_id=str(answer.message["Message-ID"]))
    )
    world.cycle()
    assert world.tickets()[0]["status"] == "open"
    assert len(world.sink.to(ANA)) == 2


def test_the_same_mail_twice_is_one_ticket_one_message_one_acknowledgement(world: World) -> None:
    raw = eml("cc-soporte-facturacion.eml")
    world.deliver(raw)
    world.deliver(raw)  # the copy addressed to facturacion@
    report = world.cycle()
    assert report.saved == 1 and report.duplicates == 1
    world.deliver(raw)  # delivered again later
    world.cycle()
    tickets = world.tickets()
    assert len(tickets) == 1
    assert len(world.show(str(tickets[0]["code"]))["messages"]) == 1
    assert len(world.sink.to("marta@academiamarta.es")) == 1
    # Who was copied becomes a participant and is told too, but our own addresses never are.
    detail = world.show(str(tickets[0]["code"]))
    assert detail["participants"] == ["marta.socia@academiamarta.es"]
    assert world.sink.to("facturacion@hostingejemplo.es") == []


def test_mail_without_message_id_is_deduplicated_by_content(world: World) -> None:
    raw = eml("no-message-id.eml")
    world.deliver(raw)
    world.deliver(raw)
    world.cycle()
    assert len(world.tickets()) == 1
    assert len(world.sink.to("antonio@bodegasantonio.es")) == 1


def test_machine_mail_is_stored_but_never_answered(world: World) -> None:
    code = str(open_ticket(world, "new-gmail-plain.eml")["code"])
    ack_id = str(only(world.sink.to(LAURA)).message["Message-ID"])
    before = len(world.sink.received)
    for name in (
        "autoreply-vacation.eml",
        "autoreply-outlook-oof.eml",
        "bulk-newsletter.eml",
        "dsn-bounce.eml",
        "loop-own-mail.eml",
    ):
        world.deliver(eml(name, code=code, ack_message_id=ack_id))
    report = world.cycle()
    assert len(world.sink.received) == before  # nothing automatic went out
    assert len(world.tickets()) == 1  # and no machine opened a ticket
    states = sorted(r.state for r in report.results)
    assert states.count("done") >= 1 and "failed" not in " ".join(states)
    messages = world.show(code)["messages"]
    assert any("vacaciones" in m["text"] for m in messages)  # stored on its ticket


def test_one_failing_message_never_stops_the_batch_and_is_quarantined(world: World) -> None:
    site = world.tmp / "site" / "es"
    site.mkdir(parents=True)
    # A site template with a bug that only some mail triggers: a real failure, no mock.
    buggy = (
        "[{{ code }}] {% if 'dominio' in subject %}{{ no_such_variable }}{% endif %}{{ subject }}"
    )
    (site / "ack.subject.j2").write_text(buggy)
    text = (
        world.config.read_text()
        .replace(
            'company_name = "Hosting Ejemplo"',
            f'company_name = "Hosting Ejemplo"\ntemplates_dir = "{site.parent}"',
        )
        .replace('folder = "INBOX"', 'folder = "INBOX"\nfailed_folder = "mailtickets/failed"')
    )
    world.config.write_text(text)
    world.config.write_text(
        world.config.read_text().replace(
            'unknown_senders = "open"',
            'unknown_senders = "open"\nops_address = "ops@hostingejemplo.es"',
        )
    )
    world.deliver(eml("new-gmail-plain.eml"))
    world.deliver(eml("new-thunderbird-windows1252.eml"))  # its subject names a "dominio": it fails
    world.deliver(eml("new-outlook-latin1.eml"))
    first = world.cycle()
    assert [r.state for r in first.results] == ["done", "failed, will retry", "done"]
    assert "no_such_variable" in first.results[1].detail
    world.cycle()
    third = world.cycle()
    assert [r.state for r in third.results] == ["quarantined"]
    assert len(world.tickets()) == 2
    assert world.cycle().results == []  # quarantined mail is not retried for ever

    # Kept: moved aside on the server, listed, reported to ops.
    with world.dovecot.client(world.user) as client:
        assert client.select_folder("mailtickets/failed")[b"EXISTS"] == 1
        assert client.select_folder("INBOX")[b"EXISTS"] == 2
    report = only(world.sink.to("ops@hostingejemplo.es"))
    assert "quarantine retry" in report.text and "no_such_variable" in report.text
    rc, out, _ = world.cli("quarantine", "list", "--json")
    (item,) = json.loads(out)
    assert rc == 0 and item["attempts"] == 3 and item["on_server"] == "quarantined"

    # Once the template is fixed, a retry turns it into a ticket like any other mail.
    (site / "ack.subject.j2").write_text("[{{ code }}] {{ subject }}")
    rc, out, _ = world.cli("quarantine", "retry", str(item["id"]))
    assert rc == 0 and "queued again" in out
    assert [r.state for r in world.cycle().results] == ["done"]
    assert len(world.tickets()) == 3
    assert world.cli("quarantine", "retry", str(item["id"]))[0] == 1


def test_uidvalidity_change_is_survived_without_duplicates(world: World) -> None:
    text = world.config.read_text().replace('folder = "INBOX"', 'folder = "Soporte"')
    world.config.write_text(text)
    world.deliver(eml("new-gmail-plain.eml"), folder="Soporte")
    world.deliver(eml("cc-soporte-facturacion.eml"), folder="Soporte")
    world.deliver(eml("no-message-id.eml"), folder="Soporte")
    world.cycle()  # the old numbering reached UID 3
    with world.dovecot.client(world.user) as client:
        before = client.select_folder("Soporte")[b"UIDVALIDITY"]
        client.close_folder()
        client.delete_folder("Soporte")
    world.deliver(eml("new-gmail-plain.eml"), folder="Soporte")
    world.deliver(eml("new-outlook-latin1.eml"), folder="Soporte")
    with world.dovecot.client(world.user) as client:
        assert client.select_folder("Soporte")[b"UIDVALIDITY"] != before
    report = world.cycle()
    assert report.saved == 1 and report.duplicates == 1
    assert len(world.tickets()) == 4
    world.deliver(eml("new-english-plain.eml"), folder="Soporte")  # UID 3 of the new numbering
    assert world.cycle().saved == 1
    assert len(world.tickets()) == 5


def test_processed_mail_can_be_moved_to_a_folder(world: World) -> None:
    text = world.config.read_text().replace(
        'folder = "INBOX"', 'folder = "INBOX"\nprocessed_folder = "Procesados"'
    )
    world.config.write_text(text)
    with world.dovecot.client(world.user) as client:
        client.create_folder("Procesados")
    world.deliver(eml("new-gmail-plain.eml"))
    world.cycle()
    with world.dovecot.client(world.user) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        assert client.select_folder("Procesados")[b"EXISTS"] == 1


def test_english_locale_and_site_template_override(world: World) -> None:
    site = world.tmp / "site"
    (site / "en").mkdir(parents=True)
    (site / "en" / "staff_new.subject.j2").write_text("[{{ code }}] SITE NOTICE {{ subject }}")
    text = world.config.read_text().replace(
        'locale = "es"', f'locale = "en"\ntemplates_dir = "{site}"'
    )
    world.config.write_text(text)
    open_ticket(world, "new-english-plain.eml")
    ack = only(world.sink.to("john.smith@example.co.uk"))
    assert "We have received your request" in str(ack.message["Subject"])
    assert "SITE NOTICE" in str(only(world.sink.to(ANA)).message["Subject"])
    assert world.tickets()[0]["priority"] == "urgent"


def test_first_start_on_a_full_mailbox_does_not_flood_customers(world: World) -> None:
    old, recent = utc(2026, 1, 10, 9), utc(2026, 11, 20, 9)
    world.deliver(eml("new-outlook-latin1.eml"), when=old)
    world.deliver(eml("new-thunderbird-windows1252.eml"), when=recent)
    text = world.config.read_text().replace(
        'folder = "INBOX"',
        'folder = "INBOX"\nbacklog = "since:2026-11-01"\nquiet_older_than = "1d"',
    )
    world.config.write_text(text)
    report = world.cycle(clock=lambda: utc(2026, 11, 23, 9))
    assert report.saved == 1  # January's mail was left alone
    (ticket,) = world.tickets()
    assert ticket["requester"] == "miguel@tallerhernandez.es"
    assert world.sink.received == []  # three days old: a ticket, but nobody is mailed
    assert any(e["kind"] == "not_sent" for e in world.show(str(ticket["code"]))["events"])
    world.deliver(eml("new-gmail-plain.eml"))  # new mail after the first start is answered
    world.cycle()
    assert len(world.sink.to(LAURA)) == 1


def test_backlog_none_starts_after_the_mail_already_there(world: World) -> None:
    world.deliver(eml("new-outlook-latin1.eml"))
    world.config.write_text(
        world.config.read_text().replace('folder = "INBOX"', 'folder = "INBOX"\nbacklog = "none"')
    )
    assert world.cycle().saved == 0
    world.deliver(eml("new-gmail-plain.eml"))
    assert world.cycle().saved == 1
    assert [t["requester"] for t in world.tickets()] == [LAURA]


def test_backlog_none_on_an_empty_folder_still_takes_the_first_new_mail(world: World) -> None:
    world.config.write_text(
        world.config.read_text().replace('folder = "INBOX"', 'folder = "INBOX"\nbacklog = "none"')
    )
    assert world.cycle().saved == 0
    world.deliver(eml("new-gmail-plain.eml"))
    assert world.cycle().saved == 1


def test_attachments_travel_with_the_notice_and_the_answer(world: World) -> None:
    from email.message import EmailMessage

    world.deliver(eml("new-apple-mail-attachment.eml"))
    world.cycle()
    code = str(world.tickets()[0]["code"])
    notice = only(world.sink.to(ANA)).message
    (pdf,) = list(notice.iter_attachments())  # type: ignore[attr-defined]
    assert pdf.get_filename() == "Captura de pantalla 2026-11-20 a las 9.41.03.pdf"
    assert pdf.get_content().startswith(b"%PDF-1.4")

    answer = EmailMessage()
    answer["From"] = "Ana García <ana.garcia@hostingejemplo.es>"
    answer["To"] = "soporte@hostingejemplo.es"
    answer["Subject"] = f"Re: [{code}] error 500"
    answer["Message-ID"] = "<respuesta-ana@hostingejemplo.es>"
    answer.set_content("Le adjunto la guía para revisar el .htaccess.")
    answer.add_attachment(
        b"RewriteEngine On\n", maintype="text", subtype="plain", filename="guia-htaccess.txt"
    )
    world.deliver(answer.as_bytes())
    world.cycle()
    relayed = world.sink.to("carmen@estudiocarmen.com")[-1].message
    names = [a.get_filename() for a in relayed.iter_attachments()]  # type: ignore[attr-defined]
    assert names == ["guia-htaccess.txt"]
