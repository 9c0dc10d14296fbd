"""How much a no-op re-run costs compared with the first run.

    python scripts/bench_noop.py [--files 2000] [--big 10000] [--repeat 3]

Makes a tree of 800x600 JPEG sources (web-asset sized) under /dev/shm (many
small writes on this machine's disk are slow and noisy), converts it to WebP,
then times no-op re-runs of the real command (`python -m imgpar convert ...`,
whole processes, so interpreter start-up counts) and prints medians and the
ratio. A second tree of `--big` tiny PNGs gives the no-op time at that size.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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
    texture = Image.effect_noise((800, 600), 30).convert("RGB")
    for i in range(count):
        folder = root / f"d{i // 250:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        if photo:
            shade = Image.new("RGB", (800, 600), (i % 256, (i * 7) % 256, 90))
            Image.blend(texture, shade, 0.7).save(folder / f"p{i:05d}.jpg", quality=85)
        else:
            Image.new("RGB", (64, 48), (i % 256, 40, 90)).save(folder / f"i{i:05d}.png")


def run(src: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "imgpar",
            "convert",
            str(src),
            "--to",
            "webp",
            "--out",
            str(out),
            "--quiet",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--big", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with scratch("imgpar-noop-") as base:
        src, out = base / "src", base / "out"
        make_tree(src, args.files, photo=True)
        firsts, noops = [], []
        for _ in range(args.repeat):
            shutil.rmtree(out, ignore_errors=True)
            firsts.append(run(src, out))
            noops.append(run(src, out))
        first, noop = statistics.median(firsts), statistics.median(noops)
        print(
            f"{args.files} sources: first run {first:.2f} s, no-op re-run {noop:.3f} s "
            f"(median of {args.repeat}): {noop / first:.1%} of the first run"
        )
        big_src, big_out = base / "big", base / "big-out"
        make_tree(big_src, args.big, photo=False)
        run(big_src, big_out)
        big = statistics.median(run(big_src, big_out) for _ in range(args.repeat))
        print(f"{args.big} sources: no-op re-run {big:.3f} s (median of {args.repeat})")


if __name__ == "__main__":
    main()
