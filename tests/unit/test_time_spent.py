"""Time spent: `#tiempo`/`#time` parsing, the totals of `report --time` and its outputs (pure),
and the staff notices listing the new commands from the registry."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mailtickets.commands import CommandSite, ParsedCommands, parse_commands
from mailtickets.models import Ticket
from mailtickets.notifier import ticket_context
from mailtickets.render import Renderer
from mailtickets.report_story import Period
from mailtickets.report_time import (
    Entry,
    build_time_report,
    time_csv,
    time_json,
    time_table,
)
from mailtickets.settings import Settings
from mailtickets.staff_commands import specs

MADRID = ZoneInfo("Europe/Madrid")
ANA, PABLO = "ana.garcia@hostingejemplo.es", "pablo.ruiz@hostingejemplo.es"
NAMES = {ANA: "Ana García", PABLO: "Pablo Ruiz"}
PERIOD = Period(date(2026, 11, 1), date(2026, 11, 30), MADRID, datetime(2026, 12, 1, tzinfo=UTC))


def parse(text: str) -> ParsedCommands:
    site = CommandSite(("Hosting",), frozenset({ANA}), "SOP")
    return parse_commands(text, specs(), site, "<m1@hostingejemplo.es>", ANA)


@pytest.mark.parametrize(
    ("line", "minutes"),
    [
        ("#tiempo 25m", "25"),
        ("#time 25m", "25"),
        ("#time 1h30m", "90"),
        ("#tiempo 1h 30m", "90"),
        ("#Tiempo 2H", "120"),
        ("#tiempo 90s", None),
        ("#tiempo 24h", "1440"),
    ],
)
def test_time_in_both_languages_is_whole_minutes(line: str, minutes: str | None) -> None:
    parsed = parse(f"{line}\n\nYa está resuelto.")
    if minutes is None:
        assert parsed.commands == () and "whole minutes" in parsed.problems[0].problem
        return
    assert [(c.name, c.argument) for c in parsed.commands] == [("time", minutes)]
    assert parsed.text == "Ya está resuelto." and parsed.problems == ()


@pytest.mark.parametrize(
    ("argument", "problem"),
    [
        ("25", "is not a time spent"),  # minutes or hours? say which
        ("media hora", "is not a time spent"),
        ("25 minutos", "is not a time spent"),
        ("-25m", "is not a time spent"),
        ("0m", "from 1m to 24h"),
        ("25h", "from 1m to 24h"),  # a typo for 25m more often than a day's work
        ("2d", "from 1m to 24h"),
    ],
)
def test_a_bad_duration_is_a_problem_with_an_example(argument: str, problem: str) -> None:
    parsed = parse(f"#tiempo {argument}\nHola")
    assert parsed.commands == () and parsed.problems[0].line == f"#tiempo {argument}"
    assert problem in parsed.problems[0].problem and "1h30m" in parsed.problems[0].problem


def test_time_needs_a_duration_and_is_written_once_per_reply() -> None:
    assert "needs an argument" in parse("#tiempo").problems[0].problem
    twice = parse("#tiempo 25m\n#time 10m\n\nHecho.")
    assert [c.argument for c in twice.commands] == ["25"]
    assert twice.problems[0].line == "#time 10m" and "write it once" in twice.problems[0].problem


def entry(customer: str, staff: str, minutes: int, code: str = "SOP-7KQ2MX", cid: int = 0) -> Entry:
    at = datetime(2026, 11, 23, 11, tzinfo=UTC)
    return Entry(cid or hash(customer) % 1000, customer, code, "Hosting", staff, minutes, at)


ENTRIES = [
    entry("Floristería Laura", ANA, 25, cid=1),
    entry("Floristería Laura", ANA, 25, cid=1),
    entry("Floristería Laura", PABLO, 10, "SOP-8PQ3NZ", cid=1),
    entry("Construcciones Pérez", PABLO, 90, cid=2),
    entry("Construcciones Pérez", "antiguo@hostingejemplo.es", 5, cid=2),
]


def test_totals_per_customer_and_per_staff_member() -> None:
    report = build_time_report(ENTRIES, NAMES, PERIOD)
    assert report.minutes == 155
    assert [(c.customer, c.minutes) for c in report.customers] == [
        ("Construcciones Pérez", 95),
        ("Floristería Laura", 60),
    ]
    laura = report.customers[1]
    assert laura.tickets == ("SOP-7KQ2MX", "SOP-8PQ3NZ")
    assert [(s.staff, s.name, s.minutes) for s in laura.staff] == [
        (ANA, "Ana García", 50),
        (PABLO, "Pablo Ruiz", 10),
    ]
    # Someone no longer in [[staff]] keeps their time, under their address.
    assert [(s.name, s.minutes) for s in report.staff] == [
        ("Pablo Ruiz", 100),
        ("Ana García", 50),
        ("antiguo@hostingejemplo.es", 5),
    ]


def test_two_customers_of_the_same_name_stay_apart() -> None:
    twins = [entry("Juan López", ANA, 10, cid=1), entry("Juan López", ANA, 20, cid=2)]
    assert [c.minutes for c in build_time_report(twins, NAMES, PERIOD).customers] == [20, 10]


def test_csv_is_one_row_per_customer_and_staff_member_for_invoicing() -> None:
    rows = list(csv.reader(io.StringIO(time_csv(build_time_report(ENTRIES, NAMES, PERIOD)))))
    assert rows == [
        ["customer", "staff", "minutes", "hours"],
        ["Construcciones Pérez", PABLO, "90", "1.50"],
        ["Construcciones Pérez", "antiguo@hostingejemplo.es", "5", "0.08"],
        ["Floristería Laura", ANA, "50", "0.83"],
        ["Floristería Laura", PABLO, "10", "0.17"],
    ]


def test_json_has_the_period_and_both_groupings() -> None:
    found: dict[str, Any] = time_json(build_time_report(ENTRIES, NAMES, PERIOD, "Hosting"))
    json.dumps(found)  # plain data only
    assert (found["from"], found["to"], found["timezone"]) == (
        "2026-11-01",
        "2026-11-30",
        "Europe/Madrid",
    )
    assert (found["department"], found["minutes"], found["hours"]) == ("Hosting", 155, 2.58)
    laura = found["customers"][1]
    assert laura["staff"][0] == {"staff": ANA, "name": "Ana García", "minutes": 50, "hours": 0.83}
    assert found["staff"][0]["minutes"] == 100


def test_the_table_reads_per_customer_then_per_staff() -> None:
    table = time_table(build_time_report(ENTRIES, NAMES, PERIOD))
    lines = table.splitlines()
    assert lines[0] == "Time spent 2026-11-01 to 2026-11-30 (Europe/Madrid)"
    laura = next(line for line in lines if line.startswith("Floristería Laura"))
    assert "Ana García" in laura and laura.split()[-2:] == ["50", "0.83"]
    assert lines[-1].startswith("Total") and lines[-1].split()[-2:] == ["155", "2.58"]
    empty = time_table(build_time_report([], NAMES, PERIOD))
    assert empty.endswith("No time recorded in the period.")


@pytest.mark.parametrize(
    ("locale", "words"),
    [("es", ("#plantilla", "#plantillas", "#tiempo")), ("en", ("#macro", "#macros", "#time"))],
)
def test_staff_notices_list_the_new_commands_from_the_registry(
    settings: Settings, locale: str, words: tuple[str, ...]
) -> None:
    opened = datetime(2026, 11, 23, 10, tzinfo=MADRID)
    ticket = Ticket(
        code="SOP-7KQ2MX",
        subject="No puedo enviar correo",
        status="new",
        department="Hosting",
        requester="laura.martinez@gmail.com",
        customer_id=1,
        created_at=opened,
        updated_at=opened,
    )
    context = ticket_context(settings, ticket, "Floristería Laura", text="Hola", sender="x@y.es")
    # ticket_context words them in the site's locale; the same derivation for the other one.
    context["commands"] = [{"name": s.name, "word": s.shown(locale)} for s in specs()]
    context |= {"reopened": False, "attachments": [], "not_added": []}
    renderer = Renderer(locale)
    for kind in ("staff_new", "staff_reply", "command_error"):
        text = renderer.render(kind, context | {"problems": []}).text
        for word in words:
            assert re.search(rf"{word}(?![a-z])", text), (kind, word)


@pytest.mark.parametrize(
    ("reply", "text"),
    [
        ("#tiempo 25m\n\n--\nAna García\nSoporte técnico", ""),
        ("#tiempo 25m\n\n-- \nAna García", ""),
        (
            "#tiempo 25m\n\nHecho.\n\nUn saludo,\nAna\n-- \nAna García\nTel. 600 000 000",
            "Hecho.\n\nUn saludo,\nAna",
        ),
        ("#tiempo 25m\n\nLa opción --force no hace falta.", "La opción --force no hace falta."),
    ],
)
def test_the_staff_members_own_signature_is_not_relayed(reply: str, text: str) -> None:
    parsed = parse(reply)
    assert parsed.text == text and [c.name for c in parsed.commands] == ["time"]
