"""Satisfaction by mail (issue 13 point 3) through the real daemon, Dovecot and the SMTP sink,
on SQLite and PostgreSQL: the closing notice invites a rating, the customer's "5 muy bien"
(a Gmail reply quoting the notice) is recorded once for that closing and leaves the ticket
closed with nobody told, also past the reopen window; `show` and `report` count it."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.conftest import World, both_databases, eml
from tests.e2e.test_thanks import closed_ticket
from tests.e2e.test_timers import ANA, HOUR, LAURA, T0, at

pytestmark = both_databases

INVITATION = "¿Qué tal le hemos atendido? Responda a este correo con un número del 1 al 5"
LATER = T0 + timedelta(days=40)  # long past reopen_within: a reply would open a new ticket


def rating(code: str, text: str, n: int, sender: str = LAURA) -> bytes:
    raw = eml("rating/valoracion-gmail-con-historial.eml", code=code, text=text, n=str(n))
    return raw.replace(b"{{FROM}}", sender.encode())


def test_a_rating_is_recorded_once_per_closing_and_the_ticket_stays_closed(world: World) -> None:
    code = closed_ticket(world)
    notice = world.sink.to(LAURA)[-1]
    assert INVITATION in notice.text and "«5 muy bien»" in notice.text
    told = len(world.sink.received)

    world.deliver(rating(code, "5 muy bien\n\nLaura", 1))
    world.cycle(clock=at(LATER))
    ticket = world.show(code)
    assert ticket["status"] == "closed"
    assert [t["code"] for t in world.tickets()] == [code]  # no new linked ticket either
    [rated] = ticket["ratings"]
    assert (rated["score"], rated["comment"], rated["by"]) == (5, "muy bien", LAURA)
    assert ticket["rating"] == 5  # SPEC §2's field
    closed_at = rated["closed_at"]
    assert ticket["messages"][-1]["text"].startswith("5 muy bien")
    assert "escribió:" not in ticket["messages"][-1]["text"]  # the quoted notice is cut
    assert ("rated", LAURA, "5: muy bien") in {
        (e["kind"], e["actor"], e["detail"]) for e in ticket["events"]
    }
    assert len(world.sink.received) == told  # neither the customer nor the staff are told

    # The same mail again (a second copy in the mailbox) and a second rating of the same
    # closing: stored, not counted, still closed.
    world.deliver(rating(code, "5 muy bien\n\nLaura", 1))
    world.deliver(rating(code, "1 fatal, al final", 2))
    world.cycle(clock=at(LATER + HOUR))
    ticket = world.show(code)
    assert ticket["status"] == "closed"
    assert [(r["score"], r["closed_at"]) for r in ticket["ratings"]] == [(5, closed_at)]
    assert ticket["messages"][-1]["text"].startswith("1 fatal")
    assert [e["kind"] for e in ticket["events"]].count("rating_not_counted") == 1
    assert len(world.sink.received) == told
    rc, out, err = world.cli("show", code)
    assert rc == 0, err
    assert f"5/5 by {LAURA} (closing of {closed_at}): muy bien" in out

    # Anyone else's rating is an ordinary mail: a stranger quoting the code gets a ticket of
    # their own, linked to this one, which stays closed and unrated by them.
    world.deliver(rating(code, "5 muy bien", 3, sender="pedro@otraempresa.es"))
    world.cycle(clock=at(LATER + 2 * HOUR))
    assert len(world.tickets()) == 2
    assert len(world.show(code)["ratings"]) == 1

    rc, out, err = world.cli("report", "--from", "2026-11-23", "--to", "2027-01-10", "--json")
    assert rc == 0, err
    data = json.loads(out)
    hosting = next(r for r in data["departments"] if r["name"] == "Hosting")
    for row in (hosting, data["total"]):
        assert (row["ratings"], row["satisfaction_average"], row["satisfied_share"]) == (
            1,
            5.0,
            1.0,
        )


def test_a_number_on_an_open_ticket_is_an_ordinary_reply(world: World) -> None:
    code = closed_ticket(world)
    # Within the reopen window a non-rating reply reopens: now the ticket is open ...
    world.deliver(rating(code, "Sigue sin funcionar el correo.", 1))
    world.cycle(clock=at(T0 + 3 * HOUR))
    assert world.show(code)["status"] == "open"
    # ... and a reply that starts with a number is a reply to read, not a rating.
    world.deliver(rating(code, "5 muy bien", 2))
    world.cycle(clock=at(T0 + 4 * HOUR))
    ticket = world.show(code)
    assert ticket["status"] == "open" and ticket["ratings"] == []
    assert world.sink.to(ANA)[-1].text.count("5 muy bien") >= 1  # staff told, as of any reply
