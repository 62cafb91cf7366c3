"""Command lines at the top of a reply (#close, #prioridad alta…): parse and check (pure).

Which commands exist is data (CommandSpec, from staff_commands.COMMANDS); this module only
reads lines and checks arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches

from mailtickets.codes import parse_code
from mailtickets.durations import parse_duration
from mailtickets.routing import PRIORITIES, fold

SPANISH_PRIORITIES = {"baja": "low", "normal": "normal", "alta": "high", "urgente": "urgent"}
_COMMAND_LINE = re.compile(r"^#([^\W\d_]+)\b[ \t]*(.*)$")
# A canned answer's name is a file name: no dots or slashes, so no way out of canned/.
CANNED_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_MINUTES = 24 * 60  # one entry; more is a typo (25h for 25m) more often than a day's work


@dataclass(frozen=True)
class CommandSite:
    """What command arguments are checked against: the site's departments and staff."""

    departments: tuple[str, ...]
    staff: frozenset[str]
    prefix: str
    canned: tuple[str, ...] = ()  # the canned answers' names (canned.py lists them)


@dataclass(frozen=True)
class CommandSpec:
    """A command line as parsing sees it: its name, the words that call it in each locale
    (the first one is shown to staff), and how its argument is checked and normalised
    (None: it takes none; the function raises ValueError for a bad one)."""

    name: str
    words: Mapping[str, tuple[str, ...]]
    description: str
    argument: Callable[[str, CommandSite], str] | None = None
    once: bool = False  # at most once per reply: a second line is a problem, not a repeat

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
    message_id: str = ""  # the mail it came in: a command that records something does so once
    sender: str = ""


@dataclass(frozen=True)
class CommandProblem:
    line: str
    problem: str  # in English, for the log and the event
    # For templates that word a problem themselves: its kind, the name refused, the closest.
    kind: str = ""
    name: str = ""
    closest: tuple[str, ...] = ()


class UnknownName(ValueError):
    """A name that is well formed but names nothing, with the closest ones that exist."""

    def __init__(self, kind: str, name: str, closest: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.kind, self.name, self.closest = kind, name, closest


@dataclass(frozen=True)
class ParsedCommands:
    commands: tuple[Command, ...]
    problems: tuple[CommandProblem, ...]
    text: str  # the reply without its command lines and its "-- " signature

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


# RFC 3676's signature separator; format=flowed decoding may leave it without its space.
_SIGNATURE = re.compile(r"^-- ?$", re.MULTILINE)


def without_signature(text: str) -> str:
    """`text` without the signature block under its last "-- " line: the answer template
    signs for the staff member, and their own signature (a direct phone, a private address)
    is not for customers; a reply of commands above a signature then relays nothing."""
    found = list(_SIGNATURE.finditer(text))
    return text[: found[-1].start()].rstrip() if found else text


def parse_commands(
    text: str,
    specs: Sequence[CommandSpec],
    site: CommandSite,
    message_id: str = "",
    sender: str = "",
) -> ParsedCommands:
    """Every command line, named by `specs`, its argument checked against `site`; each
    command remembers the mail (`message_id`, `sender`) it came in."""
    lines, rest = split_commands(text)
    rest = without_signature(rest)
    by_word = {fold(w): spec for spec in specs for w in spec.all_words()}
    once = {spec.name for spec in specs if spec.once}
    known = ", ".join(f"#{spec.name}" for spec in specs)
    commands: list[Command] = []
    problems: list[CommandProblem] = []
    for line in lines:
        result = _one(line, by_word, known, site)
        if isinstance(result, CommandProblem):
            problems.append(result)
        elif result.name in once and any(c.name == result.name for c in commands):
            problems.append(CommandProblem(line, f"{line.split()[0]} twice: write it once"))
        else:
            commands.append(Command(result.name, result.argument, line, message_id, sender))
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
        except UnknownName as exc:
            return CommandProblem(line, str(exc), exc.kind, exc.name, exc.closest)
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


def canned_name(argument: str, site: CommandSite) -> str:
    """The name of one of the site's canned answers (case ignored); an unknown one says
    which are closest."""
    name = argument.strip().lower()
    if not CANNED_NAME.match(name):
        raise ValueError(
            f"{argument!r} is not a canned answer name (letters a-z, digits, - and _ only)"
        )
    if name not in site.canned:
        closest = closest_names(name, site.canned)
        raise UnknownName(
            "canned_unknown",
            name,
            closest,
            f"no canned answer {name!r} (closest: {', '.join(closest) or 'none'})",
        )
    return name


def closest_names(name: str, names: Sequence[str], count: int = 3) -> tuple[str, ...]:
    """Up to `count` of `names`, most alike first: always some, when there are any, so a
    typo far from every name still gets a hint."""
    return tuple(get_close_matches(name, names, n=count, cutoff=0.0))


def minutes(argument: str, _site: CommandSite) -> str:
    """Time spent, e.g. 25m, 1h30m, 2h: whole minutes, at least one, at most a day."""
    example = "write e.g. 25m, 1h30m or 2h"
    try:
        spent = parse_duration(argument)
    except ValueError:
        raise ValueError(f"{argument!r} is not a time spent; {example}") from None
    seconds = int(spent.total_seconds())
    if seconds % 60 or not 0 < seconds <= MAX_MINUTES * 60:
        raise ValueError(
            f"{argument!r}: time spent is whole minutes, from 1m to {MAX_MINUTES // 60}h; {example}"
        )
    return str(seconds // 60)
