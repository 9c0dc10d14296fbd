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


# Holds a 200 MB frame, frees it, and prints the resident MiB before and after.
AFTER_A_BIG_FRAME = """
import sys
from PIL import Image
from imgpar.heap import keep_freed_memory
assert keep_freed_memory()
def resident():
    with open("/proc/self/statm") as fp:
        return int(fp.read().split()[1]) * 4096 >> 20
before = resident()
frame = Image.new("RGB", (8000, 6250), (1, 2, 3))
held = resident()
del frame
keep = [Image.new("RGB", (64, 64), (4, 5, 6)) for _ in range(100)]
print(before, held, resident())
"""


@pytest.mark.skipif(not keep_freed_memory(), reason="malloc is tuned on glibc only")
def test_a_big_frame_does_not_stay_resident() -> None:
    done = subprocess.run(
        [sys.executable, "-c", AFTER_A_BIG_FRAME], capture_output=True, text=True, check=True
    )
    before, held, after = map(int, done.stdout.split())
    assert held - before >= 180  # the frame was really in memory
    assert after - before < 70  # and is given back, all but the trim threshold
