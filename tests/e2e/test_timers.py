"""Reminders, auto-close, reopen and first-response SLAs (issue 4) on the real servers."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

from tests.conftest import World, both_databases, eml, utc
from tests.e2e.test_people import mail_from

pytestmark = both_databases

LAURA = "laura.martinez@gmail.com"
ANA = "ana.garcia@hostingejemplo.es"
PABLO = "pablo.ruiz@hostingejemplo.es"
T0 = utc(2026, 11, 23, 9)  # Monday 10:00 in Madrid
HOUR = timedelta(hours=1)


def at(when: datetime) -> object:
    return lambda: when


def answered_ticket(world: World, answered: datetime = T0 + HOUR) -> str:
    """Laura's ticket, opened at T0 and answered by Ana at `answered`."""
    world.deliver(eml("new-gmail-plain.eml"))
    world.cycle(clock=at(T0))
    code = str(world.tickets()[-1]["code"])
    world.deliver(mail_from(ANA, f"Re: [{code}] x", "Revisa el puerto 465, por favor."))
    world.cycle(clock=at(answered))
    assert world.show(code)["status"] == "waiting"
    return code


def sweep(world: World, when: datetime) -> list[str]:
    rc, out, err = world.cli("sweep", "--at", when.isoformat())
    assert rc == 0, err
    return [
        line
        for line in out.splitlines()
        if line.startswith(("reminder", "autoclose", "sla_breach"))
    ]


def test_one_reminder_after_48h_then_closed_24h_after_it_was_sent(world: World) -> None:
    code = answered_ticket(world)
    assert sweep(world, T0 + 48 * HOUR) == []  # 47 h after the answer
    fired = sweep(world, T0 + 50 * HOUR)
    assert len(fired) == 1 and code in fired[0] and fired[0].startswith("reminder")
    reminder = world.sink.received[-1]
    assert reminder.rcpt_tos == [LAURA] and "Estamos esperando su respuesta" in str(
        reminder.message["Subject"]
    )
    assert "48 horas" in reminder.text and "24 horas" in reminder.text
    assert sweep(world, T0 + 50 * HOUR) == []  # a repeated sweep sends nothing
    assert sweep(world, T0 + 73 * HOUR) == []  # 23 h after the reminder was sent
    fired = sweep(world, T0 + 75 * HOUR)
    assert len(fired) == 1 and fired[0].startswith("autoclose")
    assert world.show(code)["status"] == "closed"
    notice = world.sink.received[-1]
    assert notice.rcpt_tos == [LAURA] and "se reabrirá" in notice.text
    assert sweep(world, T0 + 200 * HOUR) == []


def test_a_customer_reply_cancels_reminder_and_close(world: World) -> None:
    code = answered_ticket(world)
    assert len(sweep(world, T0 + 50 * HOUR)) == 1
    world.deliver(mail_from(LAURA, f"Re: [{code}] x", "Ya lo he probado y sigue igual."))
    world.cycle(clock=at(T0 + 51 * HOUR))
    assert world.show(code)["status"] == "open"
    assert sweep(world, T0 + 300 * HOUR) == []


def test_after_three_days_down_reminders_catch_up_but_nothing_unreminded_closes(
    world: World,
) -> None:
    first = answered_ticket(world)
    world.deliver(eml("new-outlook-latin1.eml"))
    world.cycle(clock=at(T0))
    second = next(str(t["code"]) for t in world.tickets() if t["code"] != first)
    world.deliver(mail_from(PABLO, f"Re: [{second}] x", "Le devolvemos el cargo."))
    world.cycle(clock=at(T0 + HOUR))
    fired = sweep(world, T0 + 5 * 24 * HOUR)
    assert sorted(f.split()[0] for f in fired) == ["reminder", "reminder"]
    assert {t["status"] for t in world.tickets()} == {"waiting"}
    fired = sweep(world, T0 + 6 * 24 * HOUR + HOUR)
    assert sorted(f.split()[0] for f in fired) == ["autoclose", "autoclose"]


def test_two_sweeps_at_once_send_each_reminder_once(world: World) -> None:
    codes = [answered_ticket(world)]
    for n in range(5):
        world.deliver(mail_from(f"cliente{n}@empresa{n}.es", f"Consulta {n}", "Hola."))
    world.cycle(clock=at(T0))
    for ticket in world.tickets():
        if ticket["code"] not in codes:
            world.deliver(mail_from(ANA, f"Re: [{ticket['code']}] x", "Respuesta."))
            codes.append(str(ticket["code"]))
    world.cycle(clock=at(T0 + HOUR))
    before = len(world.sink.received)
    cmd = [
        sys.executable,
        "-m",
        "mailtickets",
        "--config",
        str(world.config),
        "sweep",
        "--at",
        (T0 + 50 * HOUR).isoformat(),
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    reminders = [
        m for m in world.sink.received[before:] if "esperando" in str(m.message["Subject"])
    ]
    assert len(reminders) == len(codes) == 6
    assert len({str(m.message["Subject"]) for m in reminders}) == 6


def test_reply_to_closed_ticket_reopens_within_window_else_links_new(world: World) -> None:
    code = answered_ticket(world)
    world.deliver(mail_from(ANA, f"Re: [{code}] x", "#cerrar"))
    world.cycle(clock=at(T0 + 2 * HOUR))
    assert world.show(code)["status"] == "closed"
    world.deliver(mail_from(LAURA, f"Re: [{code}] x", "Vuelve a fallar."))
    world.cycle(clock=at(T0 + 48 * HOUR))
    ticket = world.show(code)
    assert ticket["status"] == "open"
    assert any("reopens" in e["detail"] for e in ticket["events"] if e["kind"] == "status")
    assert "reabierto" in world.sink.to(ANA)[-1].text

    world.deliver(mail_from(ANA, f"Re: [{code}] x", "#cerrar"))
    world.cycle(clock=at(T0 + 49 * HOUR))
    world.deliver(mail_from(LAURA, f"Re: [{code}] x", "Un mes después, otra vez."))
    world.cycle(clock=at(T0 + 49 * HOUR + timedelta(days=31)))
    assert world.show(code)["status"] == "closed"
    newer = [t for t in world.tickets() if t["code"] != code]
    assert len(newer) == 1 and newer[0]["linked_to"] == code


SLA_CONFIG = """
[hours]
weekly = "mon-fri 10:00-18:00"
holidays_country = "ES"
holidays_subdiv = "MD"
closed_dates = ["2026-12-24"]
"""


def with_sla(world: World) -> None:
    text = world.config.read_text().replace(
        'staff = ["pablo.ruiz@hostingejemplo.es"]\n',
        'staff = ["pablo.ruiz@hostingejemplo.es"]\nfirst_response = "30m"\n'
        'lead = "jefa@hostingejemplo.es"\n',
        1,
    )
    world.config.write_text(text + SLA_CONFIG)


def test_first_response_sla_in_business_hours_escalates_once(world: World) -> None:
    with_sla(world)
    friday_evening = utc(2026, 11, 27, 16, 50)  # 17:50 in Madrid
    world.deliver(eml("new-outlook-latin1.eml"))
    world.cycle(clock=at(friday_evening))
    code = str(world.tickets()[0]["code"])
    ticket = world.show(code)
    assert ticket["first_response_due"] == "2026-11-30T09:20:00+00:00"  # Monday 10:20 Madrid
    ack = world.sink.to("jose.perez@construccionesperez.es")[0]
    assert "antes del lunes 30 de noviembre a las 10:20" in ack.text
    assert sweep(world, utc(2026, 11, 30, 9, 10)) == []
    fired = sweep(world, utc(2026, 11, 30, 9, 21))
    assert len(fired) == 1 and fired[0].startswith("sla_breach")
    escalation = world.sink.received[-1]
    assert sorted(escalation.rcpt_tos) == ["jefa@hostingejemplo.es", PABLO]
    assert sweep(world, utc(2026, 11, 30, 12)) == []


def test_answered_in_time_is_never_escalated(world: World) -> None:
    with_sla(world)
    world.deliver(eml("new-outlook-latin1.eml"))
    world.cycle(clock=at(T0))
    code = str(world.tickets()[0]["code"])
    world.deliver(mail_from(PABLO, f"Re: [{code}] x", "Lo miramos."))
    world.cycle(clock=at(T0 + timedelta(minutes=10)))
    assert world.show(code)["first_response_due"] is None
    assert sweep(world, T0 + 5 * HOUR) == []


def test_a_ticket_closed_before_its_first_answer_is_not_escalated(world: World) -> None:
    with_sla(world)
    world.deliver(eml("new-outlook-latin1.eml"))
    world.cycle(clock=at(T0))
    code = str(world.tickets()[0]["code"])
    world.deliver(
        mail_from(
            "jose.perez@construccionesperez.es", f"Re: [{code}] x", "#cerrar\nYa está, gracias."
        )
    )
    world.cycle(clock=at(T0 + timedelta(minutes=5)))
    assert world.show(code)["status"] == "closed"
    assert sweep(world, T0 + 5 * HOUR) == []
