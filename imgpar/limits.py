"""Default limits, importable without Pillow or the engine."""

import functools
import os

# 16k x 10k: a 150 MP medium-format frame fits with room to spare, and so does
# a typical stitched panorama; anything bigger needs --max-pixels.
DEFAULT_MAX_PIXELS = 160_000_000

# Generous: a 100 MP TIFF to AVIF takes well under a minute on one slow core.
DEFAULT_TIMEOUT = 300.0

# The HTML report's file table shows this many rows, each with a thumbnail of
# a few KB that the worker makes: enough to look through, small enough to open.
PREVIEW_LIMIT = 1000

# imgpar bench: enough images to even out their differences, few enough that
# three runs at each jobs value of 24 MP photos take about a minute on 2 cores.
BENCH_SAMPLE = 24
BENCH_REPEAT = 3

# A chunk holds many small files (so per-task overhead vanishes on icons) or
# one big file (so no core idles behind a long queue at the end of a batch).
# Its results come back together: at 256 KiB of compressed sources a chunk
# is a few tenths of a second of work, the most the progress bar waits for
# and the most finished work Ctrl-C can leave out of the report (1 MiB let
# a 12 MP photo share a chunk: 3 outputs on disk, none reported).
CHUNK_BYTES = 1 << 18
CHUNK_FILES = 64
# Tasks the engine looks ahead to start the biggest first.
LOOKAHEAD = 512


def default_jobs() -> int:
    """The CPUs this process may run on (its affinity: taskset, a cgroup's
    cpuset), or fewer where a cgroup's quota of CPU time (a container's
    --cpus) allows less."""
    try:
        cpus = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1
    return min(cpus, _quota_cpus() or cpus)


# From this share of their work time spent waiting (for a CPU, other
# programs busy, or the disk), the workers' waits make a speedup a claim:
# file reads and writes from the page cache are CPU time, so a quiet
# machine stays below it.
_WAITED_SHARE_NOTED = 0.2
_WAIT_NOTED_SECONDS = 2.0  # of work: a short run's figures are noise anyway
# Each job is a process of its own: --jobs 99999 forked until the system's
# OOM killer stopped the run (and others'). Past the CPUs, jobs only wait.
JOBS_PER_CPU = 16


def noted_wait(work_seconds: float, waited_seconds: float) -> float | None:
    """The share of their work time workers waited, where convert and bench
    say it: enough of it, in a run long enough to tell."""
    if work_seconds < _WAIT_NOTED_SECONDS:
        return None
    waited = waited_seconds / work_seconds
    return waited if waited >= _WAITED_SHARE_NOTED else None


def too_many_jobs(jobs: int) -> str | None:
    """Why `jobs` is refused, if it is: more than JOBS_PER_CPU per CPU."""
    if jobs <= (most := JOBS_PER_CPU * default_jobs()):
        return None
    return (
        f"must be at most {most} here ({JOBS_PER_CPU} per CPU this process may use):"
        f" each job is a process of its own, and {jobs} would only wait for a CPU"
    )


@functools.cache
def _quota_cpus() -> int | None:
    from imgpar.cgroups import quota_cpus

    return quota_cpus()
