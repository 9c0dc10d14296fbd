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
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchkit import make_tree, scratch


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
