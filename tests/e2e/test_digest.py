"""The daily digest (issue 13 point 2) through the real daemon, IMAP server and SMTP sink."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from email.message import EmailMessage

from tests.conftest import World, both_databases, eml, utc
from tests.e2e.test_people import mail_from
from tests.servers import Received

pytestmark = both_databases

ANA = "ana.garcia@hostingejemplo.es"
PABLO = "pablo.ruiz@hostingejemplo.es"
JEFA = "jefa@hostingejemplo.es"

DIGEST = """
[digest]
enabled = true
hour = "08:30"

[digest.departments]
Hosting = ["ana.garcia@hostingejemplo.es", "jefa@hostingejemplo.es"]
"""


def madrid(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A Madrid wall-clock time in winter (UTC+1) as the UTC instant the clocks take."""
    return utc(2026, month, day, hour - 1, minute)


def at(when: datetime) -> object:
    return lambda: when


def with_slas(world: World) -> None:
    text = world.config.read_text()
    text = text.replace(
        'staff = ["ana.garcia@hostingejemplo.es"]\ndefault = true\n',
        'staff = ["ana.garcia@hostingejemplo.es"]\ndefault = true\nfirst_response = "1h"\n',
    )
    text = text.replace(
        'staff = ["pablo.ruiz@hostingejemplo.es"]\n',
        'staff = ["pablo.ruiz@hostingejemplo.es"]\nfirst_response = "30m"\n',
        1,
    )
    world.config.write_text(text)


def sweep(world: World, when: datetime) -> list[str]:
    """`sweep --at` in its own process: the digest lines it printed."""
    rc, out, err = world.cli("sweep", "--at", when.isoformat())
    assert rc == 0, err
    return [line for line in out.splitlines() if line.startswith("digest")]


def digests(world: World, since: int = 0) -> list[Received]:
    return [
        m
        for m in world.sink.received[since:]
        if str(m.message["Message-ID"]).startswith("<digest.")
    ]


def html(mail: Received) -> str:
    message = mail.message
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "no HTML part"
    return str(part.get_content())


def by_recipient(mails: list[Received]) -> dict[str, list[Received]]:
    found: dict[str, list[Received]] = {}
    for mail in mails:
        assert len(mail.rcpt_tos) == 1
        found.setdefault(mail.rcpt_tos[0], []).append(mail)
    return found


def build_week(world: World) -> dict[str, str]:
    """Three tickets built on a fake clock; the digest is turned on after Friday's work."""
    with_slas(world)
    # Wednesday: a Hosting ticket nobody answers (its 1 h SLA long late by Monday).
    world.deliver(
        mail_from("cliente@tiendaonline.es", "La web da error 500", "Hola, la web falla.")
    )
    world.cycle(clock=at(madrid(25, 10)))
    # Thursday: Laura's; Friday, Ana takes it and answers: waiting, reminded on Sunday.
    world.deliver(eml("new-gmail-plain.eml"))
    world.cycle(clock=at(madrid(26, 10)))
    codes = {str(t["requester"]): str(t["code"]) for t in world.tickets()}
    laura = codes["laura.martinez@gmail.com"]
    answer = f"#asignar {ANA}\nRevisa el puerto 465, por favor."
    world.deliver(mail_from(ANA, f"Re: [{laura}] x", answer))
    world.cycle(clock=at(madrid(27, 10)))
    ticket = world.show(laura)
    assert (ticket["status"], ticket["assignee"]) == ("waiting", ANA)
    world.config.write_text(world.config.read_text() + DIGEST)
    return {"web": codes["cliente@tiendaonline.es"], "laura": laura}


def test_one_digest_per_recipient_once_a_business_day_threaded_per_day(world: World) -> None:
    codes = build_week(world)
    assert sweep(world, madrid(28, 8, 31)) == []  # Saturday: no digest
    assert sweep(world, madrid(29, 10, 5)) == []  # Sunday: Laura's reminder goes out
    assert world.show(codes["laura"])["status"] == "waiting"
    # Monday 08:00, before the hour: José's billing mail (30 min SLA, due 10:30).
    world.deliver(eml("new-outlook-latin1.eml"))
    world.cycle(clock=at(madrid(30, 8)))
    codes["jose"] = next(str(t["code"]) for t in world.tickets() if t["code"] not in codes.values())
    assert digests(world) == []
    assert sweep(world, madrid(30, 8, 29)) == []

    fired = sweep(world, madrid(30, 8, 31))
    assert len(fired) == 5, fired
    monday = by_recipient(digests(world))
    assert sorted(monday) == [ANA, JEFA, PABLO]
    assert [len(monday[r]) for r in (ANA, JEFA, PABLO)] == [2, 1, 2]

    # Hosting, to Ana and to the manager named in [digest.departments]: every section.
    hosting, assigned = monday[ANA]
    assert "Resumen diario de Hosting" in str(hosting.message["Subject"])
    text = hosting.text
    assert "Tickets abiertos: 2" in text and "de 3 a 7 días: 2" in text
    assert "Primera respuesta en riesgo" in text and f"{codes['web']}" in text
    assert "VENCIDA desde" in text
    waiting = text.split("Esperando al cliente: 1")[1]
    assert codes["laura"] in waiting.split("Se cerrarán")[0]
    closing = text.split("Se cerrarán automáticamente antes de que acabe mañana: 1")[1]
    assert codes["laura"] in closing and "lun 30 nov, 10:05" in closing
    page = html(hosting)
    assert "<h2" in page and codes["web"] in page and "VENCIDA" in page and codes["laura"] in page
    assert monday[JEFA][0].text == text
    assert hosting.message["Auto-Submitted"] == "auto-generated"

    # Ana's own list, threaded under her Hosting digest.
    assert "Sus tickets asignados" in str(assigned.message["Subject"])
    assert codes["laura"] in assigned.text and codes["web"] not in assigned.text
    assert codes["laura"] in html(assigned)
    hosting_id = str(hosting.message["Message-ID"])
    assert str(assigned.message["In-Reply-To"]) == hosting_id
    assert hosting_id in str(assigned.message["References"])
    assert hosting.message["In-Reply-To"] is None and hosting.message["References"] is None

    # Pablo: Facturación (José's first answer due at 10:30) and the empty Dominios one.
    billing, domains = monday[PABLO]
    assert codes["jose"] in billing.text and "vence lun 30 nov, 10:30" in billing.text
    assert "No hay tickets abiertos en Dominios." in domains.text
    assert "No hay tickets abiertos" in html(domains)
    assert str(domains.message["In-Reply-To"]) == str(billing.message["Message-ID"])
    # Pablo is assigned nothing: no empty list of his own.

    # The same day: another sweep, later, another process: nothing more, not even to Pablo
    # once a ticket is assigned to him (his list of the day was decided at 08:31).
    before = len(world.sink.received)
    assert sweep(world, madrid(30, 8, 31)) == []
    world.deliver(mail_from(PABLO, f"Re: [{codes['jose']}] x", f"#asignar {PABLO}\nLo miro."))
    world.cycle(clock=at(madrid(30, 12)))
    assert world.show(codes["jose"])["assignee"] == PABLO
    assert sweep(world, madrid(30, 17)) == []  # Laura's ticket is closed by now
    assert digests(world, before) == []
    assert world.show(codes["laura"])["status"] == "closed"

    # Tuesday, two workers at once: one digest each, a new thread.
    before = len(world.sink.received)
    outs = sweep_together(world, madrid(1, 8, 31, month=12))
    assert sum(line.startswith("digest") for out in outs for line in out.splitlines()) == 5
    tuesday = by_recipient(digests(world, before))
    assert [len(tuesday.get(r, [])) for r in (ANA, JEFA, PABLO)] == [1, 1, 3]
    assert codes["jose"] in tuesday[PABLO][2].text  # assigned to him on Monday at 12:00
    monday_ids = {str(m.message["Message-ID"]) for ms in monday.values() for m in ms}
    for mail in (m for ms in tuesday.values() for m in ms):
        assert str(mail.message["Message-ID"]) not in monday_ids
        assert not set(str(mail.message["References"] or "").split()) & monday_ids
    assert "Tickets abiertos: 1" in tuesday[ANA][0].text  # Laura's was closed on Monday


def sweep_together(world: World, when: datetime) -> list[str]:
    """Two `sweep --at` processes started at once: their outputs."""
    cmd = [sys.executable, "-m", "mailtickets", "--config", str(world.config)]
    cmd += ["sweep", "--at", when.isoformat()]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    return [out for out, _ in outs]


def test_a_digest_missed_at_its_hour_goes_out_late_that_day_only(world: World) -> None:
    world.config.write_text(world.config.read_text() + DIGEST)
    # The daemon was down all Monday morning: the digest goes out at 15:00, once.
    # No tickets at all: each department's digest says so (Hosting ×2, Facturación,
    # Dominios); nobody gets an empty list of their own.
    assert len(sweep(world, madrid(30, 15))) == 4
    assert all("No hay tickets abiertos" in m.text for m in digests(world))
    # Tuesday it was down until the next day: Wednesday 08:00 sends nothing for Tuesday.
    before = len(world.sink.received)
    assert sweep(world, madrid(2, 8, month=12)) == []
    assert digests(world, before) == []
