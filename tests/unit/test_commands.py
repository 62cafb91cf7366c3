"""Staff command parsing (pure): aliases, arguments, problems, and the text left to relay."""

import pytest

from mailtickets.commands import CommandSite, ParsedCommands, parse_commands, split_commands
from mailtickets.staff_commands import specs

DEPTS = ["Hosting", "Facturación", "Dominios"]
STAFF = ["ana@hostingejemplo.es", "pablo@hostingejemplo.es"]


def parse(text: str) -> ParsedCommands:
    return parse_commands(text, specs(), CommandSite(tuple(DEPTS), frozenset(STAFF), "SOP"))


@pytest.mark.parametrize(
    ("line", "name", "argument"),
    [
        ("#close", "close", ""),
        ("#cerrar", "close", ""),
        ("#Cerrar", "close", ""),
        ("#reopen", "reopen", ""),
        ("#reabrir", "reopen", ""),
        ("#priority high", "priority", "high"),
        ("#prioridad alta", "priority", "high"),
        ("#prioridad URGENTE", "priority", "urgent"),
        ("#priority low", "priority", "low"),
        ("#department facturacion", "department", "Facturación"),
        ("#departamento FACTURACIÓN", "department", "Facturación"),
        ("#assign ana@hostingejemplo.es", "assign", "ana@hostingejemplo.es"),
        ("#asignar <Pablo@HostingEjemplo.es>", "assign", "pablo@hostingejemplo.es"),
        ("#note", "note", ""),
        ("#nota", "note", ""),
        ("#merge SOP-7KQ2MX", "merge", "SOP-7KQ2MX"),
        ("#fusionar [sop-7kq2mx]", "merge", "SOP-7KQ2MX"),
    ],
)
def test_every_command_and_alias(line: str, name: str, argument: str) -> None:
    parsed = parse(f"{line}\n\nTexto para el cliente.")
    assert [(c.name, c.argument) for c in parsed.commands] == [(name, argument)]
    assert parsed.problems == () and parsed.text == "Texto para el cliente."


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("#prioridad altísima", "unknown priority"),
        ("#departamento marketing", "no department"),
        ("#asignar intruso@otro.com", "not a staff address"),
        ("#fusionar 1234", "not a ticket code"),
        ("#merge SOP-0O1IL5", "not a ticket code"),  # 0, O, 1, I, L: never in a code
        ("#merge SOP-7KQ2M", "not a ticket code"),
        ("#merge ABC-7KQ2MX", "not a ticket code"),
        ("#merge SOP-7KQ2MX y SOP-8KQ2MX", "not a ticket code"),
        ("#borrar", "unknown command"),
        ("#prioridad", "needs an argument"),
    ],
)
def test_problems_are_reported_with_the_line(line: str, problem: str) -> None:
    parsed = parse(f"{line}\nHola")
    assert parsed.commands == () and parsed.problems[0].line == line
    assert problem in parsed.problems[0].problem


def test_only_lines_at_the_very_top_are_commands() -> None:
    commands, rest = split_commands("\n\n#cerrar\n\n#nota\nHola\n#prioridad alta\nAdiós")
    assert commands == ["#cerrar", "#nota"]
    assert rest == "Hola\n#prioridad alta\nAdiós"


def test_hashtags_in_text_are_not_commands() -> None:
    parsed = parse("Hola, el error #500 sigue.\n#cerrar")
    assert parsed.commands == () and parsed.problems == ()
