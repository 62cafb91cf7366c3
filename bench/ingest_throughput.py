"""Ingest throughput and latency against a real Dovecot and an SMTP sink (issue 9, SPEC §10).

Fills Dovecot mailboxes with generated Spanish support mail (bench/corpus.py: replies,
attachments and HTML alternatives in the proportions of a real support inbox) and
measures, on the same mailbox, in one run:

  baseline  fetch every message by UID in batches and parse it with the stdlib parser,
            email.message_from_bytes(raw, policy=email.policy.default);
  ingest    what `run --once` does before delivery, in this process: raw rows and the
            checkpoint committed, customers, tickets, messages and events written, the
            acknowledgement and staff notice rendered, composed and committed to the outbox;
  delivery  the outbox handed to the SMTP sink (a process of its own: bench/sink.py);
  cycle     on a second mailbox holding the same mail, one whole `run --once` cycle
            (Daemon.cycle: delivery taking turns with processing during the backlog),
            with how long after its start the first and the middle acknowledgement
            reached the sink.

for each mailbox size and IMAP batch size given, with the CPU time per mail of this process
in ingest and in delivery and of the sink in delivery (all of them share two cores here,
with Dovecot). Then, with `mailtickets run` waiting in
IDLE (polling every 5 minutes, so only IDLE can wake it), the time from APPENDing a new
mail to its acknowledgement reaching the sink, for mails arriving one by one.

    python bench/ingest_throughput.py [--sizes 500,5000] [--batches 50,500]
                                      [--latency-samples 100] [--profile FILE]
                                      [--statements]

--statements counts the SQL statements of the first ingest by their first words and
prints the most frequent: what a mail costs in round trips to the database. Counting
turns off the fast path of mailtickets/prepared.py, so that run's timings are not figures.
"""

from __future__ import annotations

import argparse
import cProfile
import email
import email.policy
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import CorpusMail, generate, summary
from bench.sink import read_log
from mailtickets import outbox
from mailtickets.allocator import return_big_buffers
from mailtickets.config import load_settings
from mailtickets.daemon import Daemon
from mailtickets.db import open_database
from tests.conftest import CONFIG_TEMPLATE
from tests.servers import Dovecot, free_port

SUPPORT = "soporte@hostingejemplo.es"


class Sink:
    """bench/sink.py in its own process, logging what it accepts."""

    def __init__(self, folder: Path, tls: tuple[Path, Path] | None = None) -> None:
        """`tls`: a certificate and its key, to take mail only after STARTTLS."""
        self.port, self.log = free_port(), folder / "sink.log"
        script = Path(__file__).with_name("sink.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(self.port), str(self.log), *map(str, tls or ())],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def received(self) -> list[tuple[float, str, str, str]]:
        return read_log(self.log)

    def cpu(self) -> float:
        """CPU seconds the sink's process has used (user and system, from /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def fill(dovecot: Dovecot, user: str, mails: Sequence[CorpusMail]) -> None:
    with dovecot.client(user) as client:
        for start in range(0, len(mails), 200):
            client.multiappend("INBOX", [m.raw for m in mails[start : start + 200]])


def write_config(
    folder: Path, dovecot: Dovecot, user: str, sink: Sink, batch: int, poll: str = "1s"
) -> Path:
    path = folder / f"{user}.toml"
    # The tests' site (departments, staff, soporte@hostingejemplo.es), with bigger batches.
    text = CONFIG_TEMPLATE.format(
        imap_port=dovecot.port,
        user=user,
        smtp_port=sink.port,
        database_url=f"sqlite:///{folder / f'{user}.db'}",
        policy="open",
        imap_extra=f"batch_size = {batch}",
        tickets_extra="",
    )
    text = text.replace('poll_interval = "1s"', f'poll_interval = "{poll}"')
    # A few hundred customers write thousands of mails within the hour of the benchmark.
    text = text.replace(
        'unknown_senders = "open"', 'unknown_senders = "open"\nmax_auto_replies_per_hour = 1000000'
    )
    path.write_text(text.replace("[smtp]\n", f"[smtp]\nbatch_size = {batch}\n"))
    path.chmod(0o600)
    return path


def baseline(dovecot: Dovecot, user: str, batch: int) -> float:
    """Fetch every message and parse it with the stdlib parser, policy=default."""
    started = time.perf_counter()
    with dovecot.client(user) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        for start in range(0, len(uids), batch):
            fetched = client.fetch(uids[start : start + batch], [b"BODY.PEEK[]"])
            for data in fetched.values():
                email.message_from_bytes(bytes(data[b"BODY[]"]), policy=email.policy.default)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Run:
    ingest: float
    delivery: float
    processed: int
    sent: int
    # This process's CPU seconds in each: what is left of the wall time is waiting (for
    # Dovecot, the sink, the disk) or the other core's work.
    ingest_cpu: float = 0.0
    delivery_cpu: float = 0.0
    sink_cpu: float = 0.0  # the sink's, receiving what was delivered


def run_once(
    config: Path, profile: Path | None, sink: Sink, statements: Counter[str] | None = None
) -> Run:
    """What `run --once` does (one cycle), timed before and after delivery; the ingest's
    SQL statements counted into `statements` when given."""
    settings = load_settings(config)
    engine = open_database(settings.database_url)
    if statements is not None:
        _count_statements(engine, statements)
    daemon = Daemon(settings, engine, lambda: datetime.now(UTC))
    with daemon.checkpoints, daemon.worker:
        started, started_cpu = time.perf_counter(), time.process_time()
        with _profiled(profile):
            # As the daemon does: the mailbox's lease taken (watch.py) before fetching, the
            # heartbeat renewed between the batch transactions, attempts in its name.
            assert daemon.watching(), "another worker holds the benchmark's mailbox"
            daemon.watchers[0].mailbox.ingest()
            results = daemon.pipeline.process_pending(
                settings.imap.batch_size,
                between=daemon.worker.beat_if_due,
                worker=daemon.worker,
            )
        ingested, ingested_cpu = time.perf_counter(), time.process_time()
        sink_started = sink.cpu()
        if statements is not None:
            event.remove(engine, "before_cursor_execute", _COUNTERS.pop(engine))
        with _profiled(profile and profile.with_suffix(".delivery.prof")):
            report = outbox.flush(settings.smtp, engine, datetime.now(UTC), daemon.worker)
        delivered, delivered_cpu = time.perf_counter(), time.process_time()
        sink_used = sink.cpu() - sink_started
    daemon.log_out()
    engine.dispose()
    states = {r.state for r in results}
    assert states == {"done"}, f"not every mail was processed: {states}"
    assert report.retried == report.failed == 0, report
    return Run(
        ingested - started,
        delivered - ingested,
        len(results),
        report.sent,
        ingested_cpu - started_cpu,
        delivered_cpu - ingested_cpu,
        sink_used,
    )


@dataclass
class Cycle:
    wall: float
    first_ack: float  # seconds from the cycle's start to the first mail at the sink
    half_acks: float  # ... to the moment half of what it sent was there


def run_cycle(config: Path, sink: Sink) -> Cycle:
    """One whole `run --once` cycle, as `mailtickets run --once` runs it."""
    settings = load_settings(config)
    engine = open_database(settings.database_url)
    daemon = Daemon(settings, engine, lambda: datetime.now(UTC))
    started, since = time.perf_counter(), time.time()
    report = daemon.cycle()
    wall = time.perf_counter() - started
    daemon.log_out()
    engine.dispose()
    assert report.errors == [] and report.retried == report.failed == 0, report
    arrived = sorted(at - since for at, *_ in sink.received() if at >= since)
    assert len(arrived) == report.sent, (len(arrived), report.sent)
    return Cycle(wall, arrived[0], arrived[len(arrived) // 2])


def _count_statements(engine: Engine, into: Counter[str]) -> None:
    """Count every statement `engine` sends, by its first 90 characters (an executemany
    once: one round trip)."""

    def count(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        into[" ".join(sql.split())[:90] + (" [many]" if many else "")] += 1

    _COUNTERS[engine] = count
    event.listen(engine, "before_cursor_execute", count)


_COUNTERS: dict[Engine, Any] = {}  # engine → its counting listener, removed after ingest


@contextmanager
def _profiled(path: Path | None) -> Iterator[None]:
    """cProfile the block into `path`; nothing when None."""
    if path is None:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(path)


def latency(dovecot: Dovecot, sink: Sink, folder: Path, samples: int) -> list[float]:
    """APPEND → acknowledgement at the sink, one mail at a time, `mailtickets run` in IDLE."""
    user = dovecot.add_user()
    config = write_config(folder, dovecot, user, sink, batch=50, poll="5m")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailtickets", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    mails = generate(samples, seed=7, domain_tag="idle", support=SUPPORT)
    times: list[float] = []
    try:
        time.sleep(3)  # started, first cycle done, waiting in IDLE
        with dovecot.client(user) as client:
            for mail in mails:
                started = time.time()
                client.append("INBOX", mail.raw)
                times.append(_ack_of(sink, mail.message_id, started) - started)
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return times


def _ack_of(sink: Sink, message_id: str, since: float, timeout: float = 60) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for at, _mid, in_reply_to, _code in sink.received():
            if in_reply_to == message_id and at >= since:
                return at
        time.sleep(0.002)
    raise TimeoutError(f"no acknowledgement of {message_id} within {timeout} s")


def show_profile(path: Path, top: int = 25) -> None:
    print(f"\nprofile of the first ingest (cProfile, cumulative, {path}):")
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="500,5000")
    parser.add_argument("--batches", default="50,500")
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--statements", action="store_true")
    args = parser.parse_args()
    return_big_buffers()  # as `mailtickets` does at start (cli.main)
    sizes = [int(s) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="mt-bench-ingest-"))
    dovecot, sink = Dovecot.start(), Sink(folder)
    rows: list[tuple[int, int, float, Run, Cycle]] = []
    try:
        for size in sizes:
            mails = generate(size, seed=args.seed, domain_tag=f"n{size}", support=SUPPORT)
            shape = summary(mails)
            print(f"corpus: {size} mails, {shape}", flush=True)
            for batch in batches:
                user = dovecot.add_user()
                fill(dovecot, user, mails)
                base = baseline(dovecot, user, batch)
                config = write_config(folder, dovecot, user, sink, batch)
                profile = args.profile if args.profile and not rows else None
                counted: Counter[str] | None = Counter() if args.statements and not rows else None
                run = run_once(config, profile, sink, counted)
                if counted is not None:
                    show_statements(counted, size)
                again = dovecot.add_user()
                fill(dovecot, again, mails)
                cycle = run_cycle(write_config(folder, dovecot, again, sink, batch), sink)
                rows.append((size, batch, base, run, cycle))
                print(_line(size, batch, base, run), flush=True)
                print(f"{'':14}cycle: {_cycle_line(size, base, cycle)}", flush=True)
        idle = latency(dovecot, sink, folder, args.latency_samples) if args.latency_samples else []
    finally:
        sink.stop()
        dovecot.stop()
        shutil.rmtree(folder, ignore_errors=True)  # the mailboxes' databases: 100s of MB
    print(
        "\nmails  batch  fetch+parse        ingest                     ingest + delivery"
        "                  CPU per mail: this process's ingest + delivery, the sink's"
    )
    for size, batch, base, run, _ in rows:
        print(_line(size, batch, base, run))
    print("\nmails  batch  run --once cycle                    first ack   half of the mail sent")
    for size, batch, base, _, cycle in rows:
        print(f"{size:5d}  {batch:5d}  {_cycle_line(size, base, cycle)}")
    if idle:
        cuts = statistics.quantiles(idle, n=100)
        print(
            f"\nnew mail → acknowledgement at the sink, IDLE, {len(idle)} mails one by one: "
            f"p50 {statistics.median(idle):.3f} s, p99 {cuts[98]:.3f} s, max {max(idle):.3f} s"
        )
    if args.profile:
        show_profile(args.profile)
        show_profile(args.profile.with_suffix(".delivery.prof"))


def show_statements(counted: Counter[str], mails: int, top: int = 40) -> None:
    total = sum(counted.values())
    print(
        f"\nSQL statements of the first ingest: {total} for {mails} mails "
        f"({total / mails:.1f} a mail); the {top} most frequent:"
    )
    for text, n in counted.most_common(top):
        print(f"{n:7d}  {n / mails:5.2f}/mail  {text}")


def _line(size: int, batch: int, base: float, run: Run) -> str:
    total = run.ingest + run.delivery
    return (
        f"{size:5d}  {batch:5d}  {size / base:6.0f} mails/s  "
        f"{size / run.ingest:6.0f} mails/s ({base / run.ingest:4.2f}×, "
        f"{run.ingest / size * 1000:5.2f} ms/mail)  "
        f"{size / total:6.0f} mails/s ({base / total:4.2f}×; {run.sent} mails sent)  "
        f"cpu {run.ingest_cpu / size * 1000:5.2f} + {run.delivery_cpu / size * 1000:5.2f} "
        f"ms/mail, sink {run.sink_cpu / size * 1000:5.2f}"
    )


def _cycle_line(size: int, base: float, cycle: Cycle) -> str:
    return (
        f"{size / cycle.wall:6.0f} mails/s ({base / cycle.wall:4.2f}×, {cycle.wall:6.2f} s)  "
        f"after {cycle.first_ack:6.2f} s  after {cycle.half_acks:6.2f} s"
    )


if __name__ == "__main__":
    main()
