"""Fold per-file results into counts, totals and the exit status.

This is data only: console.py renders it (progress bar, summary lines).
"""

from __future__ import annotations

import time
from typing import NamedTuple

from imgpar.errors import ExitStatus
from imgpar.spec import STAGES, Result, Stages


class Summary(NamedTuple):
    files: int
    converted: int
    skipped: int
    failed: int
    source_bytes: int
    output_bytes: int
    wall_seconds: float
    work_seconds: float
    jobs: int
    # The files' time off a CPU, waiting for one (other programs busy) or
    # for the disk: work less CPU time, for the files that measured it.
    waited_seconds: float = 0.0
    engine: str = "process"  # serial (--jobs 1), process or dask
    peak_worker_rss: int = 0  # bytes: the peak of the largest worker; 0 where unknown
    stage_seconds: Stages = Stages()  # work per stage
    interrupted: bool = False
    stopped: str | None = None  # why the run ended before every file was done
    unread_folders: tuple[str, ...] = ()  # folders that could not be read
    # SOURCE folders with no image now whose outputs are still there: an
    # unmounted drive, most likely; they are kept, and the run fails.
    held_back: tuple[str, ...] = ()
    # Caches that could not record what the run made (a full disk): its
    # outputs are whole, and the next run converts them again.
    unrecorded: tuple[str, ...] = ()
    pruned: tuple[str, ...] = ()  # what --prune deleted: a CDN's purge list

    @property
    def speedup(self) -> float:
        return self.work_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def size_change(self) -> float:
        """Output bytes over the converted sources' bytes, minus one (-0.65: 65% smaller)."""
        return self.output_bytes / self.source_bytes - 1 if self.source_bytes else 0.0

    @property
    def efficiency(self) -> float:
        return self.speedup / self.jobs if self.jobs else 0.0

    @property
    def exit_status(self) -> ExitStatus:
        if self.interrupted:
            return ExitStatus.INTERRUPTED
        failed = self.failed or self.unread_folders or self.held_back or self.unrecorded
        return ExitStatus.FAILED if failed else ExitStatus.OK

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "files": self.files,
            "converted": self.converted,
            "skipped": self.skipped,
            "failed": self.failed,
            "source_bytes": self.source_bytes,
            "output_bytes": self.output_bytes,
            "wall_seconds": round(self.wall_seconds, 3),
            "work_seconds": round(self.work_seconds, 3),
            "waited_seconds": round(self.waited_seconds, 3),
            "jobs": self.jobs,
            "engine": self.engine,
            "speedup": round(self.speedup, 2),
            "efficiency": round(self.efficiency, 2),
            "peak_worker_rss": self.peak_worker_rss,
            "stage_seconds": {
                stage: round(seconds, 3) for stage, seconds in self.stage_seconds._asdict().items()
            },
        }
        if self.interrupted:
            data["interrupted"] = True
        if self.stopped:
            data["stopped"] = self.stopped
        if self.unread_folders:
            data["unread_folders"] = list(self.unread_folders)
        if self.held_back:
            data["held_back"] = list(self.held_back)
        if self.unrecorded:
            data["unrecorded"] = list(self.unrecorded)
        if self.pruned:
            data["pruned"] = list(self.pruned)
        return data


class Collector:
    def __init__(self, *, jobs: int, engine: str = "process") -> None:
        self.jobs = jobs
        self.engine = engine
        self._started = time.perf_counter()
        self._counts = {"converted": 0, "skipped": 0, "failed": 0}
        self._source_bytes = 0
        self._output_bytes = 0
        self._work = 0.0
        self._waited = 0.0
        self._peak_rss = 0
        self._stages = [0.0] * len(STAGES)
        self._stopped: str | None = None
        self._unread: list[str] = []

    def add(self, result: Result) -> None:
        self._counts[result.status] += 1
        if result.fatal:
            self._stopped = result.error
        self._work += result.seconds
        if result.cpu_seconds:
            # Not a file whose worker was killed (a timeout): its time is
            # work, but nothing says how much of it it waited.
            self._waited += max(0.0, result.seconds - result.cpu_seconds)
        self._peak_rss = max(self._peak_rss, result.peak_rss)
        for i, seconds in enumerate(result.stages):
            self._stages[i] += seconds
        if result.status == "converted":
            # Bytes compare what was made from what: skipped files made nothing new.
            self._source_bytes += result.source_bytes
            self._output_bytes += sum(o.bytes for o in result.outputs)

    def waited(self, seconds: float) -> None:
        """Leave out of the wall time the wait for another run on the same
        folders: the speedup is this run's."""
        self._started += seconds

    def unread(self, folder: str) -> None:
        """A folder whose images could not be listed, so were not converted."""
        self._unread.append(folder)

    def summary(self, *, interrupted: bool = False) -> Summary:
        return Summary(
            files=sum(self._counts.values()),
            converted=self._counts["converted"],
            skipped=self._counts["skipped"],
            failed=self._counts["failed"],
            source_bytes=self._source_bytes,
            output_bytes=self._output_bytes,
            wall_seconds=time.perf_counter() - self._started,
            work_seconds=self._work,
            jobs=self.jobs,
            waited_seconds=self._waited,
            engine=self.engine,
            peak_worker_rss=self._peak_rss,
            stage_seconds=Stages(*self._stages),
            interrupted=interrupted,
            stopped=self._stopped,
            unread_folders=tuple(self._unread),
        )
