"""How the C allocator keeps freed memory: big buffers go back to the kernel at once.

glibc serves a large allocation (128 KiB and up) from pages of its own and unmaps them
when it is freed, but after the first such free it raises that threshold to the freed
size, up to 32 MiB. Once a 25 MB mail has been read and freed, the next copies of big
mails then come from the heap, where any small object allocated after them keeps the
heap from shrinking: the peak RSS of one run over the same mailbox was 136 or 156 MiB,
from run to run (docs/performance.md). A fixed threshold turns that adjustment off.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Mapping

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
# Mail bodies, attachments and IMAP responses at least this big get pages of their own.
# Below it, glibc's heap is faster, and such buffers cannot move the peak much.
THRESHOLD = 256 * 1024
# glibc reads its tunables from the environment at start, by the old variable or as one
# of GLIBC_TUNABLES' colon-separated name=value pairs; a site that set either chose.
ENVIRONMENT = "MALLOC_MMAP_THRESHOLD_"
TUNABLE = "glibc.malloc.mmap_threshold"


def site_chose(environ: Mapping[str, str]) -> bool:
    """Whether the environment sets glibc's mmap threshold itself."""
    tunables = environ.get("GLIBC_TUNABLES", "").split(":")
    return ENVIRONMENT in environ or any(t.partition("=")[0] == TUNABLE for t in tunables)


def return_big_buffers() -> bool:
    """Give buffers of THRESHOLD bytes and more back to the kernel when they are freed;
    True if it took effect (glibc, and the site's environment did not set it already)."""
    if not sys.platform.startswith("linux") or site_chose(os.environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc, or no such symbol: nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD) == 1)
    if not done:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused; the allocator keeps its own threshold")
    return done
