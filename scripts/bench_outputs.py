"""CPU per source when one decode feeds many outputs, two checkouts side by side.

    git worktree add /tmp/before REV
    python scripts/bench_outputs.py /tmp/before .   [--photos 3] [--repeat 3]

Makes photo-like 24 MP JPEGs under /dev/shm, converts each to webp, avif and
jpeg at widths 480, 960 and 1600 (nine outputs from one decode) in-process
with each checkout's pipeline, alternating, and prints median CPU seconds and
their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from benchkit import scratch
from make_samples import photo

RUN = """
import sys, time, glob
sys.path.insert(0, sys.argv[1])
from imgpar.pipeline import configure_worker, convert_file
from imgpar.spec import ConvertSpec, OutputSpec, Resize, Task
outputs = tuple(OutputSpec(target=t, resize=Resize(width=w))
                for t in ("webp", "avif", "jpeg") for w in (480, 960, 1600))
spec = ConvertSpec(outputs=outputs)
configure_worker(spec)
started = time.process_time()
for path in sorted(glob.glob(sys.argv[2] + "/*.jpg")):
    names = tuple(f"{sys.argv[2]}/out/{i}.bin" for i in range(len(outputs)))
    result = convert_file(Task(source=path, display=path, outputs=names, source_bytes=1), spec)
    assert result.status == "converted", result.error
print(time.process_time() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--photos", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with scratch("imgpar-outputs-") as folder:
        _compare(args, str(folder))


def _compare(args: argparse.Namespace, folder: str) -> None:
    os.mkdir(os.path.join(folder, "out"))
    for i in range(args.photos):
        photo((6000, 4000), seed=20 + i).save(os.path.join(folder, f"p{i}.jpg"), quality=90)
    # By position: `. .` (a checkout against itself, the noise) times both.
    trees = (args.before, args.after)
    seconds: list[list[float]] = [[], []]
    for _ in range(args.repeat):
        for tree, times in zip(trees, seconds, strict=True):
            out = subprocess.run(
                [sys.executable, "-c", RUN, os.path.abspath(tree), folder],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            times.append(float(out))
    before, after = (statistics.median(times) for times in seconds)
    print(
        f"{args.photos} x 24 MP JPEG -> webp, avif, jpeg at 480/960/1600 px "
        f"(median CPU of {args.repeat}): before {before:.2f} s, after {after:.2f} s, "
        f"{before / after:.2f}x"
    )


if __name__ == "__main__":
    main()
