"""Bound the time one piece of work may take (SIGALRM; in the main thread only)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class TimeLimitExceeded(BaseException):
    """The work took longer than it may. A BaseException, so that a library's or plugin's
    `except Exception` cannot swallow it and let the rest run unbounded; the stage boundary
    catches it by name."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeLimitExceeded inside the block once `seconds` have passed.

    Signals reach only the main thread, so elsewhere the block runs unbounded; the daemon
    processes mail in its main thread. An outer timer is put back when the block ends.
    """
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise TimeLimitExceeded(f"processing took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
