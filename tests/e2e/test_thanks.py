"""Thanks are not a reopening (issue 13 point 6): a customer reply to a closed ticket that
only thanks, once its quoted history is cut, is stored and leaves the ticket closed, with
no staff notice; anything more reopens it as before (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import World, both_databases, eml
from tests.e2e.test_people import mail_from
from tests.e2e.test_timers import ANA, HOUR, T0, answered_ticket, at

pytestmark = both_databases


def closed_ticket(world: World) -> str:
    code = answered_ticket(world)
    world.deliver(mail_from(ANA, f"Re: [{code}] x", "#cerrar"))
    world.cycle(clock=at(T0 + 2 * HOUR))
    assert world.show(code)["status"] == "closed"
    return code


def reply(code: str, text: str, n: int) -> bytes:
    return eml("thanks/gracias-gmail-con-historial.eml", code=code, text=text, n=str(n))


THANKS = (
    "¡Muchas gracias!",
    "ok, gracias\n\nLaura",
    "Hola,\n\nThanks!\n\nUn saludo,\nLaura Martínez",
)


def test_a_reply_that_only_thanks_is_kept_and_the_ticket_stays_closed(world: World) -> None:
    code = closed_ticket(world)
    told = len(world.sink.to(ANA))
    for n, text in enumerate(THANKS, start=1):
        world.deliver(reply(code, text, n))
        world.cycle(clock=at(T0 + (2 + n) * HOUR))
        ticket = world.show(code)
        assert ticket["status"] == "closed", text
        assert ticket["messages"][-1]["direction"] == "in"
        assert ticket["messages"][-1]["text"].startswith(text.split("\n")[0])
    assert len(world.sink.to(ANA)) == told  # nobody is bothered with a thank-you
    # Also long after the reopening window: no new linked ticket for a thank-you.
    world.deliver(reply(code, THANKS[0], 9))
    world.cycle(clock=at(T0 + 3 * HOUR + timedelta(days=40)))
    assert [t["code"] for t in world.tickets()] == [code]


def test_thanks_with_anything_more_reopen_as_before(world: World) -> None:
    code = closed_ticket(world)
    world.deliver(reply(code, "Gracias, pero sigue sin funcionar desde el móvil.", 3))
    world.cycle(clock=at(T0 + 3 * HOUR))
    assert world.show(code)["status"] == "open"
    assert "reabierto" in world.sink.to(ANA)[-1].text
