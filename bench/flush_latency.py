"""One new mail's flush: connect to the relay over STARTTLS, send its two notices, quit.

What the daemon does after each mail that arrives in IDLE, so its time is part of every
APPEND → acknowledgement figure with a real relay (the ingest benchmark's sink is plain
SMTP). The sink (bench/sink.py, a process of its own) holds a certificate from a CA made
here, trusted through SSL_CERT_FILE beside the system's own CAs, as a site's relay is.
Each round queues two rows and flushes them on one connection; per flush: wall time, this
process's CPU.

    python bench/flush_latency.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import trustme

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest_throughput import Sink
from mailtickets import outbox
from mailtickets.db import open_database
from mailtickets.settings import SmtpSettings
from mailtickets.workers import Heartbeat
from tests.outbox_rows import queue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mt-bench-flush-"))
    ca = trustme.CA()
    # The system's CA bundle and ours: a context loads as many certificates as in production.
    system = Path(ssl.get_default_verify_paths().cafile or "")
    bundle = system.read_bytes() if system.is_file() else b""
    (folder / "ca.pem").write_bytes(bundle + ca.cert_pem.bytes())
    issued = ca.issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    issued.private_key_pem.write_to_path(str(folder / "key.pem"))
    os.environ["SSL_CERT_FILE"] = str(folder / "ca.pem")  # before any context is made
    sink = Sink(folder, tls=(folder / "cert.pem", folder / "key.pem"))
    relay = SmtpSettings("127.0.0.1", sink.port, "starttls", "soporte@hostingejemplo.es")
    walls, cpus = [], []
    try:
        engine = open_database(f"sqlite:///{folder / 'flush.db'}")
        with Heartbeat(engine) as worker:
            for _ in range(args.rounds):
                queue(engine, 2)
                wall, cpu = time.perf_counter(), time.process_time()
                report = outbox.flush(relay, engine, datetime.now(UTC), worker)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                assert report.sent == 2, report
        engine.dispose()
    finally:
        sink.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"{args.rounds} flushes of 2 mails over STARTTLS: wall median "
        f"{statistics.median(walls) * 1000:.1f} ms (first {walls[0] * 1000:.1f}), "
        f"CPU median {statistics.median(cpus) * 1000:.1f} ms (first {cpus[0] * 1000:.1f})"
    )


if __name__ == "__main__":
    main()
