"""Run a ticket's checks side by side, each within its budget and all within the total.

Each check runs in a thread of its own and yields findings as it goes; the runner waits
for it until its deadline (plus a short grace to report), keeps what it found, and adds
a finding when it timed out or raised. A stuck check is left behind (daemon thread, its
sockets time out on their own budget) and never holds up the others or the result.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from mailtickets.assistant.findings import Finding
from mailtickets.assistant.net import Guard, Resolver
from mailtickets.assistant.plugin import Budget, Check, CheckContext, OutOfTime
from mailtickets.assistant.registry import Registry, Unloadable, load_checks
from mailtickets.assistant.settings import ChecksSettings
from mailtickets.assistant.targets import Targets

GRACE = 0.5  # seconds a check may take past its budget to hand over its last finding


@dataclass
class _Running:
    """One check in its thread: what it yielded so far and how it ended."""

    check: Check
    budget: Budget
    seconds: float  # the budget's length, for the timeout finding
    found: list[Finding] = field(default_factory=list)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def __call__(self, targets: Targets, ctx: CheckContext) -> None:
        try:
            for finding in self.check.run(targets, ctx):
                self.found.append(finding)
        except BaseException as exc:  # a check's fault is its finding, never the run's
            self.error = exc
        finally:
            self.done.set()


def run_checks(
    targets: Targets,
    settings: ChecksSettings,
    now: datetime,
    registry: Registry | None = None,
) -> list[Finding]:
    """Every check of `registry` (default: the installed ones but the disabled) on
    `targets`, within `check_budget` each and `total_budget` for all."""
    registry = registry or load_checks(settings.disabled)
    total = Budget.of(settings.total_budget.total_seconds())
    guard = Guard(Resolver(settings), settings.allow_networks)
    running = [
        _start(check, targets, settings, now, guard, _budget(settings, total))
        for check in registry.checks
    ]
    findings = [_unloadable(u) for u in registry.unloadable]
    for run in running:
        findings += _collect(run)
    return findings


def run_check(
    check: Check,
    targets: Targets,
    settings: ChecksSettings,
    now: datetime,
    seconds: float | None = None,
) -> list[Finding]:
    """One check on its own (a queue row's worth), within `seconds` (default:
    `check_budget`)."""
    limit = settings.check_budget.total_seconds() if seconds is None else seconds
    guard = Guard(Resolver(settings), settings.allow_networks)
    return _collect(_start(check, targets, settings, now, guard, Budget.of(limit)))


def _budget(settings: ChecksSettings, total: Budget) -> Budget:
    own = time.monotonic() + settings.check_budget.total_seconds()
    return Budget(min(own, total.deadline))


def _start(
    check: Check,
    targets: Targets,
    settings: ChecksSettings,
    now: datetime,
    guard: Guard,
    budget: Budget,
) -> _Running:
    run = _Running(check, budget, max(budget.deadline - time.monotonic(), 0))
    ctx = CheckContext(settings=settings, guard=guard, budget=budget, now=now)
    thread = threading.Thread(
        target=run, args=(targets, ctx), name=f"check-{check.name}", daemon=True
    )
    thread.start()
    return run


def _collect(run: _Running) -> list[Finding]:
    finished = run.done.wait(max(run.budget.deadline - time.monotonic(), 0) + GRACE)
    found = list(run.found)
    name = run.check.name
    if not finished or isinstance(run.error, OutOfTime):
        seconds = f"{round(run.seconds, 1):g}"
        looked = f"the {name} check, budget {seconds} s"
        seen = f"{len(found)} findings before the budget ran out"
        facts: dict[str, str | int] = {"seconds": seconds}
        return [*found, Finding(name, name, "warning", "check_timeout", looked, seen, facts)]
    if run.error is not None:
        error = _line(run.error)
        facts = {"error": error}
        failed = Finding(name, name, "warning", "check_failed", f"the {name} check", error, facts)
        return [*found, failed]
    return found


def _unloadable(broken: Unloadable) -> Finding:
    looked = f"entry point {broken.name} = {broken.value}"
    facts = {"error": broken.error}
    return Finding(
        broken.name, broken.name, "warning", "check_unloadable", looked, broken.error, facts
    )


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
