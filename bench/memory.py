"""Peak memory of `mailtickets run --once` over mailboxes of growing size, each holding one
25 MB mail among generated support mail (issue 9, SPEC §10: memory bounded by the largest
message, not by the mailbox).

For each size, a fresh Dovecot user is filled (the big mail in the middle) and one
`mailtickets run --once` takes the whole mailbox in: every mail fetched, processed and
answered, the outbox delivered to an SMTP sink in a process of its own. The peak resident
set size of that process is read from the kernel (wait4's ru_maxrss); the mailbox is
filled by another child, so that the figure is the daemon's own.

    python bench/memory.py [--sizes 1000,3000,10000] [--big-mb 25]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import big_mail, iter_mails
from bench.ingest_throughput import SUPPORT, Sink, write_config
from tests.servers import Dovecot


def fill(dovecot: Dovecot, user: str, count: int, big_mb: int) -> int:
    """`count` generated mails with one big mail in the middle; the bytes appended."""
    total, chunk = 0, []
    big = big_mail(big_mb * 1024 * 1024, seed=3, domain_tag=f"big{count}", support=SUPPORT)
    with dovecot.client(user) as client:
        for n, mail in enumerate(
            iter_mails(count, seed=5, domain_tag=f"m{count}", support=SUPPORT)
        ):
            if n == count // 2:
                client.append("INBOX", big.raw)
                total += len(big.raw)
            chunk.append(mail.raw)
            total += len(mail.raw)
            if len(chunk) == 200:
                client.multiappend("INBOX", chunk)
                chunk = []
        if chunk:
            client.multiappend("INBOX", chunk)
    return total


def _filled_apart(dovecot: Dovecot, user: str, count: int, big_mb: int) -> int:
    """fill() in a child process. Linux keeps a process's peak RSS across fork and exec,
    so if this process had held the generated mail, `run --once` would inherit its peak."""
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[int] = context.Queue()
    child = context.Process(target=lambda: queue.put(fill(dovecot, user, count, big_mb)))
    child.start()
    volume = queue.get()
    child.join()
    return volume


def run_once(config: Path) -> tuple[float, int, int]:
    """Seconds, peak RSS in bytes and exit status of one `mailtickets run --once`."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailtickets", "--config", str(config), "run", "--once"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss * 1024, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,3000,10000")
    parser.add_argument("--big-mb", type=int, default=25)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mt-bench-memory-"))
    dovecot, sink = Dovecot.start(), Sink(folder)
    rows = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            user = dovecot.add_user()
            volume = _filled_apart(dovecot, user, size, args.big_mb)
            config = write_config(folder, dovecot, user, sink, batch=50)
            seconds, peak, code = run_once(config)
            assert code == 0, f"run --once exited {code} for {size} mails"
            rows.append((size, volume, seconds, peak))
            print(
                f"{size + 1:6d} mails, {volume / 1e6:7.1f} MB: peak RSS {peak / 2**20:6.1f} MiB "
                f"({seconds:.0f} s)",
                flush=True,
            )
    finally:
        sink.stop()
        dovecot.stop()
        shutil.rmtree(folder, ignore_errors=True)  # the mailboxes' databases: 100s of MB
    print(f"\nmailbox (one {args.big_mb} MB mail among them)   peak RSS of run --once")
    for size, volume, seconds, peak in rows:
        print(
            f"{size + 1:6d} mails  {volume / 1e6:7.1f} MB      {peak / 2**20:6.1f} MiB"
            f"   ({seconds:.0f} s)"
        )


if __name__ == "__main__":
    main()
