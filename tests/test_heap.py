"""imgpar.heap: a worker reuses the previous image's memory instead of
asking the kernel for fresh pages for every image."""

from __future__ import annotations

import subprocess
import sys

import pytest

from imgpar.heap import keep_freed_memory

# Encodes the same 1600x1200 picture six times, as a worker converts image
# after image, and prints the page faults of the last five.
FAULTS = """
import io, resource, sys
from PIL import Image
from imgpar.heap import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
im = Image.linear_gradient("L").resize((1600, 1200)).convert("RGB")
def convert():
    im.copy().save(io.BytesIO(), "WEBP", quality=80, method=0)
convert()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    convert()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(not keep_freed_memory(), reason="malloc is tuned on glibc only")
def test_images_after_the_first_reuse_its_pages() -> None:
    # One copy of the picture alone is 1,875 pages of 4 KiB.
    kept = _faults("kept")
    assert kept < 100
    # Without the tuning glibc returns the buffers and every image faults
    # them in again, which is the cost the tuning removes.
    assert _faults("plain") > 10 * kept


# A 200 MB frame with a small block allocated above it and kept, as any
# long-lived object can be: freeing the frame alone gives nothing back (only
# the top of the heap is trimmed); give_back does. Prints resident MiB.
PINNED_FRAME = """
from PIL import Image
from imgpar import heap
assert heap.keep_freed_memory()
def resident():
    with open("/proc/self/statm") as fp:
        return int(fp.read().split()[1]) * 4096 >> 20
before = resident()
frame = Image.new("RGB", (8000, 6250), (1, 2, 3))
pin = bytearray(1 << 20)
held = resident()
del frame
freed = resident()
heap.give_back(8000 * 6250 * 4)
print(before, held, freed, resident())
"""


@pytest.mark.skipif(not keep_freed_memory(), reason="malloc is tuned on glibc only")
def test_a_big_image_is_given_back_when_done() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PINNED_FRAME], capture_output=True, text=True, check=True
    )
    before, held, freed, after = map(int, done.stdout.split())
    assert held - before >= 180  # the frame was really in memory
    assert freed - before >= 180  # pinned: the trim threshold alone keeps it
    assert after - before < 20  # given back
