"""Process-wide memory settings that keep an ingest's peak flat however many objects it reads.

glibc serves large allocations from ``mmap`` and hands them back on ``free``, but it raises that
threshold (up to 32 MiB) whenever a large mapped block is freed. Once something in the process has
done so (opening a Delta table through delta-rs does), the 1-16 MiB buffers of inflated log text come
from the heap instead, where freed space fragments: the resident size then climbed ~25 MiB for every
object read, and a run over 10x the objects peaked 1.5x higher. A fixed threshold turns the
adjustment off. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

_M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h
MMAP_THRESHOLD = 4 << 20
_pinned = False


def pin_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Serve every allocation of ``size`` bytes or more from ``mmap``; True if the C library agreed."""
    global _pinned
    if _pinned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already uses
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _pinned = int(mallopt(_M_MMAP_THRESHOLD, size)) == 1
    return _pinned
