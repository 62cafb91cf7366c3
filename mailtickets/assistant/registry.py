"""The checks there are: every entry point of the `mailtickets.checks` group.

The built-in ones are declared in mailtickets' own pyproject.toml like any site's:

    [project.entry-points."mailtickets.checks"]
    suspended = "acme_checks:SUSPENDED"

naming a `Check`, or a plain function `run(targets, context)` (its entry point's name is
the check's, its docstring's first line the description). A plugin that cannot be loaded,
is neither, or reuses a name is logged in one line and reported as a finding of the run:
a broken plugin never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from mailtickets.assistant.plugin import Check

log = logging.getLogger("mailtickets.assistant")

ENTRY_POINT_GROUP = "mailtickets.checks"


@dataclass(frozen=True)
class Unloadable:
    """An entry point that gave no usable check, and why."""

    name: str
    value: str
    error: str


@dataclass(frozen=True)
class Registry:
    checks: tuple[Check, ...]
    unloadable: tuple[Unloadable, ...] = ()

    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks)


def load_checks(disabled: Iterable[str] = (), group: str = ENTRY_POINT_GROUP) -> Registry:
    """Every check the installed distributions declare in `group` but the `disabled` ones,
    in the order of their names, and the entry points that gave none."""
    off = set(disabled)
    checks: list[Check] = []
    broken: list[Unloadable] = []
    for point in sorted(entry_points(group=group), key=lambda p: p.name):
        if point.name in off:
            continue
        try:
            check = _as_check(point)
        except Exception as exc:  # a site's plugin: whatever is wrong with it, skip it
            error = _line(exc)
            log.error("check plugin %s = %s skipped: %s", point.name, point.value, error)
            broken.append(Unloadable(point.name, point.value, error))
            continue
        if any(c.name == check.name for c in checks):
            error = f"the name {check.name!r} is already taken"
            log.error("check plugin %s = %s skipped: %s", point.name, point.value, error)
            broken.append(Unloadable(point.name, point.value, error))
            continue
        checks.append(check)
    return Registry(tuple(checks), tuple(broken))


def _as_check(point: EntryPoint) -> Check:
    loaded = point.load()
    if isinstance(loaded, Check):
        return loaded
    if callable(loaded):
        doc = (getattr(loaded, "__doc__", None) or "").strip().splitlines()
        return Check(point.name, doc[0] if doc else point.name, loaded)
    raise TypeError(f"{loaded!r} is neither a Check nor a function")


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def by_name(registry: Registry, name: str) -> Check | None:
    """The check called `name` (a queue row names its check), or None if it is gone."""
    return next((c for c in registry.checks if c.name == name), None)
