"""Time spent through the real daemon: `#tiempo 25m` in two replies, one of them delivered
twice, is 50 minutes on the ticket, in `show` and in `report --time`."""

from __future__ import annotations

import csv
import io
import json

from tests.conftest import World, both_databases, eml
from tests.servers import Received

pytestmark = both_databases

LAURA = "laura.martinez@gmail.com"
ANA = "ana.garcia@hostingejemplo.es"


def only(mails: list[Received]) -> Received:
    assert len(mails) == 1, [m.message["Subject"] for m in mails]
    return mails[0]


def test_time_from_two_replies_and_a_duplicate_totals_fifty_minutes(world: World) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    world.cycle()
    code = str(world.tickets()[0]["code"])
    notice = str(only(world.sink.to(ANA)).message["Message-ID"])
    answer = eml("canned-time/staff-tiempo-25m-answer.eml", code=code, notice_message_id=notice)
    alone = eml("canned-time/staff-tiempo-25m-only.eml", code=code, notice_message_id=notice)

    # Above an answer: recorded, and the answer relayed without the command.
    world.deliver(answer)
    world.deliver(answer)  # the same mail twice (a copy in the mailbox)
    assert world.cycle().errors == []
    relayed = world.sink.to(LAURA)
    assert len(relayed) == 2  # the acknowledgement, then the one answer
    assert relayed[1].text.startswith("Laura, he revisado el registro del servidor")
    assert "#tiempo" not in relayed[1].text

    # Alone above a signature: recorded, nothing relayed, the ticket stays as it was.
    before = len(world.sink.received)
    world.deliver(alone)
    assert world.cycle().errors == []
    assert len(world.sink.received) == before
    world.deliver(alone)  # delivered again later, after the first copy was processed
    world.cycle()

    ticket = world.show(code)
    assert ticket["status"] == "waiting"
    assert ticket["time_minutes"] == 50
    assert [(t["staff"], t["minutes"]) for t in ticket["time_entries"]] == [(ANA, 25), (ANA, 25)]
    assert world.query("SELECT count(*) FROM time_entry") == [(2,)]
    rc, page, _ = world.cli("show", code)
    assert rc == 0 and "Time spent: 0h50m (50 min)" in page

    rc, out, err = world.cli("report", "--time", "--csv")
    assert rc == 0, err
    assert list(csv.reader(io.StringIO(out))) == [
        ["customer", "staff", "minutes", "hours"],
        ["Laura Martínez", ANA, "50", "0.83"],
    ]
    rc, out, err = world.cli("report", "--time", "--json")
    assert rc == 0, err
    found = json.loads(out)
    assert found["minutes"] == 50 and found["customers"][0]["tickets"] == [code]
    assert found["staff"] == [{"staff": ANA, "name": "Ana García", "minutes": 50, "hours": 0.83}]
    rc, out, err = world.cli("report", "--time")
    assert rc == 0 and "Laura Martínez" in out and "Ana García" in out


def test_a_bad_duration_is_refused_to_the_staff_member(world: World) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    world.cycle()
    code = str(world.tickets()[0]["code"])
    notice = str(only(world.sink.to(ANA)).message["Message-ID"])
    raw = eml("canned-time/staff-tiempo-25m-answer.eml", code=code, notice_message_id=notice)
    world.deliver(raw.replace(b"#tiempo 25m", b"#tiempo media hora"))
    world.cycle()
    told = world.sink.received[-1]
    assert told.rcpt_tos == [ANA] and "#tiempo media hora" in told.text
    assert "no ha recibido nada" in told.text
    assert world.show(code)["time_minutes"] == 0
    assert len(world.sink.to(LAURA)) == 1  # the acknowledgement only


def test_report_time_options(world: World) -> None:
    rc, out, err = world.cli("report", "--time", "--from", "2026-11-01", "--to", "2026-11-30")
    assert rc == 0 and "No time recorded in the period." in out, err
    rc, _, err = world.cli("report", "--time", "--html", str(world.tmp / "x.html"))
    assert rc == 2 and "--time has no page" in err
    rc, _, err = world.cli("report", "--time", "--from", "2026-11-31")
    assert rc == 2 and "--from" in err
