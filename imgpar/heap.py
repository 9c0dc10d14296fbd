"""Keep freed memory in the process for the next image (glibc only).

A converter allocates and frees the same few big buffers (decoded pixels,
the encoder's planes) for every image. glibc serves big blocks with mmap and
hands free memory at the top of the heap back to the kernel; its thresholds
adapt, but not far enough, so every image paid for fresh pages the kernel had
to zero: 11% of a worker's CPU on web-sized WebP, all of it system time. With
blocks up to 32 MiB taken from the heap and the heap kept, an image reuses
the previous one's pages. Peak memory is unchanged, and what stays behind is
bounded: an image bigger than the trim threshold is given back when it is
done (`give_back`).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

# mallopt() parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc refuses an mmap threshold above 32 MiB on 64-bit; bigger blocks
# still get a mapping of their own, returned on free. (Pillow stores a big
# frame in blocks of 16 MiB, so the trim threshold is what bounds it.)
MMAP_THRESHOLD = 32 << 20
# Free heap above this is returned: what a worker keeps between images at
# most. A 24 MP photo shrunk to 2048 px needs about 60 MiB of buffers; at
# 32 MiB its worker spent 5% more CPU, at 128 MiB no less than at 64 MiB.
TRIM_THRESHOLD = 64 << 20


# malloc_trim, once the thresholds are set: see give_back.
_trim: Callable[[int], int] | None = None


def keep_freed_memory() -> bool:
    """Tune malloc for image after image of similar size; False where the C
    library is not glibc (musl, macOS, Windows), which is left as it is."""
    global _trim
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  # glibc only, else AttributeError
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    kept = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    _trim = libc.malloc_trim if kept else None
    return kept


def give_back(used: int) -> None:
    """After an image that needed `used` bytes, more than a worker keeps:
    return the free memory to the kernel wherever it lies in the heap. The
    trim threshold only gives back the top of the heap, and one small block
    allocated above a big image's pixels would keep them all resident."""
    if _trim is not None and used > TRIM_THRESHOLD:
        _trim(0)
