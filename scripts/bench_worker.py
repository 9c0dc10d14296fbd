"""A worker's CPU per file, against a bare Pillow open-and-save of the same files.

    python scripts/bench_worker.py [CHECKOUT] [--files 1000] [--repeat 7]

Both sides convert benchkit.py's tree of tiny PNGs (under /dev/shm) to WebP
q80 in this one process, in alternating rounds. The bare side opens each file
and saves it; imgpar's side runs `convert_file` as a worker does, with all it
adds around Pillow's two calls: the source's hash for the cache, orientation,
colour and metadata checks, the atomic write and the result record, pickled
as it travels back. Prints the median CPU microseconds per file of each.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import statistics
import sys
import time
from pathlib import Path

from benchkit import make_tree, scratch
from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", nargs="?", default=str(Path(__file__).parent.parent))
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.checkout))
    with scratch("imgpar-worker-") as root:
        make_tree(root / "src", args.files, photo=False)
        _compare(args, root)


def _compare(args: argparse.Namespace, root: Path) -> None:
    from imgpar.api import prepare
    from imgpar.heap import keep_freed_memory
    from imgpar.pipeline import configure_worker, convert_file
    from imgpar.spec import Task

    keep_freed_memory()  # as a worker starts
    out = root / "out"
    job = prepare([str(root / "src")], to="webp", quality=80, out=str(out), jobs=1)
    tasks = [t for t in job.plan() if isinstance(t, Task)]
    configure_worker(job.spec)

    def bare() -> None:
        for task in tasks:
            with Image.open(task.source) as im:
                im.save(task.outputs[0], "WEBP", quality=80, method=4)

    # A worker's Catcher holds descriptor 2 for good; checkouts made before
    # 2026-12-07 have none, nor convert_file's parameter for it.
    caught: tuple[object, ...] = ()
    try:
        from imgpar.cstderr import Catcher, own_stderr
    except ImportError:
        pass
    else:
        sys.stderr = own_stderr(sys.stderr)  # this script's own errors are still seen
        caught = (Catcher(swap=False),)

    def imgpar() -> None:
        pickle.dumps([convert_file(task, job.spec, *caught) for task in tasks], -1)

    per_file: dict[str, list[float]] = {"bare Pillow": [], "imgpar": []}
    for _ in range(args.repeat):
        for name, run in (("bare Pillow", bare), ("imgpar", imgpar)):
            shutil.rmtree(out, ignore_errors=True)
            for folder in {os.path.dirname(t.outputs[0]) for t in tasks}:
                os.makedirs(folder, exist_ok=True)
            clock = time.process_time()
            run()
            per_file[name].append((time.process_time() - clock) / len(tasks) * 1e6)
    bare_us, imgpar_us = (statistics.median(v) for v in per_file.values())
    print(f"{len(tasks)} files to WebP q80, median of {args.repeat} rounds, alternating")
    print(f"  bare Pillow open + save: {bare_us:.0f} us per file")
    print(f"  imgpar convert_file:     {imgpar_us:.0f} us per file (+{imgpar_us - bare_us:.0f} us)")


if __name__ == "__main__":
    main()
