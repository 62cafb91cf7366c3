"""Staff commands at the top of a reply (#close, #prioridad alta…): parse and check (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailtickets.codes import parse_code
from mailtickets.routing import PRIORITIES, fold

ALIASES = {
    "close": "close",
    "cerrar": "close",
    "reopen": "reopen",
    "reabrir": "reopen",
    "priority": "priority",
    "prioridad": "priority",
    "department": "department",
    "departamento": "department",
    "dpto": "department",
    "assign": "assign",
    "asignar": "assign",
    "note": "note",
    "nota": "note",
    "merge": "merge",
    "fusionar": "merge",
}
NEEDS_ARGUMENT = frozenset({"priority", "department", "assign", "merge"})
SPANISH_PRIORITIES = {"baja": "low", "normal": "normal", "alta": "high", "urgente": "urgent"}
_COMMAND_LINE = re.compile(r"^#([^\W\d_]+)\b[ \t]*(.*)$")


@dataclass(frozen=True)
class Command:
    name: str  # canonical: close, reopen, priority, department, assign, note, merge
    argument: str
    line: str


@dataclass(frozen=True)
class CommandProblem:
    line: str
    problem: str


@dataclass(frozen=True)
class ParsedCommands:
    commands: tuple[Command, ...]
    problems: tuple[CommandProblem, ...]
    text: str  # the reply without its command lines

    def has(self, name: str) -> bool:
        return any(c.name == name for c in self.commands)

    def argument(self, name: str) -> str:
        return next((c.argument for c in self.commands if c.name == name), "")


def split_commands(text: str) -> tuple[list[str], str]:
    """Command lines at the very top (blank lines between allowed), and the rest."""
    lines = text.replace("\r\n", "\n").split("\n")
    found: list[str] = []
    index = 0
    for index, line in enumerate(lines):  # noqa: B007 (index is used after the loop)
        stripped = line.strip()
        if stripped.startswith("#") and _COMMAND_LINE.match(stripped):
            found.append(stripped)
        elif stripped:
            break
    else:
        index = len(lines)
    return found, "\n".join(lines[index:]).strip()


def parse_commands(
    text: str, departments: Iterable[str], staff: Iterable[str], prefix: str
) -> ParsedCommands:
    """Every command line, normalised and checked against the site's departments and staff."""
    lines, rest = split_commands(text)
    commands: list[Command] = []
    problems: list[CommandProblem] = []
    depts = {fold(d): d for d in departments}
    staff_set = {s.lower() for s in staff}
    for line in lines:
        result = _one(line, depts, staff_set, prefix)
        if isinstance(result, Command):
            commands.append(result)
        else:
            problems.append(result)
    return ParsedCommands(tuple(commands), tuple(problems), rest)


def _one(
    line: str, depts: dict[str, str], staff: set[str], prefix: str
) -> Command | CommandProblem:
    match = _COMMAND_LINE.match(line)
    assert match is not None
    word, argument = fold(match.group(1)), match.group(2).strip()
    name = ALIASES.get(word)
    if name is None:
        known = "#close, #reopen, #priority, #department, #assign, #note, #merge"
        return CommandProblem(line, f"unknown command #{word} (known: {known})")
    if name in NEEDS_ARGUMENT and not argument:
        return CommandProblem(line, f"#{word} needs an argument")
    try:
        if name == "priority":
            argument = _priority(argument)
        elif name == "department":
            argument = _department(argument, depts)
        elif name == "assign":
            argument = _assign(argument, staff)
        elif name == "merge":
            argument = _merge(argument, prefix)
    except ValueError as exc:
        return CommandProblem(line, str(exc))
    return Command(name, argument, line)


def _priority(argument: str) -> str:
    value = SPANISH_PRIORITIES.get(fold(argument), fold(argument))
    if value not in PRIORITIES:
        raise ValueError(
            f"unknown priority {argument!r} (use low, normal, high, urgent / baja, alta, urgente)"
        )
    return value


def _department(argument: str, depts: dict[str, str]) -> str:
    found = depts.get(fold(argument))
    if found is None:
        raise ValueError(f"no department {argument!r} (there are: {', '.join(depts.values())})")
    return found


def _assign(argument: str, staff: set[str]) -> str:
    email = argument.strip("<>").lower()
    if email not in staff:
        raise ValueError(f"{argument} is not a staff address")
    return email


def _merge(argument: str, prefix: str) -> str:
    code = parse_code(argument, prefix)
    if code is None:
        raise ValueError(f"{argument!r} is not a ticket code like {prefix}-7KQ2MX")
    return code
