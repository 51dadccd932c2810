"""How the process's C allocator hands memory back to the system (glibc on Linux).

glibc serves a request of up to ``M_MMAP_THRESHOLD`` bytes from its heaps and larger
ones with ``mmap``, and raises that threshold, up to 32 MB, each time a large block is
freed. An app that makes and drops arrays of 1-30 MB all session (feature maps, mosaics,
heat maps, TensorFlow's tensors) ends up with all of them on the heaps, where a freed
block between two live ones is never returned: the resident size climbs with each new
layer shown and stays there. A fixed threshold keeps large blocks on ``mmap``, given back
the moment they are freed (``bench/memory.py``: ResNet50's layers clicked 200 times
grew the process by 178 MB with the moving threshold, 95 MB with a fixed one).

Elsewhere (macOS, Windows, musl) these are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

#: Blocks this large or larger come from ``mmap`` and go back when freed.
MMAP_THRESHOLD = 256 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers (malloc.h)

_libc: ctypes.CDLL | None = None
_tuned = False


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.mallopt  # noqa: B018  (glibc has it; musl does not)
            libc.malloc_trim  # noqa: B018
        except (OSError, AttributeError):
            return None
        _libc = libc
    return _libc


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold at ``MMAP_THRESHOLD`` (once; early in the process is
    best). True when it was set."""
    global _tuned
    libc = _glibc()
    if libc is None:
        return False
    if not _tuned:
        _tuned = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
        if not _tuned:
            log.info("mallopt(M_MMAP_THRESHOLD) refused; the allocator keeps its default")
    return _tuned


def give_back_freed() -> None:
    """Return the heaps' free memory to the system (after a model or results go)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
