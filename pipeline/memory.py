"""Process-wide allocator settings (glibc's, and Polars' jemalloc) for flat memory and few page faults.

Two glibc settings, for two kinds of process:

* :func:`single_arena`, for the batch ingest (coordinator and workers). glibc gives each new thread
  its own allocation arena, up to eight per core, and an arena keeps the memory freed in it. An ingest
  starts a prefetch thread for every object it reads, and the inflated text of an object is freed in
  whichever arena that thread got: with many arenas the resident size of one process climbed from
  ~430 MiB to ~890 MiB over 40 objects, and a run over 10x the objects peaked 1.5x higher; with one
  arena the same run stays at ~400 MiB (1.04x at 10x the input). The 16 MiB buffers of inflated text
  are then served again and again from the same heap pages, instead of from fresh ``mmap`` pages that
  the kernel must fault in and zero: ~40 % fewer page faults and ~0.6 CPU-s less system time per 2M
  lines than a pinned ``mmap`` threshold (:func:`pin_mmap_threshold`) gives the ingest.
* :func:`pin_mmap_threshold`, for the follower. glibc raises its ``mmap`` threshold (up to 32 MiB)
  whenever a large mapped block is freed, after which large buffers come from the heap, where freed
  space can fragment over days. A fixed threshold turns that adjustment off, at the price of a page
  fault for every page of every large buffer; a follower handles small batches, so the price is low.

Elsewhere than glibc both do nothing.

Polars allocates through its own jemalloc, which it configures to hand freed pages back to the kernel
after 500 ms. An ingest frees and reallocates the same ~100 MiB of column buffers for every 16 MiB of
text, so those pages would come back as page faults. :func:`batch_settings` asks for 5 s instead, through the
``_RJEM_MALLOC_CONF`` override that Polars reads when it is first imported: ~0.3 CPU-s less system
time per 2M lines, for 10-20 MiB more peak per process. A value the user set in that variable still wins.

:func:`batch_settings` applies both to the running process, and :func:`worker_env` gives the same to
the workers :mod:`pipeline.ingest.pool` spawns, through their environment: glibc and jemalloc read it when
the process starts, before any thread exists.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_MMAP_THRESHOLD = -3  # mallopt parameter numbers in glibc's malloc.h
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 4 << 20
JEMALLOC_ENV = "_RJEM_MALLOC_CONF"  # Polars appends this variable's value to its own jemalloc options
JEMALLOC_DECAY = "dirty_decay_ms:5000"
_pinned = False
_single = False


def _mallopt(param: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already uses
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return int(mallopt(param, value)) == 1


def single_arena() -> bool:
    """Serve every thread's allocations from one arena; True if the C library agreed.

    Call it before the process starts threads: glibc only consults the limit when it would create an
    arena, so threads that already have one keep it (they are then shared round-robin, still bounded).
    """
    global _single
    if not _single:
        _single = _mallopt(_M_ARENA_MAX, 1)
    return _single


def pin_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Serve every allocation of ``size`` bytes or more from ``mmap``; True if the C library agreed."""
    global _pinned
    if not _pinned:
        _pinned = _mallopt(_M_MMAP_THRESHOLD, size)
    return _pinned


def _jemalloc_conf(current: str | None) -> str:
    """``current`` (a user's jemalloc options) with ours in front, so that the user's still win."""
    if not current:
        return JEMALLOC_DECAY
    if JEMALLOC_DECAY in current.split(","):
        return current
    return f"{JEMALLOC_DECAY},{current}"


def worker_env() -> dict[str, str]:
    """Environment variables that give a process started from here the ingest's allocator settings."""
    return {"MALLOC_ARENA_MAX": "1", JEMALLOC_ENV: _jemalloc_conf(os.environ.get(JEMALLOC_ENV))}


def batch_settings() -> None:
    """This process's allocator settings for a batch ingest: one glibc arena and, if Polars is not
    imported yet, a 5 s decay for its jemalloc. Call it first thing (:mod:`pipeline.ingest.pool` does)."""
    single_arena()
    if "polars" not in sys.modules:
        os.environ[JEMALLOC_ENV] = _jemalloc_conf(os.environ.get(JEMALLOC_ENV))
