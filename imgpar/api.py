"""The Python API: `convert()` and `iter_convert()`. The CLI is a thin layer
over `prepare()` and `Job.events()`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from imgpar.collect import Collector, Summary
from imgpar.engine import ProcessEngine, SerialEngine, default_jobs
from imgpar.errors import UsageError
from imgpar.formats import Target, resolve_target, target_available
from imgpar.limits import DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT
from imgpar.plan import Planner
from imgpar.spec import ConvertSpec, OutputSpec, Resize, Result, Task
from imgpar.walk import Folder, Skipped, walk


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """A validated conversion, ready to plan and run."""

    sources: tuple[str, ...]
    targets: tuple[Target, ...]
    spec: ConvertSpec
    out: str | None
    force: bool
    jobs: int
    timeout: float
    start_method: str | None

    def plan(self) -> Iterator[Task | Result | Skipped]:
        """Every source's fate before any pixel work: a task, a result
        (skipped or failed up front) or a walker note."""
        planner = Planner(self.targets, out=self.out, force=self.force)
        for item in walk(self.sources, exclude=self.out):
            if isinstance(item, Folder):
                yield from planner.plan(item)
            else:
                yield item

    def events(self) -> Iterator[Result | Skipped]:
        """Results in completion order, with walker notes as they are found."""
        engine = (
            SerialEngine(self.spec)
            if self.jobs == 1
            else ProcessEngine(
                self.spec, jobs=self.jobs, timeout=self.timeout, start_method=self.start_method
            )
        )
        stream = engine.run(self.plan())
        try:
            for event in stream:
                yield event
                if isinstance(event, Result) and event.fatal:
                    return  # e.g. a full disk: every further write would fail too
        finally:
            # Closing the engine kills its workers and removes their temporary
            # files at once, also when the consumer stops early (Ctrl-C).
            stream.close()


@dataclass(frozen=True, slots=True)
class Report:
    files: list[Result]
    summary: Summary


def prepare(
    sources: Sequence[str | os.PathLike[str]],
    *,
    to: str | Sequence[str],
    out: str | os.PathLike[str] | None = None,
    max_size: int | None = None,
    width: int | None = None,
    height: int | None = None,
    quality: int | None = None,
    lossless: bool = False,
    jobs: int | None = None,
    force: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: float = DEFAULT_TIMEOUT,
    allow_truncated: bool = False,
    start_method: str | None = None,
    create_out: bool = True,
) -> Job:
    """Validate options and build a `Job`; raises `UsageError` before any work."""
    paths = tuple(os.fspath(s) for s in sources)
    if not paths:
        raise UsageError("no SOURCES given")
    for path in paths:
        if not os.path.exists(path):
            raise UsageError(f"no such file or folder: {path}")
    targets = _targets(to)
    for target in targets:
        if lossless and target.lossless is None:
            raise UsageError(f"{target.name} has no lossless mode (use webp, png or tiff)")
    if quality is not None and not 1 <= quality <= 100:
        raise UsageError("--quality must be between 1 and 100")
    for name, value in (("--max-size", max_size), ("--width", width), ("--height", height)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be a positive number of pixels")
    if max_size is not None and (width or height):
        raise UsageError("give either --max-size or --width/--height, not both")
    if max_pixels < 1:
        raise UsageError("--max-pixels must be positive")
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    resize = (
        Resize(width=max_size, height=max_size)
        if max_size
        else Resize(width=width, height=height)
        if (width or height)
        else None
    )
    out_path = os.fspath(out) if out is not None else None
    if out_path is not None:
        _check_out(out_path, create=create_out)
    spec = ConvertSpec(
        outputs=tuple(OutputSpec(target=t.name, resize=resize) for t in targets),
        quality=quality,
        lossless=lossless,
        max_pixels=max_pixels,
        allow_truncated=allow_truncated,
    )
    return Job(
        sources=paths,
        targets=targets,
        spec=spec,
        out=out_path,
        force=force,
        jobs=jobs,
        timeout=timeout,
        start_method=start_method,
    )


def _targets(to: str | Sequence[str]) -> tuple[Target, ...]:
    names = to.split(",") if isinstance(to, str) else list(to)
    targets: list[Target] = []
    for name in (n.strip() for n in names):
        try:
            target = resolve_target(name)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if not target_available(target):
            raise UsageError(f"this install of Pillow cannot write {target.name}")
        if target not in targets:
            targets.append(target)
    if not targets:
        raise UsageError("--to needs a format")
    return tuple(targets)


def _check_out(out: str, *, create: bool) -> None:
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out} exists and is not a folder")
    if not create:
        return
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --out {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write to --out {out}: permission denied")


def iter_convert(sources: Sequence[str | os.PathLike[str]], **options: object) -> Iterator[Result]:
    """Convert and yield each file's `Result` as it completes."""
    job = prepare(sources, **options)  # type: ignore[arg-type]
    for event in job.events():
        if isinstance(event, Result):
            yield event


def convert(sources: Sequence[str | os.PathLike[str]], **options: object) -> Report:
    """Convert everything and return every file's result plus the summary."""
    job = prepare(sources, **options)  # type: ignore[arg-type]
    collector = Collector(jobs=job.jobs)
    files = []
    for event in job.events():
        if isinstance(event, Result):
            collector.add(event)
            files.append(event)
    return Report(files=files, summary=collector.summary())
