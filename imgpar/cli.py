"""The `imgpar` command: a thin typer layer over imgpar.api.

Everything heavy (Pillow, the engine, reports) is imported inside the
commands, so `imgpar --help` starts fast.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from imgpar import __version__
from imgpar.errors import ExitStatus, Terminated, UsageError
from imgpar.limits import DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT

if TYPE_CHECKING:
    from imgpar.api import Job
    from imgpar.collect import Summary
    from imgpar.spec import Result

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Convert folders of images in parallel on all cores.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imgpar {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
) -> None:
    """imgpar: parallel batch image converter."""


def _fail(message: str, status: ExitStatus = ExitStatus.USAGE) -> typer.Exit:
    typer.echo(f"imgpar: error: {message}", err=True)
    return typer.Exit(int(status))


@app.command()
def convert(
    sources: Annotated[
        list[Path], typer.Argument(help="Image files and folders.", show_default=False)
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            "-t",
            help="Target format: webp, jpeg, png, avif, tiff; comma-separated for several.",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output folder; the source tree is mirrored. Default: next to each source.",
        ),
    ] = None,
    max_size: Annotated[int | None, typer.Option(help="Fit inside N x N pixels.")] = None,
    width: Annotated[int | None, typer.Option(help="Fit to this width.")] = None,
    height: Annotated[int | None, typer.Option(help="Fit to this height.")] = None,
    quality: Annotated[
        int | None,
        typer.Option(
            "--quality",
            "-q",
            help="Encoder quality 1-100. Default per format: webp 80, jpeg 85, avif 60.",
        ),
    ] = None,
    lossless: Annotated[
        bool, typer.Option(help="Lossless encoding (webp; png and tiff always are).")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", "-j", help="Worker processes. Default: the CPUs this process may use."
        ),
    ] = None,
    report: Annotated[
        list[Path] | None,
        typer.Option(help="Write a per-file report, FILE.json or FILE.csv; repeatable."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Convert even when the output is up to date.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Print what would be written; write nothing.")
    ] = False,
    max_pixels: Annotated[
        int, typer.Option(help="Refuse images with more pixels than this.")
    ] = DEFAULT_MAX_PIXELS,
    timeout: Annotated[
        float, typer.Option(help="Seconds one file may take before its worker is replaced.")
    ] = DEFAULT_TIMEOUT,
    allow_truncated: Annotated[
        bool, typer.Option(help="Convert truncated files as far as they go, not fail them.")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", help="No progress bar and no notes: failures and the summary only."
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print one line per file as it completes.")
    ] = False,
    traceback: Annotated[
        bool, typer.Option(help="Show Python tracebacks of internal errors, for bug reports.")
    ] = False,
) -> None:
    """Convert SOURCES to another format, resizing on the way.

    Example: imgpar convert ./photos --to webp --max-size 2048 --out ./web
    """
    from imgpar.api import prepare

    try:
        job = prepare(
            [str(s) for s in sources],
            to=to,
            out=str(out) if out else None,
            max_size=max_size,
            width=width,
            height=height,
            quality=quality,
            lossless=lossless,
            jobs=jobs,
            force=force,
            max_pixels=max_pixels,
            timeout=timeout,
            allow_truncated=allow_truncated,
            create_out=not dry_run,
        )
    except UsageError as exc:
        raise _fail(str(exc)) from None
    if dry_run:
        _dry_run(job)
        return
    try:
        status = _run(job, reports=[str(r) for r in report or []], quiet=quiet, verbose=verbose)
    except Exception as exc:
        if traceback:
            raise
        message = f"internal error: {type(exc).__name__}: {exc} (--traceback shows details)"
        raise _fail(message, ExitStatus.FAILED) from None
    raise typer.Exit(int(status))


def _dry_run(job: Job) -> None:
    from imgpar.spec import Result, Task
    from imgpar.walk import Skipped

    for item in job.plan():
        if isinstance(item, Task):
            typer.echo(f"{item.display} -> {', '.join(item.outputs)}")
        elif isinstance(item, Result):
            typer.echo(f"{item.source}: {item.status}" + (f": {item.error}" if item.error else ""))
        elif isinstance(item, Skipped):
            typer.echo(f"note: {item.path}: {item.reason}", err=True)


def _run(job: Job, *, reports: list[str], quiet: bool, verbose: bool) -> ExitStatus:
    from tqdm import tqdm

    from imgpar.collect import Collector
    from imgpar.report import open_report
    from imgpar.spec import Result
    from imgpar.walk import count_images

    argv = sys.argv[1:]
    try:
        writers = [open_report(path, argv) for path in reports]
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    show_bar = not quiet and sys.stderr.isatty()
    bar = tqdm(total=None, unit="img", file=sys.stderr, disable=not show_bar, dynamic_ncols=True)
    total: list[int] = []
    if show_bar:
        # Counting runs beside the conversion so the first file starts at once.
        threading.Thread(
            target=lambda: total.append(count_images(job.sources, exclude=job.out)),
            daemon=True,
        ).start()
    collector = Collector(jobs=job.jobs)
    interrupted: KeyboardInterrupt | None = None
    events = job.events()
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        for event in events:
            if not isinstance(event, Result):
                if not quiet:
                    bar.write(f"note: {event.path}: {event.reason}", file=sys.stderr)
                continue
            collector.add(event)
            for writer in writers:
                writer.add(event)
            if event.status == "failed":
                bar.write(f"failed: {event.source}: {event.error}", file=sys.stderr)
            elif verbose:
                bar.write(_line(event), file=sys.stderr)
            if total and bar.total is None:
                bar.total = total[0]
            bar.update(1)
    except KeyboardInterrupt as exc:
        interrupted = exc
    finally:
        events.close()
        signal.signal(signal.SIGTERM, previous)
        bar.close()
    summary = collector.summary(interrupted=interrupted is not None)
    for writer in writers:
        writer.close(summary)
    typer.echo(format_summary(summary))
    if isinstance(interrupted, Terminated):
        return ExitStatus.TERMINATED
    return summary.exit_status


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def _line(result: Result) -> str:
    outs = ", ".join(o.path for o in result.outputs)
    return f"{result.status}: {result.source}" + (f" -> {outs}" if outs else "")


def format_summary(s: Summary) -> str:
    head = f"{s.converted} converted, {s.skipped} skipped, {s.failed} failed"
    if s.interrupted:
        head += " (interrupted)"
    if s.stopped:
        head += f" (stopped: {s.stopped})"
    head += f" in {s.wall_seconds:.1f} s"
    lines = [head]
    if s.converted:
        change = s.output_bytes / s.source_bytes - 1 if s.source_bytes else 0.0
        lines.append(f"{_bytes(s.source_bytes)} -> {_bytes(s.output_bytes)} ({change:+.0%})")
        lines.append(
            f"work {s.work_seconds:.1f} s on {s.jobs} jobs: "
            f"speedup {s.speedup:.2f}x, efficiency {s.efficiency:.0%}"
        )
    return "\n".join(lines)


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


@app.command()
def formats() -> None:
    """List the formats this install reads and writes.

    Example: imgpar formats
    """
    from imgpar.formats import READ_FORMATS, TARGETS, heif_available, target_available

    reads = list(READ_FORMATS) + (["HEIF"] if heif_available() else [])
    typer.echo("reads: " + ", ".join(reads))
    if not heif_available():
        typer.echo("       (HEIC/HEIF: pip install 'imgpar[heif]')")
    typer.echo("writes:")
    for target in TARGETS.values():
        if not target_available(target):
            typer.echo(f"  {target.name:5}  not available in this Pillow build")
            continue
        traits = [
            f"quality (default {target.default_quality})" if target.quality else "",
            "lossless" if target.lossless else "",
            "alpha" if target.alpha else "no alpha (flattened on white)",
            "16-bit" if target.high_bit_depth else "",
        ]
        typer.echo(f"  {target.name:5}  {target.ext:6} " + ", ".join(t for t in traits if t))


def main() -> None:
    app(prog_name="imgpar")
