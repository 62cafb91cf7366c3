"""Spam verdicts (issue 11 point 4, SPEC §8) on the real servers: mail the site's own
receiving server marked opens no ticket and sends nothing (no backscatter), is listed and
can be released; a verdict header written below the trusted one is ignored."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import World, eml
from tests.e2e.test_people import mail_from

SPAM_HEADERS = '\n[security]\nspam_headers = ["X-Spam-Flag", "X-Spam-Status", "X-Spam"]\n'
SEO = "info@posicionamiento-top24.com"
RENEWAL = "renovaciones@registro-dominios-es.net"
PHISHING = "facturas@endesa-clientes-online.com"
JAVIER = "javier.ortega@talleresortega.es"
MARTA = "marta.gil@academiagil.es"
LAURA = "laura.martinez@gmail.com"
ANA = "ana.garcia@hostingejemplo.es"
STAFF = {ANA, "pablo.ruiz@hostingejemplo.es"}


def with_spam_headers(world: World) -> None:
    world.config.write_text(world.config.read_text() + SPAM_HEADERS)


def run_once(world: World) -> str:
    """`run --once` as ops run it; its log (stderr)."""
    rc, _out, err = world.cli("run", "--once")
    assert rc == 0, err
    return err


def held(world: World) -> list[dict[str, Any]]:
    rc, out, err = world.cli("spam", "list", "--json")
    assert rc == 0, err
    return list(json.loads(out))


def recipients(world: World) -> set[str]:
    return {rcpt for mail in world.sink.received for rcpt in mail.rcpt_tos}


def test_marked_spam_opens_no_ticket_sends_nothing_and_is_listed(world: World) -> None:
    with_spam_headers(world)
    world.deliver(eml("spam-spamassassin-flagged.eml"))
    world.deliver(eml("spam-rspamd-flagged.eml"))
    world.deliver(eml("ham-spamassassin-bayes00.eml"))  # "BAYES_00" holds no "yes"
    log = run_once(world)
    assert "spam ticket=-: spam (X-Spam-Flag: YES; X-Spam-Status: Yes, score=7.1)" in log
    assert "spam ticket=-: spam (X-Spam: Yes)" in log
    assert [t["requester"] for t in world.tickets()] == [JAVIER]
    # Only the ham's acknowledgement and its staff notice: nothing to a spammer, nothing
    # about their mail to staff.
    assert recipients(world) - STAFF == {JAVIER} and recipients(world) & STAFF
    for mail in world.sink.received:
        assert "Google" not in mail.text and "caduca" not in str(mail.message["Subject"])
    rows = world.query("SELECT state, outcome, ticket_code FROM inbound ORDER BY id")
    assert rows[:2] == [
        ("spam", "spam: X-Spam-Flag: YES; X-Spam-Status: Yes, score=7.1", ""),
        ("spam", "spam: X-Spam: Yes", ""),
    ]
    assert rows[2][0] == "done"

    listed = held(world)
    assert [(h["sender"], h["verdict"]) for h in listed] == [
        (SEO, "X-Spam-Flag: YES; X-Spam-Status: Yes, score=7.1"),
        (RENEWAL, "X-Spam: Yes"),
    ]
    assert listed[1]["subject"] == "AVISO FINAL: su dominio hostingejemplo.es caduca hoy"
    assert listed[0]["date"] and listed[0]["id"] < listed[1]["id"]
    rc, out, err = world.cli("spam", "list")
    assert rc == 0 and err.strip() == "2 held as spam"
    lines = out.strip().splitlines()
    assert len(lines) == 2 and SEO in lines[0] and "X-Spam: Yes" in lines[1]
    rc, out, _ = world.cli("status", "--json")
    status = json.loads(out)
    assert status["held_as_spam"] == 2
    assert not [p for p in status["problems"] if "spam" in p]
    # Nothing is left due: a second cycle holds nothing twice and sends nothing.
    sent = len(world.sink.received)
    run_once(world)
    assert len(world.sink.received) == sent and len(held(world)) == 2


def test_a_released_mail_becomes_an_ordinary_ticket_once(world: World) -> None:
    with_spam_headers(world)
    world.deliver(eml("spam-rspamd-flagged.eml"))
    run_once(world)
    assert world.tickets() == [] and world.sink.received == []
    (mail,) = held(world)
    rc, out, err = world.cli("spam", "release", str(mail["id"]))
    assert rc == 0 and f"inbound {mail['id']} released" in out, err
    assert held(world) == []
    log = run_once(world)
    assert "spam ticket=-" not in log
    (ticket,) = world.tickets()
    assert ticket["requester"] == RENEWAL
    (ack,) = world.sink.to(RENEWAL)
    assert ticket["code"] in str(ack.message["Subject"])
    assert recipients(world) & STAFF, "staff hear of the released mail's ticket"
    # Released for good: never held again, never processed twice.
    run_once(world)
    assert len(world.tickets()) == 1 and len(world.sink.to(RENEWAL)) == 1
    rc, _, err = world.cli("spam", "release", str(mail["id"]))
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "spam list" in err


def test_without_spam_headers_the_same_mail_is_an_ordinary_ticket(world: World) -> None:
    world.deliver(eml("spam-spamassassin-flagged.eml"))
    log = run_once(world)
    assert " spam " not in log
    (ticket,) = world.tickets()
    assert ticket["requester"] == SEO and len(world.sink.to(SEO)) == 1
    assert held(world) == []


def test_verdicts_written_below_the_trusted_one_are_ignored(world: World) -> None:
    with_spam_headers(world)
    world.deliver(eml("new-gmail-plain.eml"))
    run_once(world)
    (laura,) = world.tickets()
    code = str(laura["code"])
    before = len(world.sink.received)
    # Spam by the server's own headers, "NO" in the sender's: held, though it names a ticket.
    world.deliver(eml("spam-forged-no-below.eml", code=code))
    # The reverse: the server says No on top, another server's Yes below: a ticket.
    world.deliver(eml("ham-forged-yes-below.eml"))
    run_once(world)
    assert [(h["sender"], h["verdict"]) for h in held(world)] == [
        (PHISHING, "X-Spam-Flag: YES; X-Spam-Status: Yes, score=12.4")
    ]
    assert [m["sender"] for m in world.show(code)["messages"]] == [LAURA]
    assert sorted(t["requester"] for t in world.tickets()) == [LAURA, MARTA]
    new = {rcpt for mail in world.sink.received[before:] for rcpt in mail.rcpt_tos}
    assert PHISHING not in new and "cobros.hostingejemplo@gmail.com" not in new
    assert MARTA in new


def test_a_staff_reply_marked_spam_is_held_and_relays_nothing(world: World) -> None:
    # A staff address is as easy to forge as a ticket code: the reply would be relayed to
    # the customer, the backscatter path again.
    with_spam_headers(world)
    world.deliver(eml("new-gmail-plain.eml"))
    run_once(world)
    (ticket,) = world.tickets()
    code = str(ticket["code"])
    answer = mail_from(ANA, f"Re: [{code}] No puedo enviar correos", "#close\nResuelto.")
    world.deliver(b"X-Spam-Flag: YES\n" + answer)
    before = len(world.sink.received)
    log = run_once(world)
    assert "spam ticket=-: spam (X-Spam-Flag: YES)" in log
    shown = world.show(code)
    assert shown["status"] == "new" and len(shown["messages"]) == 1
    assert len(world.sink.received) == before


def test_releasing_what_is_not_held_is_one_line(world: World) -> None:
    with_spam_headers(world)
    world.deliver(eml("ham-spamassassin-bayes00.eml"))
    run_once(world)
    ((ham_id,),) = world.query("SELECT id FROM inbound")
    for wrong in (str(ham_id), "4242"):
        rc, out, err = world.cli("spam", "release", wrong)
        assert rc == 1 and out == "", err
        assert err.strip() == (
            f"mailtickets: no mail with id {wrong} is held as spam; see `mailtickets spam list`"
        )
    rc, _, err = world.cli("spam", "release", "SOP-123")
    assert rc == 2 and "Traceback" not in err
