"""What the benchmark scripts share: a scratch folder in RAM, a tree of
sources, and the command line of a script that compares checkouts.

The scripts run as `python scripts/NAME.py`, so this folder is on their path.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from PIL import Image


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A scratch folder, in RAM under /dev/shm where it exists (many small
    writes to this machine's disk are slow and noisy); removed afterwards."""
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=shm))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def checkouts_parser(doc: str, *, files: int, repeat: int) -> argparse.ArgumentParser:
    """The command line of a script that measures checkouts side by side."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("checkouts", nargs="+", help="folders holding an imgpar package")
    parser.add_argument("--files", type=int, default=files)
    parser.add_argument("--repeat", type=int, default=repeat)
    return parser


def make_tree(root: Path, count: int, *, photo: bool) -> None:
    """`count` sources in folders of 250: 800x600 JPEGs (web-asset sized) with
    `photo`, else 64x48 PNGs."""
    texture = Image.effect_noise((800, 600), 30).convert("RGB")
    for i in range(count):
        folder = root / f"d{i // 250:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        if photo:
            shade = Image.new("RGB", (800, 600), (i % 256, (i * 7) % 256, 90))
            Image.blend(texture, shade, 0.7).save(folder / f"p{i:05d}.jpg", quality=85)
        else:
            Image.new("RGB", (64, 48), (i % 256, 40, 90)).save(folder / f"i{i:05d}.png")
