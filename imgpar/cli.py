"""The `imgpar` command: a thin typer layer over imgpar.api.

Everything heavy (Pillow, the engine, reports) is imported inside the
commands, so `imgpar --help` starts fast.
"""

from __future__ import annotations

import inspect
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from imgpar import __version__
from imgpar.errors import ClusterError, ExitStatus, Terminated, UsageError
from imgpar.limits import BENCH_REPEAT, BENCH_SAMPLE, DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT

if TYPE_CHECKING:
    from imgpar.api import Job
    from imgpar.bench import BenchResult
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


def _opt(*names: str, help: str) -> typer.models.OptionInfo:
    return typer.Option(*names, help=help, show_default=False)


# Options that shape the run in the terminal rather than the conversion; the
# rest go to imgpar.api.prepare() under the same names.
_CLI_ONLY = frozenset(
    {
        "sources",
        "report",
        "manifest",
        "dry_run",
        "check",
        "prune",
        "quiet",
        "verbose",
        "traceback",
        "config",
        "preset",
    }
)


@app.command()
def convert(
    ctx: typer.Context,
    sources: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Image files and folders (or `sources` in the config).", show_default=False
        ),
    ] = None,
    to: Annotated[
        str | None,
        _opt(
            "--to",
            "-t",
            help="Target format: webp, jpeg, png, avif, tiff; comma-separated for several.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        _opt(
            "--out",
            "-o",
            help="Output folder; the source tree is mirrored. Default: next to each source.",
        ),
    ] = None,
    max_size: Annotated[
        str | None,
        _opt(
            "--max-size",
            help="Fit inside N x N pixels; a list (480,960) makes one output per size.",
        ),
    ] = None,
    width: Annotated[
        str | None,
        _opt("--width", help="Output width; a list (320,640,1280) makes one output per width."),
    ] = None,
    height: Annotated[int | None, _opt("--height", help="Output height.")] = None,
    fit: Annotated[
        str | None,
        _opt(
            "--fit",
            help="With --width and --height: contain (default), cover (crop) or fill (stretch).",
        ),
    ] = None,
    gravity: Annotated[
        str | None,
        _opt("--gravity", help="Where --fit cover crops: center (default), north, southeast, ..."),
    ] = None,
    long_edge: Annotated[
        int | None, _opt("--long-edge", help="Longer side becomes N pixels.")
    ] = None,
    short_edge: Annotated[
        int | None, _opt("--short-edge", help="Shorter side becomes N pixels.")
    ] = None,
    scale: Annotated[
        float | None, _opt("--scale", help="Scale to PERCENT of the source size.")
    ] = None,
    upscale: Annotated[
        bool | None, _opt("--upscale/--no-upscale", help="Allow enlarging (off by default).")
    ] = None,
    filter: Annotated[
        str | None,
        _opt(
            "--filter",
            help="Resampling filter: lanczos (default), bicubic, bilinear, hamming, box, nearest.",
        ),
    ] = None,
    quality: Annotated[
        int | None,
        _opt(
            "--quality",
            "-q",
            help="Encoder quality 1-100. Default per format: webp 80, jpeg 85, avif 60.",
        ),
    ] = None,
    lossless: Annotated[
        bool | None,
        _opt("--lossless/--no-lossless", help="Lossless encoding (webp; png and tiff always are)."),
    ] = None,
    srgb: Annotated[
        bool | None,
        _opt(
            "--srgb/--no-srgb",
            help="Convert colours to sRGB and embed sRGB (default: keep the ICC profile).",
        ),
    ] = None,
    metadata: Annotated[
        str | None,
        _opt(
            "--metadata",
            help="EXIF/XMP to keep: all, copyright, no-gps (default: all but location), none.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        _opt(
            "--name", help="Output name template: {stem} {ext} {src_ext} {width} {height} {parent}."
        ),
    ] = None,
    all_pages: Annotated[
        bool | None,
        _opt(
            "--all-pages/--first-page", help="Keep every page of a multi-page TIFF (TIFF output)."
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        _opt("--jobs", "-j", help="Worker processes. Default: the CPUs this process may use."),
    ] = None,
    engine: Annotated[
        str | None,
        _opt(
            "--engine",
            help="local (default): processes on this machine; dask: a Dask cluster, "
            "of --jobs local workers unless --scheduler names one.",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        _opt(
            "--scheduler",
            help="Run on the Dask cluster at ADDRESS (tcp://HOST:8786); implies --engine dask. "
            "Default with --engine dask: $IMGPAR_SCHEDULER.",
        ),
    ] = None,
    report: Annotated[
        list[Path] | None,
        _opt("--report", help="Per-file report: FILE.json, FILE.csv or FILE.html; repeatable."),
    ] = None,
    manifest: Annotated[
        Path | None,
        _opt(
            "--manifest", help="Write FILE.json: every source's outputs and srcset, for templates."
        ),
    ] = None,
    force: Annotated[
        bool | None, _opt("--force/--no-force", help="Convert even what is up to date.")
    ] = None,
    check: Annotated[
        bool | None, _opt("--check", help="Write nothing; exit 1 listing what is stale (for CI).")
    ] = None,
    prune: Annotated[
        bool | None, _opt("--prune", help="Delete outputs imgpar made whose source is gone.")
    ] = None,
    dry_run: Annotated[
        bool | None, _opt("--dry-run", help="Print what would be written; write nothing.")
    ] = None,
    max_pixels: Annotated[
        int | None,
        _opt("--max-pixels", help=f"Refuse larger images (default {DEFAULT_MAX_PIXELS:,})."),
    ] = None,
    timeout: Annotated[
        float | None,
        _opt(
            "--timeout",
            help=f"Seconds per file before its worker is replaced (default {DEFAULT_TIMEOUT:g}).",
        ),
    ] = None,
    allow_truncated: Annotated[
        bool | None, _opt("--allow-truncated", help="Convert truncated files as far as they go.")
    ] = None,
    config: Annotated[
        Path | None,
        _opt(
            "--config", help="Settings file (default: imgpar.toml or [tool.imgpar] found upward)."
        ),
    ] = None,
    preset: Annotated[
        str | None, _opt("--preset", help="Use the named preset from the settings file.")
    ] = None,
    quiet: Annotated[
        bool | None,
        _opt("--quiet", help="No progress bar and no notes: failures and the summary only."),
    ] = None,
    verbose: Annotated[
        bool | None, _opt("--verbose", "-v", help="Print one line per file as it completes.")
    ] = None,
    traceback: Annotated[
        bool | None,
        _opt("--traceback", help="Show Python tracebacks of internal errors, for bug reports."),
    ] = None,
) -> None:
    """Convert SOURCES to other formats and sizes, in parallel.

    Example: imgpar convert ./photos --to webp --max-size 2048 --out ./web
    """
    from imgpar import config as settings_file
    from imgpar.api import prepare

    # Unset options are None (an unset list argument is empty): the config fills them.
    given = {k: v for k, v in ctx.params.items() if v is not None and v != [] and v != ()}
    try:
        known = frozenset(inspect.signature(prepare).parameters) | _CLI_ONLY
        options = settings_file.load(
            str(config) if config else None, preset, known - {"config", "preset"}
        )
        options.update(given)
        run = {k: options.pop(k) for k in _CLI_ONLY if k in options}
        reports = [str(r) for r in run.get("report") or []]
        paths = [str(p) for p in run.get("sources") or []]
        if not paths:
            raise UsageError("no SOURCES given (on the command line or as `sources` in a config)")
        if "to" not in options:
            raise UsageError("--to is required (or `to` in a config)")
        if "out" in options:
            options["out"] = str(options["out"])
        read_only = bool(run.get("dry_run") or run.get("check"))
        job = prepare(
            paths,
            create_out=not read_only,
            thumbnails=any(r.lower().endswith(".html") for r in reports),
            **options,
        )
    except UsageError as exc:
        raise _fail(str(exc)) from None
    try:
        if run.get("check"):
            status = _check(job)
        elif run.get("dry_run"):
            status = _dry_run(job)
        else:
            status = _run(
                job,
                reports=reports,
                manifest=str(run["manifest"]) if run.get("manifest") else None,
                prune=bool(run.get("prune")),
                quiet=bool(run.get("quiet")),
                verbose=bool(run.get("verbose")),
            )
    except ClusterError as exc:
        raise _fail(str(exc), ExitStatus.FAILED) from None
    except Exception as exc:
        if run.get("traceback"):
            raise
        message = f"internal error: {type(exc).__name__}: {exc} (--traceback shows details)"
        raise _fail(message, ExitStatus.FAILED) from None
    raise typer.Exit(int(status))


def _shown(path: str) -> str:
    from imgpar.spec import HEIGHT_FIELD, WIDTH_FIELD

    return path.replace(WIDTH_FIELD, "{width}").replace(HEIGHT_FIELD, "{height}")


def _dry_run(job: Job) -> ExitStatus:
    from imgpar.spec import Result, Task

    for item in job.stale():
        if isinstance(item, Task):
            typer.echo(f"{item.display} -> {', '.join(_shown(p) for p in item.outputs)}")
        elif isinstance(item, Result):
            typer.echo(f"{item.source}: {item.status}" + (f": {item.error}" if item.error else ""))
        else:
            typer.echo(f"note: {item.path}: {item.reason}", err=True)
    return ExitStatus.OK


def _check(job: Job) -> ExitStatus:
    """Exit 1 listing every source whose outputs would be (re)made."""
    from imgpar.spec import Task

    stale = [item.display for item in job.stale() if isinstance(item, Task)]
    orphans = job.prune(dry_run=True)
    for path in stale:
        typer.echo(f"stale: {path}")
    for path in orphans:
        typer.echo(f"orphan: {path} (its source is gone; --prune deletes it)")
    if stale or orphans:
        typer.echo(f"{len(stale)} stale, {len(orphans)} orphaned outputs", err=True)
        return ExitStatus.FAILED
    typer.echo("everything is up to date", err=True)
    return ExitStatus.OK


def _run(
    job: Job,
    *,
    reports: list[str],
    manifest: str | None,
    prune: bool,
    quiet: bool,
    verbose: bool,
) -> ExitStatus:
    from tqdm import tqdm

    from imgpar.collect import Collector
    from imgpar.manifest import Manifest
    from imgpar.report import open_report
    from imgpar.spec import Result
    from imgpar.walk import count_images

    argv = sys.argv[1:]
    try:
        writers = [open_report(path, argv) for path in reports]
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    listing = Manifest(manifest, sources=job.sources, out=job.out) if manifest else None
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
                for writer in writers:
                    writer.note(event.path, event.reason)
                if not quiet:
                    bar.write(f"note: {event.path}: {event.reason}", file=sys.stderr)
                continue
            collector.add(event)
            for writer in writers:
                writer.add(event)
            if listing is not None:
                listing.add(event)
            if event.status == "failed":
                bar.write(f"failed: {event.source}: {event.error}", file=sys.stderr)
            elif verbose:
                bar.write(_line(event), file=sys.stderr)
            if total and bar.total is None:
                bar.total = total[0]
            bar.update(1)
    except KeyboardInterrupt as exc:
        interrupted = exc
    except BaseException:
        for writer in writers:
            writer.discard()
        raise
    finally:
        events.close()
        signal.signal(signal.SIGTERM, previous)
        bar.close()
    for warning in job.cache_warnings():
        typer.echo(f"warning: {warning}", err=True)
    summary = collector.summary(interrupted=interrupted is not None)
    for writer in writers:
        writer.close(summary)
    complete = interrupted is None and summary.stopped is None
    if listing is not None and complete:
        listing.write()
    if prune and complete:
        for path in job.prune():
            typer.echo(f"pruned: {path}", err=True)
    typer.echo(format_summary(summary))
    if isinstance(interrupted, Terminated):
        return ExitStatus.TERMINATED
    return summary.exit_status


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def _line(result: Result) -> str:
    outs = ", ".join(o.path for o in result.outputs)
    took = f" ({result.seconds:.2f} s)" if result.status == "converted" else ""
    return f"{result.status}: {result.source}" + (f" -> {outs}" if outs else "") + took


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
        work = (
            f"work {s.work_seconds:.1f} s on {s.jobs} jobs: "
            f"speedup {s.speedup:.2f}x, efficiency {s.efficiency:.0%}"
        )
        if s.peak_worker_rss:
            work += f", peak {_mib(s.peak_worker_rss)}/worker"
        lines.append(work)
    return "\n".join(_fit(line) for line in lines)


def _fit(line: str, width: int = 80) -> str:
    """Wrap a summary line at its ", " separators so it fits a terminal."""
    if len(line) <= width:
        return line
    wrapped: list[str] = []
    current = ""
    for piece in line.split(", "):
        joined = f"{current}, {piece}" if current else piece
        # >= keeps a column for the comma that ends a wrapped line.
        if current and len(joined) >= width:
            wrapped.append(current + ",")
            current = "  " + piece
        else:
            current = joined
    wrapped.append(current)
    return "\n".join(wrapped)


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


@app.command()
def bench(
    ctx: typer.Context,
    sources: Annotated[
        list[Path], typer.Argument(help="Image files and folders.", show_default=False)
    ],
    to: Annotated[str, _opt("--to", "-t", help="Target format(s), as for convert.")],
    max_size: Annotated[str | None, _opt("--max-size", help="Fit inside N x N pixels.")] = None,
    width: Annotated[str | None, _opt("--width", help="Output width.")] = None,
    height: Annotated[int | None, _opt("--height", help="Output height.")] = None,
    fit: Annotated[str | None, _opt("--fit", help="contain, cover or fill.")] = None,
    long_edge: Annotated[int | None, _opt("--long-edge", help="Longer side in pixels.")] = None,
    short_edge: Annotated[int | None, _opt("--short-edge", help="Shorter side in pixels.")] = None,
    scale: Annotated[float | None, _opt("--scale", help="PERCENT of the source size.")] = None,
    upscale: Annotated[bool | None, _opt("--upscale/--no-upscale", help="Allow enlarging.")] = None,
    filter: Annotated[str | None, _opt("--filter", help="Resampling filter.")] = None,
    quality: Annotated[int | None, _opt("--quality", "-q", help="Encoder quality 1-100.")] = None,
    lossless: Annotated[
        bool | None, _opt("--lossless/--no-lossless", help="Lossless encoding.")
    ] = None,
    srgb: Annotated[bool | None, _opt("--srgb/--no-srgb", help="Convert to sRGB.")] = None,
    metadata: Annotated[str | None, _opt("--metadata", help="EXIF/XMP to keep.")] = None,
    max_pixels: Annotated[
        int | None, _opt("--max-pixels", help="Refuse images with more pixels.")
    ] = None,
    jobs: Annotated[
        str | None,
        _opt(
            "--jobs",
            "-j",
            help="Worker counts to time, comma-separated; 1 is always added."
            " Default: 1, 2, 4, ... and the CPU count.",
        ),
    ] = None,
    sample: Annotated[
        int,
        _opt(
            "--sample",
            help=f"Images to convert, evenly spaced over the sorted list (default {BENCH_SAMPLE}).",
        ),
    ] = BENCH_SAMPLE,
    repeat: Annotated[
        int,
        _opt(
            "--repeat",
            help=f"Runs per jobs value, interleaved; medians are shown (default {BENCH_REPEAT}).",
        ),
    ] = BENCH_REPEAT,
) -> None:
    """Time a sample of your images at several --jobs values: the real speedup.

    Outputs go to a temporary folder (in RAM under /dev/shm when there is
    room) that is removed at the end: nothing is left behind.

    Example: imgpar bench ./photos --to webp --max-size 2048 --jobs 1,2,4
    """
    from tqdm import tqdm

    from imgpar.bench import bench as run_bench

    own = {"ctx", "sources", "jobs", "sample", "repeat"}
    options = {k: v for k, v in ctx.params.items() if k not in own and v is not None}
    try:
        ladder = [int(j) for j in jobs.split(",")] if jobs else None
    except ValueError:
        raise _fail("--jobs takes whole numbers separated by commas, like 1,2,4") from None
    bar = tqdm(unit="run", file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        result = run_bench(
            [str(s) for s in sources],
            jobs=ladder,
            sample=sample,
            repeat=repeat,
            progress=progress,
            **options,
        )
    except UsageError as exc:
        raise _fail(str(exc)) from None
    except Terminated:
        raise typer.Exit(int(ExitStatus.TERMINATED)) from None
    except KeyboardInterrupt:
        raise typer.Exit(int(ExitStatus.INTERRUPTED)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        bar.close()
    typer.echo(format_bench(result))


def format_bench(r: BenchResult) -> str:
    import textwrap

    from imgpar.spec import STAGES

    picked = f"{r.sample} of {r.found}" if r.sample < r.found else f"all {r.sample}"
    lines = [
        f"{picked} images ({_bytes(r.sample_bytes)}), median of {r.repeat} runs"
        f" each; {r.cores} CPU cores",
        "",
        f"{'':46}{'share of worker time':^27}".rstrip(),
        f"{'jobs':>4}  {'wall s':>7}  {'images/s':>8}  {'speedup':>7}  {'efficiency':>10}  "
        + " ".join(f"{s:>6}" for s in STAGES),
    ]
    for row in r.rows:
        lines.append(
            f"{row.jobs:>4}  {row.wall_seconds:>7.2f}  {row.images_per_second:>8.1f}  "
            f"{row.speedup:>6.2f}x  {row.efficiency:>10.0%}  "
            + " ".join(f"{share:>6.0%}" for share in row.stage_shares)
        )
    lines.append("")
    if r.peak_worker_rss:
        # Per row: with jobs=1 the "worker" is this process, bench and all.
        peaks = ", ".join(f"{_mib(row.peak_worker_rss)} (jobs={row.jobs})" for row in r.rows)
        lines += textwrap.wrap(f"peak worker memory: {peaks}", 79, subsequent_indent="  ")
    failed = max(row.failed for row in r.rows)
    if failed:
        lines.append(f"{failed} images failed and are timed as failures: see imgpar convert")
    lines.append("speedup: jobs=1's wall time over each row's")
    lines.append(f"outputs: {r.scratch} (removed)")
    return "\n".join(lines)


@app.command()
def info(
    files: Annotated[list[Path], typer.Argument(help="Image files.", show_default=False)],
    as_json: Annotated[
        bool, _opt("--json", help="Print one JSON list (a record per file) for scripts.")
    ] = False,
) -> None:
    """Show what imgpar sees in images and what convert would do with them.

    Example: imgpar info IMG_0001.JPG --json
    """
    import json

    from imgpar.info import inspect

    failed = False
    records = []
    for path in files:
        record = inspect(str(path))
        if record["error"]:
            failed = True
            typer.echo(f"imgpar: error: {path}: {record['error']}", err=True)
        if as_json:
            records.append(record)
        elif not record["error"]:
            typer.echo(_info_text(record))
    if as_json:
        typer.echo(json.dumps(records, indent=2, ensure_ascii=False))
    raise typer.Exit(int(ExitStatus.FAILED if failed else ExitStatus.OK))


def _info_text(r: dict[str, Any]) -> str:
    size, displayed = "x".join(map(str, r["size"])), "x".join(map(str, r["displayed"]))
    frames = f"{r['frames']} (animated)" if r["animated"] else str(r["frames"])
    rows = [
        ("format", r["format"]),
        ("size", size + ("" if size == displayed else f" stored, {displayed} displayed")),
        ("mode", f"{r['mode']}, {r['bits']}-bit"),
        ("orientation", str(r["orientation"])),
        ("ICC profile", r["icc"] or "none (read as sRGB)"),
        ("camera", r["camera"] or "-"),
        ("date", r["date"] or "-"),
        ("GPS", "yes" if r["gps"] else "no"),
        ("XMP", "yes" if r["xmp"] else "no"),
        ("frames", frames),
    ]
    lines = [r["path"]] + [f"  {key:12} {value}" for key, value in rows]
    lines += [f"  {'warning':12} {w}" for w in r["warnings"]]
    actions = r["convert"] or ["re-encode only"]
    lines += [f"  {'convert' if i == 0 else '':12} {a}" for i, a in enumerate(actions)]
    return "\n".join(lines) + "\n"


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
            _carries(target.metadata),
        ]
        typer.echo(f"  {target.name:5}  {target.ext:6} " + ", ".join(t for t in traits if t))


def _carries(metadata: frozenset[str]) -> str:
    """What a target keeps, and says plainly what it cannot."""
    exif = (
        "EXIF"
        if "exif" in metadata
        else "EXIF main IFD only (no exposure, DateTimeOriginal or GPS)"
        if "exif-main" in metadata
        else "no EXIF"
    )
    icc = "ICC" if "icc" in metadata else "no ICC"
    xmp = "XMP" if "xmp" in metadata else "no XMP"
    return f"{icc} + {exif} + {xmp}"


def main() -> None:
    app(prog_name="imgpar")
