"""Delivery alone: the same outbox sent again and again over 1, 2, 3 … connections.

One ingest of generated support mail (bench/corpus.py) fills the outbox with its
acknowledgements and staff notices; then, for each round and each connection count in
turn, every row is made due again and `outbox.flush` sends it all to the SMTP sink (a
process of its own). Alternating the counts on the same rows keeps the machine's drift
out of the comparison. Per sent mail: wall time, this process's CPU, the sink's CPU.

    python bench/delivery.py [--mails 500] [--connections 1,2,3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import generate
from bench.ingest_throughput import SUPPORT, Sink, fill, run_once, write_config
from mailtickets import outbox
from mailtickets.allocator import return_big_buffers
from mailtickets.config import load_settings
from mailtickets.daemon import Daemon
from mailtickets.db import open_database
from tests.servers import Dovecot

DUE_AGAIN = text(
    "UPDATE outbox SET state = 'pending', attempts = 0, claimed_by = NULL, "
    "claimed_at = NULL, sent_at = NULL"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mails", type=int, default=500)
    parser.add_argument("--connections", default="1,2,3")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    return_big_buffers()
    counts = [int(c) for c in args.connections.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="mt-bench-delivery-"))
    dovecot, sink = Dovecot.start(), Sink(folder)
    try:
        user = dovecot.add_user()
        fill(dovecot, user, generate(args.mails, seed=1, domain_tag="d", support=SUPPORT))
        config = write_config(folder, dovecot, user, sink, batch=100)
        run_once(config, None, sink)  # the outbox filled (and sent once)
        settings = load_settings(config)
        engine = open_database(settings.database_url)
        daemon = Daemon(settings, engine, lambda: datetime.now(UTC))
        print("connections  ms a sent mail: wall   CPU here   CPU of the sink   mails")
        with daemon.worker:
            for _ in range(args.rounds):
                for count in counts:
                    with engine.begin() as conn:
                        conn.execute(DUE_AGAIN)
                    smtp = dataclasses.replace(settings.smtp, connections=count)
                    wall, cpu, sink_cpu = time.perf_counter(), time.process_time(), sink.cpu()
                    report = outbox.flush(smtp, engine, datetime.now(UTC), daemon.worker)
                    sent = max(report.sent, 1)
                    print(
                        f"{count:11d}  {(time.perf_counter() - wall) / sent * 1000:21.2f}"
                        f"  {(time.process_time() - cpu) / sent * 1000:9.2f}"
                        f"  {(sink.cpu() - sink_cpu) / sent * 1000:16.2f}  {report.sent:6d}",
                        flush=True,
                    )
        daemon.log_out()
        engine.dispose()
    finally:
        sink.stop()
        dovecot.stop()
        shutil.rmtree(folder, ignore_errors=True)  # the mailboxes' databases: 100s of MB


if __name__ == "__main__":
    main()
