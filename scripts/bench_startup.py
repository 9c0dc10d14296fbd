"""What the command costs before and around its first file, for one checkout
or two side by side.

    python scripts/bench_startup.py .                        [--files 400] [--repeat 21]
    git worktree add /tmp/before REV
    python scripts/bench_startup.py /tmp/before .

Times whole processes (`python -m imgpar ...` with the checkout first on
PYTHONPATH), alternating between checkouts, and prints medians and ratios:
`--help`; a no-op re-run over `sample_images` (everything up to date); and,
converting a tree of tiny PNGs to WebP with `--jobs 2`, the time from launch
to the first file's start in a worker (from the JSON report) and to the end.
Sources and outputs are under /dev/shm where it exists.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchkit import checkouts_parser, make_tree, scratch

REPO = Path(__file__).resolve().parent.parent


def _imgpar(checkout: str, *args: str) -> float:
    """Run `python -m imgpar ARGS` from `checkout`; the time.time() it started."""
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    started = time.time()
    subprocess.run(
        [sys.executable, "-m", "imgpar", *args],
        env=env, cwd=tempfile.gettempdir(), check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return started


def _measure(checkout: str, root: Path, noop: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    started = _imgpar(checkout, "--help")
    times["--help"] = time.time() - started
    started = _imgpar(checkout, "convert", str(REPO / "sample_images"), "--to", "webp",
                      "--out", str(noop), "--quiet")  # fmt: skip
    times["no-op convert sample_images"] = time.time() - started
    out, report = root / "out", root / "report.json"
    shutil.rmtree(out, ignore_errors=True)
    started = _imgpar(checkout, "convert", str(root / "src"), "--to", "webp", "--out", str(out),
                      "--jobs", "2", "--quiet", "--report", str(report))  # fmt: skip
    ended = time.time()
    files = json.loads(report.read_text())["files"]
    times["first file starts"] = min(f["started"] for f in files) - started
    times[f"convert {len(files)} tiny PNGs"] = ended - started
    return times


def main() -> None:
    args = checkouts_parser(__doc__, files=400, repeat=21).parse_args()
    with scratch("imgpar-startup-") as root:
        make_tree(root / "src", args.files, photo=False)
        noop = {c: root / f"noop{i}" for i, c in enumerate(args.checkouts)}
        for checkout in args.checkouts:  # the no-op runs need a first run
            _measure(checkout, root, noop[checkout])
        runs: dict[str, dict[str, list[float]]] = {c: defaultdict(list) for c in args.checkouts}
        for _ in range(args.repeat):
            for checkout in args.checkouts:
                for name, seconds in _measure(checkout, root, noop[checkout]).items():
                    runs[checkout][name].append(seconds)
    base = args.checkouts[0]
    print(f"medians of {args.repeat} alternating runs, ms; (Nx): {base}'s time over this one's")
    print(f"  {'':32s}" + "".join(f"{c[-24:]:>26s}" for c in args.checkouts))
    for name in runs[base]:
        cells = []
        for checkout in args.checkouts:
            median = statistics.median(runs[checkout][name])
            ratio = statistics.median(runs[base][name]) / median
            faster = f" ({ratio:.2f}x)" if checkout != base else ""
            cells.append(f"{median * 1000:10.0f}{faster}")
        print(f"  {name:32s}" + "".join(f"{c:>26s}" for c in cells))


if __name__ == "__main__":
    main()
