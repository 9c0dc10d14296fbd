"""`imgpar bench`: the true speedup of `--jobs`, measured on the user's own images.

A sample of the user's files is converted into a scratch folder once per jobs
value, with force on, through the same `prepare()` and `Job.events()` as
`imgpar convert`. Runs are interleaved (1, 2, 4, 1, 2, 4, ...) so that drift in
the machine (other programs, clock boost, caches) falls on every jobs value
alike, and each figure is the median of its runs. The scratch folder is in RAM
(/dev/shm) when there is room, so that a slow or noisy disk does not blur the
table, and it is removed whatever happens.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import statistics
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from imgpar import geometry
from imgpar.api import Job, prepare
from imgpar.collect import Collector, Summary
from imgpar.cstderr import in_own_process, listening
from imgpar.engine import cannot_start, pool_problem
from imgpar.errors import UsageError, counted
from imgpar.formats import TARGETS
from imgpar.limits import (
    BENCH_REPEAT,
    BENCH_SAMPLE,
    default_jobs,
    noted_wait,
    too_many_jobs,
)
from imgpar.spec import Result, Stages, Task

# RAM-backed on Linux: outputs written there never wait on a disk.
SHM = "/dev/shm"
# Room wanted in SHM per source byte for each lossy output (only one run's
# outputs exist at a time). A lossless one is bounded by its pixels instead,
# at 8 bytes each (16-bit RGBA): a PNG of a JPEG photo is ten times its size.
SHM_ROOM_PER_BYTE = 4
LOSSLESS_BYTES_PER_PIXEL = 8
# A sample faster than this on one core is timed mostly in the workers' start.
SHORT_SAMPLE_SECONDS = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchRow:
    """One jobs value: medians over its runs, worker time summed over them."""

    jobs: int
    wall_seconds: float  # median
    images: int  # converted in each run
    failed: int  # failed in the worst run
    speedup: float  # jobs=1's median wall time over this one's
    work_seconds: float  # all runs
    stage_seconds: Stages  # all runs
    peak_worker_rss: int  # bytes, largest worker of any run

    @property
    def images_per_second(self) -> float:
        return self.images / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def efficiency(self) -> float:
        return self.speedup / self.jobs

    @property
    def stage_shares(self) -> Stages:
        """Each stage's share of worker time. They add up to a little under 1:
        reading the header and metadata before the decode is not a stage."""
        if self.work_seconds <= 0:
            return Stages()
        return Stages(*(s / self.work_seconds for s in self.stage_seconds))


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchResult:
    rows: tuple[BenchRow, ...]  # ascending jobs, the first is jobs=1
    found: int  # images in SOURCES
    sample: int  # images in the sample, converted in every run
    sample_bytes: int
    repeat: int  # runs per jobs value
    cores: int  # CPUs this process may use
    scratch: str  # the folder the scratch folder was made in
    failures: tuple[str, ...] = ()  # "PATH: reason" for each sample image that failed
    notes: tuple[str, ...] = ()  # what limited the timing, e.g. why only jobs=1 ran

    @property
    def peak_worker_rss(self) -> int:
        return max((row.peak_worker_rss for row in self.rows), default=0)


def bench(
    sources: Sequence[str | os.PathLike[str]],
    *,
    jobs: Sequence[int] | None = None,
    sample: int = BENCH_SAMPLE,
    repeat: int = BENCH_REPEAT,
    progress: Callable[[int, int], None] | None = None,
    own_process: bool = False,
    **options: Any,
) -> BenchResult:
    """Time converting a sample of `sources` at each jobs value; leave nothing behind.

    `options` are `prepare()`'s (`to`, `max_size`, `quality`, ...); bench
    chooses `out`, `force` and `jobs` itself. `jobs=1` is always timed, as the
    base of every speedup. `progress` is called with (runs done, runs in all)
    after each run. With `own_process` (the command's), jobs=1 runs there as
    `convert --jobs 1` does (Job.own_process). Raises `UsageError` before any work.
    """
    ladder = jobs_ladder(jobs)
    if sample < 1:
        raise UsageError("must be at least 1", option="sample")
    if repeat < 1:
        raise UsageError("must be at least 1", option="repeat")
    make = functools.partial(prepare, force=True, **options)
    # Listed as for the runs, into a folder of their own (never made here):
    # in place, a folder another run wrote into (dist/img) held no source.
    unmade = os.path.join(tempfile.gettempdir(), f"imgpar-bench-{os.getpid()}-listing")
    listed = make(sources, jobs=1, out=unmade, _create_out=False)
    found = image_paths(listed)
    notes: tuple[str, ...] = ()
    if max(ladder) > 1 and (problem := pool_problem(options.get("start_method"))):
        # Every run would fall back to one core: rows above 1 would lie.
        why = cannot_start(": ".join(problem))
        if jobs is not None:
            raise UsageError(f"cannot be timed above 1 here: {why}", option="jobs")
        ladder, notes = (1,), (f"only jobs=1 is timed: {why}",)
    chosen = evenly_spaced(found, sample)
    if not chosen:
        raise UsageError("no images found in SOURCES")
    sample_bytes = sum(os.path.getsize(path) for path in chosen)
    # The command's own process reads those headers as a run would: what
    # Pillow logs of a damaged one is no line for bench to print.
    with (
        in_own_process(own_process) as catcher,
        listening(catcher),
    ):
        needed = _room_needed(chosen, listed)
    parent = _scratch_parent(needed)
    runs: dict[int, list[Summary]] = {j: [] for j in ladder}
    failures: dict[str, str] = {}  # the user's path -> reason
    with tempfile.TemporaryDirectory(prefix="imgpar-bench-", dir=parent) as scratch:
        linked = _link_sample(chosen, os.path.join(scratch, "sample"))
        out = os.path.join(scratch, "out")
        _warm(chosen)
        for _ in range(repeat):
            for j in ladder:
                job = make(linked, out=out, jobs=j)
                job.own_process = own_process
                summary, failed = _run_once(job)
                runs[j].append(summary)
                for link, reason in failed:
                    failures.setdefault(_original(chosen, link), reason)
                shutil.rmtree(out)
                if progress is not None:
                    progress(sum(map(len, runs.values())), repeat * len(ladder))
    rows = _rows(runs)
    if not rows[0].images:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        path, reason = min(failures.items())
        raise UsageError(f"no image of the sample converts, nothing to time: {path}:"
                         f" {reason}{more}")  # fmt: skip
    return BenchResult(
        rows=rows,
        found=len(found),
        sample=len(chosen),
        sample_bytes=sample_bytes,
        repeat=repeat,
        cores=default_jobs(),
        scratch=parent or tempfile.gettempdir(),
        failures=tuple(f"{path}: {reason}" for path, reason in sorted(failures.items())),
        notes=notes + _caveats(runs, rows, default_jobs()),
    )


def _caveats(
    runs: dict[int, list[Summary]], rows: Sequence[BenchRow], cores: int
) -> tuple[str, ...]:
    """What makes the rows above jobs=1 read lower than the gain a real batch
    gets on `cores` CPUs: a sample too short to outweigh starting the
    workers, more jobs than CPUs, other programs busy while it ran."""
    said = []
    if len(rows) > 1 and rows[0].wall_seconds < SHORT_SAMPLE_SECONDS:
        said.append(
            f"the sample takes {rows[0].wall_seconds:.2f} s on one core: starting the worker"
            " processes weighs on the other rows; a larger --sample times the real gain"
        )
    if rows[-1].jobs > cores:
        said.append(
            f"jobs above the {counted(cores, 'CPU')} this process may use wait their turn:"
            " their rows time the wait"
        )
    waited = {}
    for j, done in runs.items():
        share = noted_wait(sum(r.work_seconds for r in done), sum(r.waited_seconds for r in done))
        if 1 < j <= cores and share is not None:
            waited[j] = share
    if waited:
        j = max(waited, key=lambda j: waited[j])
        said.append(
            f"at jobs={j} the workers waited {waited[j]:.0%} of their work time for a CPU"
            " (other programs busy): the speedups read low; time again on a quieter machine"
        )
    return tuple(said)


def jobs_ladder(jobs: Sequence[int] | None) -> tuple[int, ...]:
    """The jobs values to time, ascending and always with 1. By default the
    powers of two up to the core count, and the core count itself."""
    if jobs is None:
        cores = default_jobs()
        values = {1 << k for k in range(cores.bit_length())} | {cores}
    else:
        values = set(jobs)
    if not values:
        raise UsageError("is empty: give worker counts, like 1,2,4", option="jobs")
    if any(j < 1 for j in values):
        raise UsageError("values must be at least 1", option="jobs")
    if why := too_many_jobs(max(values)):
        raise UsageError(why, option="jobs")
    return tuple(sorted(values | {1}))


def image_paths(job: Job) -> list[str]:
    """The images `job` takes for sources, sorted by path: not the outputs
    that in-place runs wrote beside them, which its caches record."""
    return sorted(
        item.display if isinstance(item, Task) else item.source
        for item in job.dry_plan()
        if isinstance(item, (Task, Result))
    )


def evenly_spaced(paths: Sequence[str], n: int) -> list[str]:
    """`n` of `paths`, each the middle of its equal share of the list, so a
    sample spans every folder of a sorted tree rather than the first one."""
    if n >= len(paths):
        return list(paths)
    return [paths[(2 * i + 1) * len(paths) // (2 * n)] for i in range(n)]


def _room_needed(paths: Sequence[str], job: Job) -> int:
    """What one run may write for `paths` with `job`'s outputs, in bytes: a
    lossy output a few times its source, a lossless one its pixels at their
    output size, every frame or page it keeps."""
    from PIL import Image

    from imgpar.pipeline import register_heif

    register_heif()
    spec = job.spec
    room = 0
    for path in paths:
        source_bytes = os.path.getsize(path)
        try:
            # The header only; Pillow's warning of a big image is not for
            # bench to print (imgpar's own limit applies in the runs).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as im:
                    shape, frames = im.size, getattr(im, "n_frames", 1)
        except Exception:  # fails in every run, or takes far more pixels than the limit
            shape, frames = None, 1
        for output in spec.outputs:
            target = TARGETS[output.target]
            if shape is None or not (target.lossless == "always" or spec.lossless):
                room += SHM_ROOM_PER_BYTE * source_bytes
                continue
            width, height = geometry.output_size(shape, output.resize)
            kept = frames if target.animation or (target.name == "tiff" and spec.all_pages) else 1
            room += LOSSLESS_BYTES_PER_PIXEL * width * height * kept
    return room


def _scratch_parent(room: int) -> str | None:
    """SHM when it exists with `room` to spare, else None: the system temp folder."""
    try:
        free = shutil.disk_usage(SHM).free
    except OSError:
        return None
    return SHM if free > room and os.access(SHM, os.W_OK | os.X_OK) else None


def _link_sample(paths: Sequence[str], folder: str) -> list[str]:
    """Gather the sample in one folder under numbered names, so that files of
    the same name from different folders cannot collide in the output. The
    number and extension only: a prefix on a name of 250 bytes made it too
    long for the file system. The runs name them one by one, as a walk of
    the folder would pass over those with no image's extension, which the
    user named as SOURCES."""
    os.mkdir(folder)
    digits = len(str(len(paths)))
    links = []
    for i, path in enumerate(paths):
        link = os.path.join(folder, f"{i:0{digits}d}{os.path.splitext(path)[1]}")
        try:
            os.symlink(os.path.abspath(path), link)
        except OSError:  # Windows allows symlinks only in developer mode
            shutil.copyfile(path, link)
        links.append(link)
    return links


def _warm(paths: Sequence[str]) -> None:
    """Read every file once, so the first run does not pay alone for a cold cache."""
    for path in paths:
        # One it cannot read fails in every run, and is reported there.
        with contextlib.suppress(OSError), open(path, "rb") as fp:
            while fp.read(1 << 20):
                pass


def _original(chosen: Sequence[str], linked: str) -> str:
    """The user's path of a sample file, from its numbered name in the sample folder."""
    return chosen[int(os.path.splitext(os.path.basename(linked))[0])]


def _run_once(job: Job) -> tuple[Summary, list[tuple[str, str]]]:
    """The run's summary, and (source, reason) for each file that failed."""
    collector = Collector(jobs=job.jobs, engine=job.engine_label)
    failed = []
    # Closed on the way out even on Ctrl-C, so no worker still writes into
    # the scratch folder while it is removed.
    with contextlib.closing(job.events()) as events:
        for event in events:
            if isinstance(event, Result):
                collector.add(event)
                if event.status == "failed":
                    failed.append((event.source, event.error or "failed"))
    return collector.summary(), failed


def _rows(runs: dict[int, list[Summary]]) -> tuple[BenchRow, ...]:
    base = statistics.median(r.wall_seconds for r in runs[1])
    rows = []
    for j, done in runs.items():
        wall = statistics.median(r.wall_seconds for r in done)
        stages = zip(*(r.stage_seconds for r in done), strict=True)
        rows.append(
            BenchRow(
                jobs=j,
                wall_seconds=wall,
                images=min(r.converted for r in done),
                failed=max(r.failed for r in done),
                speedup=base / wall if wall > 0 else 0.0,
                work_seconds=sum(r.work_seconds for r in done),
                stage_seconds=Stages(*map(sum, stages)),
                peak_worker_rss=max(r.peak_worker_rss for r in done),
            )
        )
    return tuple(rows)
