"""How much a re-run costs compared with the first run.

    python scripts/bench_noop.py [--files 2000] [--big 10000] [--added 200] [--repeat 3]

Makes a tree of 800x600 JPEG sources (web-asset sized) under /dev/shm (many
small writes on this machine's disk are slow and noisy), converts it to WebP,
then times no-op re-runs of the real command (`python -m imgpar convert ...`,
whole processes, so interpreter start-up counts) and prints medians and the
ratio. A second tree of `--big` tiny PNGs gives the no-op time at that size.
Last, `--added` of the sources converted to WebP are converted `--to
webp,jpeg`, which makes only the JPEGs, against the same run with `--force`,
which makes both: what adding a format costs, against what it cost when the
cache kept one set of options per source.
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


def run(src: Path, out: Path, *options: str) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "imgpar", "convert", str(src), "--out", str(out), "--quiet"]
    subprocess.run(
        [*command, *(options or ("--to", "webp"))],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--big", type=int, default=10000)
    parser.add_argument("--added", type=int, default=200)
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
        added_src, added_out = base / "added", base / "added-out"
        make_tree(added_src, args.added, photo=True)
        adds, forced = [], []
        for _ in range(args.repeat):
            shutil.rmtree(added_out, ignore_errors=True)
            run(added_src, added_out)
            adds.append(run(added_src, added_out, "--to", "webp,jpeg"))
            forced.append(run(added_src, added_out, "--to", "webp,jpeg", "--force"))
        add, force = statistics.median(adds), statistics.median(forced)
        print(
            f"{args.added} sources to webp, then --to webp,jpeg: {add:.2f} s (the JPEGs only)"
            f" against {force:.2f} s with --force (both; median of {args.repeat}):"
            f" {force / add:.2f}x faster"
        )


if __name__ == "__main__":
    main()
