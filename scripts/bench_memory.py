"""The parent process's memory stays flat as the tree grows.

    python scripts/bench_memory.py [--sizes 10000,100000]

For each size, makes a tree of tiny PNGs under /dev/shm, runs
`imgpar convert TREE --to webp --out OUT --report OUT/r.json` and samples the
parent's resident memory from /proc every 50 ms; prints each run's peak
(workers are separate processes and not counted). Flat means the peak at
100,000 files is close to the peak at 10,000.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchkit import scratch
from PIL import Image


def make_tree(root: Path, count: int) -> None:
    png = root / "seed.png"
    root.mkdir(parents=True)
    Image.new("RGB", (16, 16), (10, 120, 200)).save(png)
    data = png.read_bytes()
    png.unlink()
    for i in range(count):
        folder = root / f"d{i // 500:04d}"
        if i % 500 == 0:
            folder.mkdir()
        (folder / f"i{i:06d}.png").write_bytes(data)


def peak_rss(cmd: list[str]) -> tuple[int, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            break
        time.sleep(0.05)
    return peak, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    with scratch("imgpar-mem-") as base:
        for count in (int(n) for n in args.sizes.split(",")):
            src, out = base / f"src{count}", base / f"out{count}"
            make_tree(src, count)
            cmd = [
                sys.executable,
                "-m",
                "imgpar",
                "convert",
                str(src),
                "--to",
                "webp",
                "--out",
                str(out),
                "--report",
                str(out / "r.json"),
                "--quiet",
            ]
            peak, seconds = peak_rss(cmd)
            print(
                f"{count:>7} files: parent peak RSS {peak / 2**20:.0f} MiB "
                f"({seconds:.0f} s, {count / seconds:.0f} files/s)"
            )
            shutil.rmtree(src)
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
