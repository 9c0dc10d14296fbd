"""The `imgpar` command: a thin typer layer over imgpar.api.

Everything heavy (Pillow, the engine, reports) is imported inside the
commands, so `imgpar --help` starts fast. No `from __future__ import
annotations` here: typer would evaluate every option's annotation from its
string on every run (a third of its start-up).
"""

import contextlib
import errno
import inspect
import itertools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from imgpar import __version__, console
from imgpar.cstderr import own_stderr
from imgpar.errors import (
    STOP_SIGNALS,
    ClusterError,
    ExitStatus,
    UsageError,
    flag,
    stop_status,
)
from imgpar.limits import BENCH_REPEAT, BENCH_SAMPLE, DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT
from imgpar.paths import file_in_the_way, nearest_folder, not_there

if TYPE_CHECKING:
    from imgpar.api import Job
    from imgpar.walk import Skipped

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help texts are plain: "[tool.imgpar]" must not be read as markup.
    rich_markup_mode=None,
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
    return typer.Option(*names, help=help, show_default=False, metavar=_METAVARS.get(names[0]))


# What --help shows for each option's value: the words its help uses, not
# the Python type.
_METAVARS = {
    "--to": "FORMAT",
    "--out": "DIR",
    "--max-size": "N",
    "--width": "N",
    "--height": "N",
    "--fit": "MODE",
    "--gravity": "SIDE",
    "--long-edge": "N",
    "--short-edge": "N",
    "--scale": "PERCENT",
    "--filter": "NAME",
    "--quality": "1-100",
    "--metadata": "KEEP",
    "--name": "TEMPLATE",
    "--jobs": "N",
    "--engine": "NAME",
    "--scheduler": "ADDRESS",
    "--report": "FILE",
    "--manifest": "FILE",
    "--max-pixels": "N",
    "--timeout": "SECONDS",
    "--config": "FILE",
    "--preset": "NAME",
    "--sample": "N",
    "--repeat": "N",
}


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
            help="Image files and folders (or `sources` in the config).",
            metavar="SOURCES...",
            show_default=False,
            readable=False,  # an unreadable file fails alone, not the whole command
        ),
    ] = None,
    to: Annotated[
        list[str] | None,
        _opt(
            "--to",
            "-t",
            help="Target format: webp, jpeg, png, avif, tiff; comma-separated (or repeated)"
            " for several.",
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
        list[str] | None,
        _opt(
            "--max-size",
            help="Fit inside N x N pixels; a list (480,960, or repeated) makes one output per"
            " size.",
        ),
    ] = None,
    width: Annotated[
        list[str] | None,
        _opt(
            "--width",
            help="Output width; a list (320,640,1280, or repeated) makes one output per width.",
        ),
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
        bool | None, _opt("--prune", help="Delete outputs imgpar made that no source makes now.")
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
    from imgpar.api import idle_options, prepare

    origins: dict[str, str] = {}  # where each setting from a config file came from
    try:
        options, origins = _settings(ctx, config, preset)
        paths = _required(options, origins)
        run = {k: options.pop(k) for k in _CLI_ONLY if k in options}
        reports = [str(r) for r in run.get("report") or []]
        written = [("report", r) for r in reports]
        if run.get("manifest"):
            written.append(("manifest", str(run["manifest"])))
        read_only = bool(run.get("dry_run") or run.get("check"))
        _check_written(written, paths, read_only=read_only)
        if "out" in options:
            options["out"] = str(options["out"])
        # SIGTERM and SIGHUP as Ctrl-C: a Dask cluster asked its size may
        # keep the run waiting a minute for a first worker.
        with console.StopSignals() as signals, _told_if_slow(options, run, read_only):
            job = prepare(
                paths,
                _create_out=not read_only,
                _thumbnails=any(r.lower().endswith(".html") for r in reports),
                **options,
            )
            signals.raise_if_received()  # one that landed in a finalizer
        job.own_files = {path: kind for kind, path in written}
    except UsageError as exc:
        raise _fail(_from_config(exc, origins)) from None
    except KeyboardInterrupt as exc:
        # While a cluster is asked its size, say: exit 130 alone reads as a crash.
        typer.echo("interrupted: nothing was converted", err=True)
        raise typer.Exit(int(stop_status(exc))) from None
    quiet = bool(run.get("quiet"))
    for idle in [] if quiet else idle_options(**options):
        typer.echo(f"note: {idle}", err=True)
    if read_only and reports and "report" not in origins and not quiet:
        # A CI step that keeps the report of its --check would find none.
        # (One a settings file asks for is a run's: --check leaves it be.)
        mode = "--check" if run.get("check") else "--dry-run"
        typer.echo(f"note: --report writes nothing with {mode}: a report is a run's", err=True)
    try:
        if read_only:
            status = _preview(job, run, quiet=quiet)
        else:
            status = console.run(
                job,
                reports=reports,
                manifest=str(run["manifest"]) if run.get("manifest") else None,
                prune=bool(run.get("prune")),
                quiet=quiet,
                verbose=bool(run.get("verbose")),
            )
    except UsageError as exc:
        raise _fail(exc.on_command_line()) from None
    except ClusterError as exc:
        raise _fail(str(exc), ExitStatus.FAILED) from None
    except Exception as exc:
        if run.get("traceback"):
            raise
        message = f"internal error: {type(exc).__name__}: {exc} (--traceback shows details)"
        raise _fail(message, ExitStatus.FAILED) from None
    raise typer.Exit(int(status))


@contextlib.contextmanager
def _told_if_slow(
    options: dict[str, Any], run: dict[str, Any], read_only: bool
) -> Iterator[None]:
    """A note, once the command has waited a few seconds to start, where a
    Dask scheduler is asked for its workers: it waits up to a minute for a
    first one to join, which read as a hang. (`read_only`: --check and
    --dry-run, which never ask a cluster.)"""
    from imgpar.api import scheduler_address

    address = scheduler_address(options.get("engine"), options.get("scheduler"))
    if not address or run.get("quiet") or read_only:
        yield
        return
    note = threading.Timer(
        SLOW_START_SECONDS,
        typer.echo,
        (f"note: waiting for the Dask scheduler at {address} and a first worker to join",),
        {"err": True},
    )
    note.daemon = True
    note.start()
    try:
        yield
    finally:
        note.cancel()


# Past the 5 s an address has to greet as a scheduler, which says why it
# does not, itself: waiting longer is waiting for a worker.
SLOW_START_SECONDS = 8.0


def _preview(job: "Job", run: dict[str, Any], *, quiet: bool) -> int:
    """--check or --dry-run, stopped by the first Ctrl-C or SIGTERM alone: a
    second one (`timeout` signals the process, then its group) cut short the
    closing of the caches, which printed a traceback."""
    with console.StopSignals(exiting=True):
        try:
            if run.get("check"):
                manifest = str(run["manifest"]) if run.get("manifest") else None
                return console.check(job, manifest=manifest, quiet=quiet)
            return console.dry_run(
                job, prune=bool(run.get("prune")), quiet=quiet, verbose=bool(run.get("verbose"))
            )
        except KeyboardInterrupt as exc:
            typer.echo("interrupted", err=True)
            return int(stop_status(exc))


# Options that ask for opposite things, and why: one silently won.
_CONFLICTS = {
    ("quiet", "verbose"): "ask for opposite things",
    ("check", "dry_run"): "are two previews (--check fails on what is stale, --dry-run lists"
    " what a run would write)",
    ("check", "force"): "ask for opposite things (--check converts nothing, --force everything)",
    ("check", "prune"): "ask for opposite things (--check deletes nothing; its orphans are what"
    " --prune deletes)",
}


def _settle_conflicts(
    options: dict[str, Any], origins: dict[str, str], from_preset: frozenset[str]
) -> None:
    """Refuse two options that contradict each other where they come from one
    place; otherwise the nearer wins: the command line over a preset, a
    preset over its file's top level (`prune = true` in a file, and
    `imgpar convert --check` in CI). `origins` names the settings a file
    gave, `from_preset` those of them its preset gave."""

    def rank(name: str) -> int:
        return 2 if name not in origins else 1 if name in from_preset else 0

    for (a, b), why in _CONFLICTS.items():
        if not (options.get(a) and options.get(b)):
            continue
        if rank(a) != rank(b):
            del options[min((a, b), key=rank)]
        elif a in origins:
            raise UsageError(f"{origins[a]}: settings {a!r} and {b!r} {why}: choose one")
        else:
            raise UsageError(f"{flag(a)} and {flag(b)} {why}: choose one")
    # Where a run goes: this machine's processes, or a Dask scheduler's. Two
    # such in one place are prepare()'s to refuse.
    if options.get("scheduler"):
        for other in ("jobs", "engine"):
            at_odds = options.get(other) is not None and (
                other == "jobs" or options[other] == "local"
            )
            if at_odds and "scheduler" in options and rank(other) != rank("scheduler"):
                del options[min((other, "scheduler"), key=rank)]
    _settle_sizes(options, origins, rank)


def _settle_sizes(
    options: dict[str, Any], origins: dict[str, str], rank: Callable[[str], int]
) -> None:
    """Set aside a farther place's way to size where a nearer one gives
    another (`--max-size 50` over the file's `width = [320, 640]`), and
    with it a farther fit and gravity, which shaped only the sizes set
    aside; two ways in one file are that file's error."""
    from imgpar.api import SIZE_OPTIONS

    sizes = [name for name in SIZE_OPTIONS if options.get(name) not in (None, [], ())]
    aside = {
        name
        for name in sizes
        for other in sizes
        if rank(other) > rank(name) and _two_ways(name, other)
    }
    for name in aside:
        del options[name]
    left = [name for name in sizes if name not in aside]
    if aside and not {"width", "height"} <= set(left):
        # A fit needs a width and a height. One from no nearer than the sizes
        # set aside shaped them (a preset's, inheriting its file's fit).
        farthest = max(rank(name) for name in aside)
        for name in ("fit", "gravity"):
            if name in options and rank(name) <= farthest:
                del options[name]
    for a, b in itertools.combinations(left, 2):
        if _two_ways(a, b) and a in origins and b in origins:
            raise UsageError(
                f"{origins[a]}: settings {a!r} and {b!r} cannot be combined: give one way to size"
            )


def _two_ways(a: str, b: str) -> bool:
    """Whether two size options are two ways to size: only a width and a
    height make one together."""
    return a != b and not {a, b} <= {"width", "height"}


def _required(settings: dict[str, Any], origins: dict[str, str]) -> list[str]:
    """The SOURCES a command's settings name; UsageError without them, or
    without a format to convert to. One that a config file names and is not
    there is that file's setting to fix (`origins`: where settings came from)."""
    paths = [str(p) for p in settings.get("sources") or []]
    if not paths:
        raise UsageError("no SOURCES given (on the command line or as `sources` in a config)")
    for path in paths if "sources" in origins else ():
        if (why := not_there(path)) is not None:
            raise UsageError(why, option="sources")
    if "to" not in settings:
        raise UsageError("--to is required (or `to` in a config)")
    return paths


# Options that take a list, comma-separated or repeated (`--to webp --to
# jpeg`): a repeat that kept only the last value dropped the WebP outputs,
# and --prune would then have deleted them.
_REPEATABLE = frozenset({"to", "max_size", "width"})


def _refuse_repeats(ctx: typer.Context) -> None:
    """Refuse an option that takes one value given twice (`--preset web
    --preset og` checked og alone, green): lists take repeats, flags may.
    Read from the command line run() was given (the root context's object):
    click keeps only the last value, which the parsed ones cannot tell."""
    args, command = ctx.find_root().obj, ctx.command
    if not isinstance(args, list) or command.name not in args:
        return
    options = [p for p in command.params if isinstance(p, typer.core.TyperOption)]
    valued = {name: p for p in options if not p.is_flag and not p.count for name in p.opts}
    seen: dict[str, int] = {}

    def given(name: str) -> None:
        option = valued.get(name)
        if option is not None and not option.multiple:
            seen[option.opts[0]] = seen.get(option.opts[0], 0) + 1

    tokens = iter(args[args.index(command.name) + 1 :])
    for token in tokens:
        if token == "--":
            break
        if token.startswith("--"):
            name, joined, _ = token.partition("=")
            given(name)
            if name in valued and not joined:
                next(tokens, None)  # its value, whatever it looks like
        elif token.startswith("-") and len(token) > 1:
            # Short options run together, as click reads them: `-vq50`.
            for i, letter in enumerate(token[1:], 1):
                given(f"-{letter}")
                if f"-{letter}" in valued:
                    if i == len(token) - 1:
                        next(tokens, None)
                    break
    for name, times in seen.items():
        if times > 1:
            raise UsageError(f"{name} is given {times} times: it takes one value")


# Options naming one thing, and what: given empty, they are errors, not unset.
_NAMES_A_FILE = {
    "config": "a settings file",
    "preset": "a preset's name",
    "manifest": "a file name (FILE.json)",
}


def _settings(
    ctx: typer.Context, config: Path | None, preset: str | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The command's options: those on its command line over those of the
    settings file (`--config`, or imgpar.toml / [tool.imgpar] found upward),
    the nearer winning where two contradict, and where each one the file
    gave came from."""
    from imgpar import config as settings_file

    _refuse_repeats(ctx)
    for name, what in _NAMES_A_FILE.items():
        value = ctx.params.get(name)
        if isinstance(value, str | Path) and not str(value).strip():
            # `--preset "$PRESET"` with the variable unset ran the file's
            # top-level job, and `--manifest "$M"` wrote none: CI went green.
            raise UsageError(f"{flag(name)} is empty: give {what}")
    from imgpar.api import convert

    # Unset options are None (an unset list argument is empty): the file fills them.
    given = {k: v for k, v in ctx.params.items() if v is not None and v != [] and v != ()}
    # The API's keywords: not what the command decides itself (thumbnails
    # for an HTML report), prepare()'s private ones.
    known = frozenset(inspect.signature(convert).parameters) | _CLI_ONLY
    settings, origins, from_preset = settings_file.load(
        str(config) if config else None, preset, known - {"config", "preset"}
    )
    options = _as_parsed(ctx, settings, origins)
    options.update(given)
    for name in _REPEATABLE & options.keys():
        options[name] = ",".join(options[name])
    origins = {k: v for k, v in origins.items() if k not in given}
    _settle_conflicts(options, origins, from_preset)
    return options, origins


def _check_written(
    written: list[tuple[str, str]], sources: list[str], *, read_only: bool = False
) -> None:
    """Refuse, before --out is made (a run refused leaves nothing), a report
    or manifest that cannot be written or would write over what it must not:
    each is written whole over whatever has its name."""
    seen: dict[str, str] = {}
    for kind, path in written:
        if kind == "manifest" and os.path.splitext(path)[1].lower() != ".json":
            # Its name is all that keeps it off an image: `--manifest photos/a.jpg`.
            raise UsageError(
                f"{path}: name it .json (it is written over whatever is there)",
                option="manifest",
            )
        if kind == "report":
            # Only here: a run without a report never loads report code.
            from imgpar.report import misnamed

            if (problem := misnamed(path)) is not None:
                raise UsageError(problem, option="report")
        if (blocker := file_in_the_way(path)) is not None:
            raise UsageError(f"cannot write the {kind} {path}: {blocker} is a file, not a folder")
        # Written at the end, through a new file beside it: its folder decides
        # (--check only reads a manifest, and writes no report).
        if not read_only:
            folder = nearest_folder(os.path.dirname(path))
            if not os.access(folder, os.W_OK | os.X_OK):
                raise UsageError(f"cannot write the {kind} {path}: {folder} cannot be written to")
        key = os.path.realpath(path)
        if key in seen:
            raise UsageError(f"the {kind} {path} is also the {seen[key]}: give each its own file")
        seen[key] = f"{kind} {path}"
        if any(os.path.realpath(source) == key for source in sources):
            raise UsageError(f"the {kind} {path} is a SOURCE: it would be written over")


def _from_config(error: UsageError, origins: dict[str, str]) -> str:
    """A usage error about a setting a config file made, told as that
    file's setting, where it must be fixed."""
    if error.option in origins:
        return _setting_error(origins, error.option, error.problem)
    return error.on_command_line()


def _setting_error(origins: dict[str, str], name: str, problem: str) -> str:
    return f"{origins[name]}: setting {name!r}: {problem}"


def _as_parsed(
    ctx: typer.Context, settings: dict[str, Any], origins: dict[str, str]
) -> dict[str, Any]:
    """Config settings as the command line would have parsed them: a value of
    the wrong kind is a usage error naming the setting, and one value where a
    list goes (`sources = "img"`) is a list of one."""
    params = {p.name: p for p in ctx.command.params}
    parsed = {}
    for name, value in settings.items():
        param = params.get(name)
        if param is not None:
            if (param.multiple or param.nargs == -1) and not isinstance(value, list):
                value = [value]
            kind, takes = _TOML_KINDS.get(type(param.type).__name__, ("text", (str,)))
            for item in value if isinstance(value, list) else [value]:
                # TOML values are typed: `upscale = 1`, `quality = 70.5` or
                # `out = 5` is a mistake to name, not a value to coerce.
                if isinstance(item, bool) != (takes == (bool,)) or not isinstance(item, takes):
                    raise UsageError(_setting_error(origins, name, f"{item!r} is not {kind}"))
            try:
                value = param.type_cast_value(ctx, value)
            except typer.BadParameter as exc:
                raise UsageError(_setting_error(origins, name, exc.message)) from None
        parsed[name] = value
    return parsed


# Per click parameter type: what its TOML value must be. Sizes are text on
# the command line ("320,640") but may be a number in a file (`width = 200`).
_TOML_KINDS: dict[str, tuple[str, tuple[type, ...]]] = {
    "BoolParamType": ("true or false", (bool,)),
    "IntParamType": ("a whole number", (int,)),
    "FloatParamType": ("a number", (int, float)),
    "StringParamType": ("text or a number", (str, int)),
    "TyperPath": ("a path in quotes", (str,)),
}


# The command list cuts a summary at 45 characters.
@app.command(short_help="Measure the speedup of --jobs on your images.")
def bench(
    ctx: typer.Context,
    sources: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Image files and folders (or `sources` in the config).",
            metavar="SOURCES...",
            show_default=False,
            readable=False,
        ),
    ] = None,
    to: Annotated[
        list[str] | None, _opt("--to", "-t", help="Target format(s), as for convert.")
    ] = None,
    max_size: Annotated[
        list[str] | None,
        _opt("--max-size", help="Fit inside N x N pixels; a list makes one output per size."),
    ] = None,
    width: Annotated[
        list[str] | None,
        _opt("--width", help="Output width; a list makes one output per width."),
    ] = None,
    height: Annotated[int | None, _opt("--height", help="Output height.")] = None,
    fit: Annotated[str | None, _opt("--fit", help="contain, cover or fill.")] = None,
    gravity: Annotated[str | None, _opt("--gravity", help="Where --fit cover crops.")] = None,
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
    all_pages: Annotated[
        bool | None, _opt("--all-pages/--first-page", help="Every page of a multi-page TIFF.")
    ] = None,
    allow_truncated: Annotated[
        bool | None, _opt("--allow-truncated", help="Convert truncated files as far as they go.")
    ] = None,
    config: Annotated[
        Path | None, _opt("--config", help="Settings file, as for convert.")
    ] = None,
    preset: Annotated[str | None, _opt("--preset", help="A preset of the settings file.")] = None,
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
    room) that is removed at the end: nothing is left behind. The settings
    file's conversion options apply, as for convert.

    Example: imgpar bench ./photos --to webp --max-size 2048 --jobs 1,2,4
    """
    from tqdm import tqdm

    from imgpar.api import idle_options
    from imgpar.bench import bench as run_bench

    # What bench decides itself, whatever the command line or the file says.
    own = {"sources", "jobs", "sample", "repeat", "config", "preset"}
    origins: dict[str, str] = {}
    try:
        settings, origins = _settings(ctx, config, preset)
        paths = _required(settings, origins)
        takes = {p.name for p in ctx.command.params} - own
        options = {k: v for k, v in settings.items() if k in takes}
        idle = idle_options(**options)
    except UsageError as exc:
        raise _fail(_from_config(exc, origins)) from None
    for note in idle:
        typer.echo(f"note: {note}", err=True)
    try:
        # Empty (an unset variable) is no default, as for convert.
        ladder = [int(j) for j in jobs.split(",")] if jobs is not None else None
    except ValueError:
        raise _fail("--jobs takes whole numbers separated by commas, like 1,2,4") from None
    bar = tqdm(unit="run", file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    with console.StopSignals(exiting=True) as signals:
        try:
            result = run_bench(
                paths,
                jobs=ladder,
                sample=sample,
                repeat=repeat,
                progress=progress,
                own_process=True,
                **options,
            )
            signals.raise_if_received()
        except UsageError as exc:
            raise _fail(_from_config(exc, origins)) from None
        except KeyboardInterrupt as exc:
            bar.close()
            # Silence would read as a crash; a table of part of the runs would mislead.
            typer.echo("interrupted: no table, as not every run was done", err=True)
            raise typer.Exit(int(stop_status(exc))) from None
        finally:
            bar.close()
    typer.echo(console.format_bench(result))
    # Timings that include failures describe another workload: say so in
    # the status too, as convert does, for scripts that keep the figures.
    if any(row.failed for row in result.rows):
        raise typer.Exit(int(ExitStatus.FAILED))


@app.command(short_help="Inspect images and what convert would do.")
def info(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Image files, and folders: every image in their trees.",
            metavar="FILES...",
            show_default=False,
            readable=False,
        ),
    ],
    as_json: Annotated[
        bool, _opt("--json", help="Print one JSON list (a record per file) for scripts.")
    ] = False,
) -> None:
    """Show what imgpar sees in images and what convert would do with them.

    Example: imgpar info IMG_0001.JPG --json
    """
    import json

    from imgpar.cstderr import Catcher
    from imgpar.info import inspect

    # A broken link is there, and fails as a file: as convert names it.
    missing = next((why for f in files if (why := not_there(str(f), follow=False))), None)
    if missing is not None:
        raise _fail(missing)
    from imgpar.report import to_json

    failed = False
    # A path that is no text as the text `caf\udce9.jpg`, as the reports write it.
    encode = json.JSONEncoder(indent=2, ensure_ascii=False).encode
    opening = "[\n  "  # each record printed as it is read: a tree's all held cost 4 KB a file
    with Catcher(swap=True) as catcher:  # what libtiff prints of a file, told in its facts
        for path in _image_paths(files):
            if not isinstance(path, str):
                failed = True  # a folder it cannot read: its images go unseen
                console.echo_line(f"imgpar: error: {path.path}: {path.reason}", err=True)
                continue
            record = inspect(path, catcher)
            if record["error"]:
                failed = True
                if as_json or "format" not in record:  # else its facts end `convert  fails: ...`
                    console.echo_line(f"imgpar: error: {path}: {record['error']}", err=True)
            if as_json:
                typer.echo(opening + to_json(record, encode).replace("\n", "\n  "), nl=False)
                opening = ",\n  "
            elif "format" in record:
                typer.echo(console.format_info(record))
    if as_json:
        typer.echo("[]" if opening.startswith("[") else "\n]")
    raise typer.Exit(int(ExitStatus.FAILED if failed else ExitStatus.OK))


def _image_paths(sources: list[Path]) -> "Iterator[str | Skipped]":
    """Files as named, and the images in folders' trees, as convert finds them,
    in the order the user named them, and the folders it cannot read; what
    else the walk passes over is noted on stderr."""
    from imgpar.walk import Folder, walk

    shown: set[str] = set()  # each file once, however often it is named
    for source in sources:
        for item in walk([str(source)], outputs=True):
            if not isinstance(item, Folder):
                if item.failed:
                    yield item
                else:
                    console.echo_line(f"note: {item.path}: {item.reason}", err=True)
                continue
            for path in map(item.file, item.names):
                if (where := os.path.abspath(path)) not in shown:
                    shown.add(where)
                    yield path


@app.command()
def formats() -> None:
    """List the formats this install reads and writes.

    Example: imgpar formats
    """
    import textwrap

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
        line = f"  {target.name:5}  {target.ext:6} " + ", ".join(t for t in traits if t)
        typer.echo(textwrap.fill(line, 79, subsequent_indent=" " * 16, break_on_hyphens=False))


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


def run(args: list[str] | None = None) -> int:
    """Run the command line (`sys.argv` by default) and return its exit status."""
    try:
        app(args=args, prog_name="imgpar", obj=list(sys.argv[1:] if args is None else args))
    except KeyboardInterrupt as stop:
        # Before a run takes over its stop signals (typer building the
        # command, the options checked): nothing was done, and a traceback
        # would say more.
        print("interrupted", file=sys.stderr)
        return int(stop_status(stop))
    except SystemExit as stop:
        if (signalled := _stopped_by(stop)) is not None:
            print("interrupted", file=sys.stderr)
            return int(stop_status(signalled))
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    return 0


def _stopped_by(exc: BaseException) -> KeyboardInterrupt | None:
    """The stop signal behind `exc`, if any: typer turns one that lands as
    it parses the command line into a silent exit 130, whatever the signal.
    (A stop the command handled and said is raised `from None`.)"""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, KeyboardInterrupt):
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return seen


class _UntilUnread:
    """A standard stream that goes quiet once nobody reads it (`| head` has
    exited, the terminal closed): it must not stop a batch, whose outputs,
    reports and exit status are what matter."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self._stream = stream
        self._name = name
        # Why it could not be written, told when the command ends: raised
        # here, click's own probes of the stream would swallow it.
        self.failed: str | None = None

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            self._unread(exc)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            self._unread(exc)

    def _unread(self, exc: OSError) -> None:
        # A closed pipe, or a terminal gone (EIO, after SIGHUP). Any other
        # error on stdout (a full disk under `> listing.json`) is the
        # command's to report; stderr's notes are no part of its job.
        gone = isinstance(exc, BrokenPipeError) or exc.errno == errno.EIO
        if not gone and self._name == "stdout":
            self.failed = self.failed or f"cannot write to {self._name}: {exc.strerror or exc}"
        self._stream = open(os.devnull, "w")  # noqa: SIM115  (lives as long as the process)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main() -> NoReturn:
    # Closed (`>&-`), a stream is None: as good as a pipe nobody reads.
    streams = tuple(
        _UntilUnread(stream or open(os.devnull, "w"), name)  # noqa: SIM115
        for stream, name in ((sys.stdout, "stdout"), (own_stderr(sys.stderr), "stderr"))
    )
    sys.stdout, sys.stderr = streams  # type: ignore[assignment]
    status = run()
    # The command is done and its status set: a stop now has nothing to
    # stop, and raised it would tear through the last writes.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    for stream in streams:
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if failed := [s.failed for s in streams if s.failed]:
        # A full disk under `> listing.json`: the command did not do its job.
        for why in failed:
            with contextlib.suppress(OSError):
                os.write(2, f"imgpar: error: {why}\n".encode())
        status = status or int(ExitStatus.FAILED)
    if _watched():
        sys.exit(status)  # a profiler or coverage tool writes its data at exit
    # Every output, report and cache is closed and the workers are gone by
    # now. Tearing down the interpreter's modules would add ~40 ms to every
    # run, a no-op re-run's included, and do nothing for the user.
    os._exit(status)


def _watched() -> bool:
    """Whether a profiler or a coverage tool watches this process: by a hook
    of old, or, from Python 3.12 on, by sys.monitoring, as cProfile does."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)
    # Its tools have the ids 0 to 5 (debugger, coverage, profiler, ...).
    return monitoring is not None and any(monitoring.get_tool(i) for i in range(6))
