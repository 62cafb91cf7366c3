"""mailtickets.allocator: a freed big buffer leaves the process, whatever came before it.

Each case runs in a fresh interpreter: the allocator's state is per process, and the
threshold once set cannot be unset.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from typing import Any

import pytest

# Free a 30 MB buffer (glibc then raises its mmap threshold to 30 MB, unless told not to),
# take a 20 MB one, allocate small objects after it, free it: is its memory given back?
PROBE = """
import json, os, sys
from mailtickets.allocator import return_big_buffers

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

applied = return_big_buffers() if sys.argv[1] == "tuned" else False
first = bytearray(30 * 2**20)
del first
before = rss()
big = bytearray(b"x" * (20 * 2**20))
kept = [bytes(200) for _ in range(2000)]  # after the big buffer in the heap
held = rss() - before
del big
print(json.dumps({"applied": applied, "held": held, "left": rss() - before}))
"""


def _probe(mode: str, **env: str) -> dict[str, Any]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**environment, **env},
    )
    found: dict[str, Any] = json.loads(done.stdout)
    return found


needs_glibc = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="what it tunes is glibc's allocator"
)


@needs_glibc
def test_a_freed_big_buffer_is_given_back() -> None:
    found = _probe("tuned")
    assert found["applied"] is True
    assert found["held"] >= 19 * 2**20  # the buffer was really in memory
    assert found["left"] < 4 * 2**20


@needs_glibc
def test_without_it_the_same_buffer_stays() -> None:
    # The case the module exists for: if this stops holding, glibc changed, not us.
    found = _probe("plain")
    assert found["held"] >= 19 * 2**20
    assert found["left"] >= 19 * 2**20


@needs_glibc
def test_a_threshold_the_site_set_is_left_alone() -> None:
    assert _probe("tuned", MALLOC_MMAP_THRESHOLD_="65536")["applied"] is False
    tunables = "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=65536"
    assert _probe("tuned", GLIBC_TUNABLES=tunables)["applied"] is False
    # Another tunable alone is no choice of this one.
    assert _probe("tuned", GLIBC_TUNABLES="glibc.malloc.arena_max=2")["applied"] is True
