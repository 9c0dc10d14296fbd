"""The parent's own CPU per file, for one checkout or two side by side.

    python scripts/bench_parent.py .                          [--files 4000] [--repeat 7]
    git worktree add /tmp/before REV
    python scripts/bench_parent.py /tmp/before .

Everything imgpar's own process does for a file, without the pixel work or
the pool's threads: plan it (walk, cache lookup, output names, stat), pickle
its task as the pool would, then unpickle its result, record it in the cache
and the JSON report and count it. The results are built beforehand, as a
worker would build them, and are not timed. Sources are benchkit.py's tree
of tiny PNGs under /dev/shm; each checkout runs in a fresh process,
alternating, and the median microseconds per file are printed (issue #5's
budget: 50).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from benchkit import checkouts_parser, make_tree, scratch

RUN = """
import os, pickle, sys, time
sys.path.insert(0, sys.argv[1])
from imgpar.api import prepare
from imgpar.collect import Collector
from imgpar.report import JsonReport
from imgpar.spec import OutputRecord, Result, Task

src, out = sys.argv[2], sys.argv[3]
job = prepare([src], to="webp", out=out, jobs=2)
clock = time.process_time()
tasks = [t for t in job.plan() if isinstance(t, Task)]
chunks = [pickle.dumps(tasks[i : i + 64], -1) for i in range(0, len(tasks), 64)]
planning = time.process_time() - clock
results = [
    pickle.dumps([
        Result(
            source=t.display, status="converted", source_bytes=t.source_bytes,
            outputs=(OutputRecord(path=t.outputs[0], format="WEBP", width=8, height=8, bytes=90),),
            width=8, height=8, seconds=0.001, started=1.0, ended=1.001, worker=1,
            stages=(0.0, 0.0, 0.001, 0.0), peak_rss=1, digest="0" * 64,
        )
        for t in tasks[i : i + 64]
    ], -1)
    for i in range(0, len(tasks), 64)
]
report = JsonReport(os.path.join(out, "report.json"), argv=[])
collector = Collector(jobs=2)
clock = time.process_time()
for chunk in results:
    for result in pickle.loads(chunk):
        job.planner.record(result)
        report.add(result)
        collector.add(result)
job._close_caches()
report.close(collector.summary())
print(len(tasks), planning + time.process_time() - clock)
"""


def main() -> None:
    args = checkouts_parser(__doc__, files=4000, repeat=7).parse_args()
    with scratch("imgpar-parent-") as root:
        make_tree(root / "src", args.files, photo=False)
        _compare(args, root)


def _compare(args: argparse.Namespace, root: Path) -> None:
    per_file: dict[str, list[float]] = {c: [] for c in args.checkouts}
    for _ in range(args.repeat):
        for checkout in args.checkouts:
            out = root / "out"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            done = subprocess.run(
                [sys.executable, "-c", RUN, os.path.abspath(checkout), str(root / "src"), str(out)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            files, seconds = done.stdout.split()
            per_file[checkout].append(float(seconds) / int(files) * 1e6)
    print(f"{args.files} files, median of {args.repeat} runs, alternating")
    base = args.checkouts[0]
    for checkout, values in per_file.items():
        median = statistics.median(values)
        speed = statistics.median(per_file[base]) / median
        ratio = f"  ({speed:.2f}x as fast as {base})" if checkout != base else ""
        print(f"  {checkout}: {median:.1f} us per file{ratio}")


if __name__ == "__main__":
    main()
