"""Long fuzz run: mutated bytes of every format through the real engine.

    python scripts/fuzz.py [--files 5000] [--seed 1] [--jobs 2]

Writes batches of mutated files to a temporary folder (on /dev/shm when it
exists) and converts them with the process engine, so a decoder crash shows
up as a 'worker process died' result instead of killing the run. Prints how
every file ended; any exception escaping imgpar is a bug and stops the run.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from benchkit import scratch
from fuzz_seeds import seeds

import imgpar


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(0, 12)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    if rng.random() < 0.3:
        out = out[: rng.randint(0, len(out))]
    if rng.random() < 0.3:
        at = rng.randint(0, len(out))
        out[at:at] = rng.randbytes(rng.randint(1, 64))
    return bytes(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    samples = seeds()
    outcomes: collections.Counter[str] = collections.Counter()
    started = time.monotonic()
    done = 0
    while done < args.files:
        with scratch("imgpar-fuzz-") as folder:
            src = folder / "src"
            src.mkdir()
            count = min(args.batch, args.files - done)
            for i in range(count):
                ext = rng.choice(sorted(samples))
                (src / f"f{done + i:06d}{ext}").write_bytes(mutate(samples[ext], rng))
            report = imgpar.convert(
                [src],
                to="webp",
                out=folder / "out",
                jobs=args.jobs,
                timeout=20,
                max_pixels=4_000_000,
                max_size=64,
            )
            for result in report.files:
                reason = result.error or ""
                key = result.status
                if "worker process died" in reason or "timed out" in reason:
                    key = f"{result.status}: {reason}"
                outcomes[key] += 1
            assert report.summary.files == count, "a file went unaccounted"
            stray = [p for p in folder.rglob(".imgpar-tmp*")]
            assert not stray, f"temporary files left: {stray[:3]}"
            done += count
    elapsed = time.monotonic() - started
    print(f"{done} mutated files (seed {args.seed}) in {elapsed:.0f} s, no exception escaped:")
    for key, n in sorted(outcomes.items()):
        print(f"  {n:6d}  {key}")


if __name__ == "__main__":
    main()
