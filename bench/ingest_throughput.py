"""Ingest throughput against a real Dovecot, compared with merely fetching and parsing.

Fills a Dovecot mailbox with N realistic support mails (the tests' corpus, each with its
own Message-ID), then measures on the same mailbox:
  baseline  — fetch every message by UID in batches and parse it (imapclient + parse_mail);
  ingest    — mailtickets' ingest and processing, end to end: raw rows and checkpoint
              committed, tickets, messages and events written, the outbox filled.
And the time from a new mail reaching the mailbox to its acknowledgement reaching the SMTP
sink, with `mailtickets run` waiting in IDLE.

    python bench/ingest_throughput.py [--mails 500] [--latency-samples 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from mailtickets.config import load_settings
from mailtickets.db import open_database
from mailtickets.ingest import Mailbox
from mailtickets.mail import parse_mail
from mailtickets.pipeline import Pipeline
from mailtickets.render import Renderer
from tests.conftest import eml_variant, write_config
from tests.servers import Dovecot, SmtpSink


def mail(n: int) -> bytes:
    return eml_variant(n, "bench")


def fill(dovecot: Dovecot, user: str, count: int) -> int:
    total = 0
    with dovecot.client(user) as client:
        for n in range(count):
            raw = mail(n)
            client.append("INBOX", raw)
            total += len(raw)
    return total


def baseline(dovecot: Dovecot, user: str, batch: int) -> float:
    started = time.perf_counter()
    with dovecot.client(user) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        for start in range(0, len(uids), batch):
            fetched = client.fetch(uids[start : start + batch], [b"BODY.PEEK[]"])
            for data in fetched.values():
                parse_mail(bytes(data[b"BODY[]"]))
    return time.perf_counter() - started


def ingest(config: Path) -> tuple[float, int]:
    settings = load_settings(config)
    engine = open_database(settings.database_url)
    renderer = Renderer(settings.tickets.locale)
    mailbox = Mailbox(settings.imap, engine, _now)
    pipeline = Pipeline(settings, engine, renderer, _now)
    started = time.perf_counter()
    report = mailbox.ingest()
    results = pipeline.process_pending()
    elapsed = time.perf_counter() - started
    mailbox.close()
    assert report.saved == len(results) and all(r.state == "done" for r in results)
    return elapsed, len(results)


def _now() -> datetime:
    from datetime import datetime

    return datetime.now(UTC)


def latency(dovecot: Dovecot, sink: SmtpSink, folder: Path, samples: int) -> list[float]:
    user = dovecot.add_user()
    config = write_config(folder / "idle.toml", dovecot, user, sink, folder / "idle.db")
    config.write_text(config.read_text().replace('poll_interval = "1s"', 'poll_interval = "5m"'))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailtickets", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    times = []
    try:
        time.sleep(3)
        for n in range(samples):
            before = len(sink.received)
            started = time.perf_counter()
            dovecot.append(user, mail(10_000 + n).replace(b"Subject:", b"Subject: idle", 1))
            while len(sink.received) < before + 2:  # acknowledgement and staff notice
                time.sleep(0.005)
            times.append(time.perf_counter() - started)
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mails", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--latency-samples", type=int, default=10)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mt-bench-ingest-"))
    dovecot, sink = Dovecot.start(), SmtpSink().start()
    try:
        user = dovecot.add_user()
        size = fill(dovecot, user, args.mails)
        config = write_config(folder / "c.toml", dovecot, user, sink, folder / "mt.db")
        config.write_text(
            config.read_text().replace(
                'unknown_senders = "open"',
                'unknown_senders = "open"\nmax_auto_replies_per_hour = 100000',
            )
        )
        config.write_text(
            config.read_text().replace(
                'folder = "INBOX"', f'folder = "INBOX"\nbatch_size = {args.batch}'
            )
        )
        base = baseline(dovecot, user, args.batch)
        full, processed = ingest(config)
        idle = latency(dovecot, sink, folder, args.latency_samples)
    finally:
        sink.stop()
        dovecot.stop()
    print(f"mailbox: {args.mails} mails, {size / 1e6:.1f} MB, batches of {args.batch}")
    print(f"fetch + parse only     : {base:6.2f} s  {args.mails / base:7.1f} mails/s")
    print(
        f"mailtickets end to end : {full:6.2f} s  {processed / full:7.1f} mails/s "
        f"({base / full * 100:.0f} % of the fetch-and-parse rate)"
    )
    print(
        f"new mail → acknowledgement at the sink, IDLE: median {statistics.median(idle):.2f} s,"
        f" max {max(idle):.2f} s over {len(idle)} mails"
    )


if __name__ == "__main__":
    main()
