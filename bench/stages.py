"""Where an ingest's time goes, stage by stage: bench/ingest_throughput.py run with a timer
around each of the stages named below (wall time, each call included in its callers'), in
fetching and processing only, not in the delivery that follows.

    python bench/stages.py [--sizes 500] [--batches 500] [ingest_throughput's options]

A timer costs about a microsecond a call, and the figures of the benchmark's own table are
those of the timed run: compare the stages of one run with each other, not with its
table. A sampling profiler (py-spy, docs/performance.md) sees inside the stages instead.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import ingest_throughput

# Timed only inside these two (fetching and saving; processing), so the delivery that
# follows in each run is left out of statements, commits and flushes.
GATES = ("Mailbox.ingest", "Pipeline.process_pending")
# module:function or module:Class.method, outermost first.
STAGES = (
    "mailtickets.ingest:Mailbox.ingest",
    "mailtickets.store:save_inbound",
    "mailtickets.pipeline:Pipeline.process_pending",
    "mailtickets.store:claim_inbound_rows",
    "mailtickets.store:inbound_in_hand",
    "mailtickets.mail:parse_mail",
    "mailtickets.pipeline:Pipeline._thread",
    "mailtickets.pipeline:Pipeline._sender",
    "mailtickets.apply:apply",
    "mailtickets.customer_mail:customer_reply",
    "mailtickets.routing:route",
    "mailtickets.store:add_ticket",
    "mailtickets.writer:TicketWriter.store_message",
    "mailtickets.notifier:Notifier.queue",
    "mailtickets.notifier:Notifier._deliverable",
    "mailtickets.render:Renderer.render",
    "mailtickets.compose:compose",
    "mailtickets.store:add_outbox",
    "mailtickets.prepared:Prepared.run",
    "sqlalchemy.orm.session:Session.flush",
    # The ORM's part of a savepoint: the SAVEPOINT itself goes out with the first statement
    # inside it (so lands in that stage), its RELEASE at the end (no timer of its own).
    "sqlalchemy.orm.session:Session.begin_nested",
    "sqlalchemy.engine.default:DefaultDialect.do_commit",
)

spent: dict[str, float] = {}
calls: Counter[str] = Counter()
_inside = [0]  # how many gates the current call is in


def _timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    gate = name in GATES

    def timed(*args: Any, **kwargs: Any) -> Any:
        if not (gate or _inside[0]):
            return function(*args, **kwargs)
        _inside[0] += gate
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - started
            calls[name] += 1
            _inside[0] -= gate

    return timed


def install(stages: tuple[str, ...] = STAGES) -> None:
    """Wrap each stage where it is defined and wherever a module imported it by name."""
    importlib.import_module("mailtickets.daemon")  # every module the pipeline uses
    for stage in stages:
        module_name, _, path = stage.partition(":")
        module = importlib.import_module(module_name)
        owner_name, _, method = path.rpartition(".")
        if owner_name:
            owner = getattr(module, owner_name)
            setattr(owner, method, _timed(path, owner.__dict__[method]))
            continue
        function = getattr(module, path)
        timed = _timed(path, function)
        for loaded in list(sys.modules.values()):
            if getattr(loaded, path, None) is function:
                setattr(loaded, path, timed)


def show(mails: int) -> None:
    print(f"\nstages of every run, {mails} mails a run (wall time, callers include callees):")
    print(f"{'stage':<44} {'calls':>8} {'ms a mail':>10} {'µs a call':>10}")
    for stage in STAGES:
        name = stage.partition(":")[2]
        if calls[name]:
            per_mail = spent[name] * 1000 / mails
            per_call = spent[name] * 1e6 / calls[name]
            print(f"{name:<44} {calls[name]:>8} {per_mail:>10.3f} {per_call:>10.1f}")


def main() -> None:
    install()
    if "--latency-samples" not in sys.argv:
        sys.argv += ["--latency-samples", "0"]
    for option, default in (("--sizes", "500"), ("--batches", "500")):
        if option not in sys.argv:
            sys.argv += [option, default]
    ingest_throughput.main()
    sizes = sys.argv[sys.argv.index("--sizes") + 1].split(",")
    batches = sys.argv[sys.argv.index("--batches") + 1].split(",")
    show(sum(int(s) for s in sizes) * len(batches))


if __name__ == "__main__":
    main()
