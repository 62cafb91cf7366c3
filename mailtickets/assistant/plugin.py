"""What a check is (a name, a description, a function) and what it is handed: the
settings, the guarded network, a budget and the time.

A check is `run(targets, context)` yielding Findings; it opens connections only through
`context.guard`, and waits at most `context.budget.left(…)` at each step. Yielding rather
than returning lets the runner keep what a check found before its budget ran out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from mailtickets.assistant.findings import Finding
from mailtickets.assistant.net import Guard, Resolver
from mailtickets.assistant.settings import ChecksSettings
from mailtickets.assistant.targets import Targets


class OutOfTime(Exception):
    """The check's budget is spent."""


@dataclass(frozen=True)
class Budget:
    """A deadline on the monotonic clock; each network step waits at most what is left."""

    deadline: float

    @classmethod
    def of(cls, seconds: float) -> Budget:
        return cls(time.monotonic() + seconds)

    def left(self, cap: float | None = None) -> float:
        """Seconds left (at most `cap`); OutOfTime when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime("budget spent")
        return left if cap is None else min(left, cap)


@dataclass(frozen=True)
class CheckContext:
    settings: ChecksSettings
    guard: Guard  # every connection goes through it
    budget: Budget
    now: datetime  # the run's time, for certificate dates

    @property
    def resolver(self) -> Resolver:
        return self.guard.resolver


Run = Callable[[Targets, CheckContext], Iterable[Finding]]


@dataclass(frozen=True)
class Check:
    """A named check, as an entry point of the `mailtickets.checks` group names it."""

    name: str
    description: str
    run: Run
