"""The local engine against a LocalCluster of the same size, on the same tree.

    python scripts/bench_dask.py [--files 48] [--size 2400x1600] [--jobs 2] [--repeat 5]

Makes a tree of camera-sized JPEGs (seeded: the same pixels on every run),
then converts it to WebP at --max-size 1024 with `engine="local"` and with
`engine="dask"` (a LocalCluster of --jobs single-threaded worker processes),
alternating, each run into a fresh output folder. Times are wall clock for
the whole `imgpar.convert()` call: the Dask runs include starting and
stopping their cluster, as a user's run does. Prints every run, the medians
and their ratio (dask / local: above 1 means Dask is slower).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import time
from pathlib import Path

from benchkit import scratch
from PIL import Image, ImageDraw, ImageFilter

import imgpar


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """Sky, soft shapes and grain: compresses and resizes like a photo."""
    rng = random.Random(seed)
    w, h = size
    sky = Image.linear_gradient("L").resize((w, h))
    im = Image.merge("RGB", (sky, sky.point(lambda v: 90 + v // 2), sky.point(lambda v: 255 - v)))
    draw = ImageDraw.Draw(im)
    for _ in range(16):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(w // 30, w // 6)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in "rgb"))
    im = im.filter(ImageFilter.GaussianBlur(3))
    grain = Image.effect_noise((w, h), 30).convert("RGB")
    return Image.blend(im, grain, 0.1)


def make_tree(root: Path, files: int, size: tuple[int, int]) -> int:
    """Returns the tree's size in bytes."""
    total = 0
    for i in range(files):
        path = root / f"shoot{i % 4}" / f"IMG_{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        photo(size, seed=i).save(path, quality=90)
        total += path.stat().st_size
    return total


def timed(tree: Path, out: Path, *, engine: str, jobs: int) -> tuple[float, float]:
    """Wall seconds of one conversion, and its summary's speedup."""
    started = time.perf_counter()
    report = imgpar.convert([tree], to="webp", out=out, max_size=1024, jobs=jobs, engine=engine)
    wall = time.perf_counter() - started
    assert report.summary.failed == 0, [r.error for r in report.files if r.error]
    shutil.rmtree(out)
    return wall, report.summary.speedup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=48)
    parser.add_argument("--size", default="2400x1600", help="WxH of each JPEG")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    # In memory where there is /dev/shm: the disk is not what is compared.
    with scratch("imgpar-bench-dask-") as base:
        tree = base / "tree"
        total = make_tree(tree, args.files, (width, height))
        print(f"{args.files} JPEGs of {width}x{height}, {total / 1e6:.1f} MB, to WebP 1024 px, "
              f"--jobs {args.jobs}, {os.cpu_count()} CPUs")
        runs: dict[str, list[tuple[float, float]]] = {"local": [], "dask": []}
        for i in range(args.repeat):
            # Alternating, so drift in the machine's load hits both alike.
            for engine in ("local", "dask") if i % 2 == 0 else ("dask", "local"):
                wall, speedup = timed(tree, base / f"out-{engine}", engine=engine, jobs=args.jobs)
                runs[engine].append((wall, speedup))
                print(f"  run {i + 1} {engine:5}  {wall:6.2f} s  speedup {speedup:.2f}x")
        local = statistics.median(w for w, _ in runs["local"])
        dask = statistics.median(w for w, _ in runs["dask"])
        for name, median in (("local", local), ("dask", dask)):
            speedup = statistics.median(s for _, s in runs[name])
            print(f"median {name:5}  {median:6.2f} s  ({args.files / median:.1f} files/s, "
                  f"speedup {speedup:.2f}x on {args.jobs} jobs)")
        print(f"ratio dask/local: {dask / local:.2f}")


if __name__ == "__main__":
    main()
