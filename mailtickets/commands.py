"""Command lines at the top of a reply (#close, #prioridad alta…): parse and check (pure).

Which commands exist is data (CommandSpec, from staff_commands.COMMANDS); this module only
reads lines and checks arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mailtickets.codes import parse_code
from mailtickets.routing import PRIORITIES, fold

SPANISH_PRIORITIES = {"baja": "low", "normal": "normal", "alta": "high", "urgente": "urgent"}
_COMMAND_LINE = re.compile(r"^#([^\W\d_]+)\b[ \t]*(.*)$")


@dataclass(frozen=True)
class CommandSite:
    """What command arguments are checked against: the site's departments and staff."""

    departments: tuple[str, ...]
    staff: frozenset[str]
    prefix: str


@dataclass(frozen=True)
class CommandSpec:
    """A command line as parsing sees it: its name, the words that call it in each locale
    (the first one is shown to staff), and how its argument is checked and normalised
    (None: it takes none; the function raises ValueError for a bad one)."""

    name: str
    words: Mapping[str, tuple[str, ...]]
    description: str
    argument: Callable[[str, CommandSite], str] | None = None

    def all_words(self) -> tuple[str, ...]:
        return (self.name, *(w for words in self.words.values() for w in words))

    def shown(self, locale: str) -> str:
        """The word staff are shown in `locale`: '#cerrar' in Spanish, '#close' in English."""
        return "#" + self.words.get(locale, (self.name,))[0]


@dataclass(frozen=True)
class Command:
    name: str  # the spec's name: close, priority, …
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


def parse_commands(text: str, specs: Sequence[CommandSpec], site: CommandSite) -> ParsedCommands:
    """Every command line, named by `specs`, its argument checked against `site`."""
    lines, rest = split_commands(text)
    by_word = {fold(w): spec for spec in specs for w in spec.all_words()}
    known = ", ".join(f"#{spec.name}" for spec in specs)
    commands: list[Command] = []
    problems: list[CommandProblem] = []
    for line in lines:
        result = _one(line, by_word, known, site)
        if isinstance(result, Command):
            commands.append(result)
        else:
            problems.append(result)
    return ParsedCommands(tuple(commands), tuple(problems), rest)


def _one(
    line: str, by_word: dict[str, CommandSpec], known: str, site: CommandSite
) -> Command | CommandProblem:
    match = _COMMAND_LINE.match(line)
    assert match is not None
    word, argument = fold(match.group(1)), match.group(2).strip()
    spec = by_word.get(word)
    if spec is None:
        return CommandProblem(line, f"unknown command #{word} (known: {known})")
    if spec.argument is not None:
        if not argument:
            return CommandProblem(line, f"#{word} needs an argument")
        try:
            argument = spec.argument(argument, site)
        except ValueError as exc:
            return CommandProblem(line, str(exc))
    return Command(spec.name, argument, line)


def priority(argument: str, _site: CommandSite) -> str:
    """low, normal, high, urgent (or baja, alta, urgente)."""
    value = SPANISH_PRIORITIES.get(fold(argument), fold(argument))
    if value not in PRIORITIES:
        raise ValueError(
            f"unknown priority {argument!r} (use low, normal, high, urgent / baja, alta, urgente)"
        )
    return value


def department(argument: str, site: CommandSite) -> str:
    """A department of the site, accents and case ignored."""
    depts = {fold(d): d for d in site.departments}
    found = depts.get(fold(argument))
    if found is None:
        raise ValueError(f"no department {argument!r} (there are: {', '.join(depts.values())})")
    return found


def staff_member(argument: str, site: CommandSite) -> str:
    """A staff address of the site."""
    email = argument.strip("<>").lower()
    if email not in site.staff:
        raise ValueError(f"{argument} is not a staff address")
    return email


def ticket_code(argument: str, site: CommandSite) -> str:
    """One ticket code, brackets and case ignored."""
    code = parse_code(argument, site.prefix)
    if code is None:
        raise ValueError(f"{argument!r} is not a ticket code like {site.prefix}-7KQ2MX")
    return code
