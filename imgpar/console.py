"""A command-line run and what it shows in the terminal: `run` drives a
conversion (signals, reports, the manifest, `--prune`, the exit status) and
renders the progress bar, a line per failed file and the summary; the bench
and info tables are drawn here too. The data comes from imgpar.api and
imgpar.collect."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import typer

from imgpar.cstderr import Catcher
from imgpar.errors import (
    STOP_SIGNALS,
    ExitStatus,
    HungUp,
    Terminated,
    UsageError,
    counted,
    in_finalizer,
    stop_status,
    them,
)

if TYPE_CHECKING:
    from types import FrameType

    from tqdm import tqdm

    from imgpar.api import Held, Job
    from imgpar.bench import BenchResult
    from imgpar.collect import Summary
    from imgpar.manifest import Manifest
    from imgpar.report import ReportWriter
    from imgpar.spec import Result, Task
    from imgpar.walk import Skipped

SHOWN_WARNINGS = 3  # kinds of warning named at the end of a run; the rest counted
# A warning's detail, which differs file by file: "(expecting to read 12 bytes ...)"
# at its end, not a bracket inside its kind, as in "HDR (PQ) colour read as sRGB".
_DETAIL = re.compile(r" \([^()]*\)$")


def dry_run(
    job: Job, *, prune: bool = False, quiet: bool = False, verbose: bool = False
) -> ExitStatus:
    from imgpar.api import held_why
    from imgpar.plan import IN_TARGET_FORMAT
    from imgpar.spec import Result, Task
    from imgpar.walk import NO_IMAGES

    remade: list[str] = []
    failing: list[str] = []
    converting = skipped = failed = 0
    empty = False  # a SOURCE folder with no image in it
    for item, outputs in _outlooks(job):
        if isinstance(item, Task):
            if isinstance(outputs, str):
                failing.append(item.display)
                failed += 1
                echo_line(f"{item.display}: would fail: {outputs}")
            else:
                converting += 1
                remade += outputs
                # A line per output: names may hold commas, and scripts read this.
                for output in outputs:
                    echo_line(f"{item.display} -> {output}")
        elif isinstance(item, Result) and item.status == "failed":
            failed += 1
            echo_line(f"{item.source}: would fail: {item.error}")
        elif isinstance(item, Result):
            skipped += 1
            if verbose:  # as a run names them: a line per source of a big tree
                why = IN_TARGET_FORMAT if IN_TARGET_FORMAT in item.notes else "up to date"
                echo_line(f"{item.source}: skipped: {why}")
        elif item.failed:
            failed += 1
            echo_line(f"{item.path}: would fail: {item.reason}")
        else:
            empty = empty or item.reason == NO_IMAGES
            if not quiet:
                echo_line(f"note: {item.path}: {item.reason}", err=True)
    held: Held = {}
    if prune:
        for path in job.orphans(remade, failing, held):
            echo_line(f"would prune: {path}")
    elif empty:
        job.prune(dry_run=True, held=held)
    for source, why in held_why(held):
        echo_line(f"{source}: would fail: {why}")
    _warn_of_caches(job)
    # On stderr: stdout is a line per output, for scripts.
    echo_line(
        f"would convert {counted(converting, 'file')} ({counted(len(remade), 'output')}),"
        f" skip {skipped}, fail {failed + len(held)}",
        err=True,
    )
    return ExitStatus.OK


def _warn_of_caches(job: Job) -> list[str]:
    """The caches' warnings, told; the same, for the reports."""
    warnings = job.cache_warnings()
    for warning in warnings:
        echo_line(f"warning: {warning}", err=True)
    return warnings


def _outlooks(job: Job) -> Iterator[tuple[Task | Result | Skipped, tuple[str, ...] | str]]:
    """The dry plan's items, each task with what converting it would write
    or why it would fail (_outlook; the others with nothing), what Pillow
    logs as a header is read caught as a run's is: by a Catcher made at the
    first task, so that a tree up to date loads nothing more."""
    from imgpar.spec import Task

    with contextlib.ExitStack() as stack:
        catcher = None
        for item in job.dry_plan():
            if isinstance(item, Task):
                catcher = catcher or stack.enter_context(Catcher(swap=True))
                yield item, _outlook(job, item, catcher)
            else:
                yield item, ()


def _outlook(job: Job, task: Task, catcher: Catcher) -> tuple[str, ...] | str:
    """What converting `task` would write, or why it would fail, without
    decoding: its header is read (names may hold the image's size, and a
    file that cannot be opened would fail), and the cache tells whether
    its pixels failed the last run, unchanged since."""
    from imgpar.pipeline import sized_outputs

    outputs = sized_outputs(task, job.spec, catcher)
    failed_before = job.planner.known_failure(task) if job.planner else None
    if isinstance(outputs, tuple) and failed_before is not None:
        return f"{failed_before} (as the last run found)"
    return outputs


def check(job: Job, *, manifest: str | None = None, quiet: bool = False) -> ExitStatus:
    """Exit 1 listing every source whose outputs would be (re)made, the
    outputs --prune would delete, and a manifest that is not as a run would
    write it."""
    from imgpar.api import held_why
    from imgpar.spec import Result, Task
    from imgpar.temps import temporary
    from imgpar.walk import NO_IMAGES

    listing = None
    if manifest:
        from imgpar.manifest import Manifest

        listing = Manifest(manifest, sources=job.sources, out=job.out, probe=False)

    stale: list[str] = []
    failing: list[str] = []  # a name collision, or a header that cannot be read
    remade: list[str] = []
    kept: list[str] = []  # stale sources that would fail, keeping their outputs
    for item, outputs in _outlooks(job):
        if isinstance(item, Task):
            if isinstance(outputs, str):
                kept.append(item.display)
                failing.append(f"{item.display}: {outputs}")
            else:
                stale.append(item.display)
                remade += outputs
        elif isinstance(item, Result) and item.status == "failed":
            failing.append(f"{item.source}: {item.error}")
        elif isinstance(item, Result) and listing is not None:
            listing.add(item)
        elif not isinstance(item, Result) and item.failed:
            failing.append(f"{item.path}: {item.reason}")
        elif not isinstance(item, Result) and item.reason == NO_IMAGES and not quiet:
            echo_line(f"note: {item.path}: {item.reason}", err=True)  # a typo, or a drive
    held: Held = {}
    orphans = job.orphans(remade, kept, held)
    failing += [f"{source}: {why}" for source, why in held_why(held)]
    if listing is not None:
        # With something stale, what a run would write is not known here
        # (it rewrites the manifest anyway): only a missing one is told.
        if stale or failing:
            outdated = not os.path.exists(listing.path)
        else:
            outdated = not listing.is_current()
        if outdated:
            stale.append(f"{listing.path} (the manifest: missing or not what a run writes)")
    for path in stale:
        echo_line(f"stale: {path}")
    for line in failing:
        echo_line(f"failing: {line}")
    # A killed run's temporary files are no outputs, orphaned or not.
    leftovers = [path for path in orphans if temporary(path)]
    orphans = [path for path in orphans if not temporary(path)]
    for path in orphans:
        echo_line(f"orphan: {path} (no source makes it now; --prune deletes it)")
    for path in leftovers:
        echo_line(f"leftover: {path} (a temporary file of a run killed outright;"
                  " --prune deletes it)")  # fmt: skip
    _warn_of_caches(job)
    if stale or failing or orphans or leftovers:
        counts = (
            f"{len(stale)} stale, {len(failing)} failing,"
            f" {counted(len(orphans), 'orphaned output')}"
        )
        if leftovers:
            counts += f", {counted(len(leftovers), 'leftover temporary file')}"
        typer.echo(counts, err=True)
        return ExitStatus.FAILED
    typer.echo("everything is up to date", err=True)
    return ExitStatus.OK


def run(
    job: Job,
    *,
    reports: list[str],
    manifest: str | None,
    prune: bool,
    quiet: bool,
    verbose: bool,
) -> ExitStatus:
    from imgpar.api import held_why
    from imgpar.collect import Collector
    from imgpar.plan import KEPT_EXTENSION
    from imgpar.spec import Result
    from imgpar.walk import UNREAD

    # This is the command's own process (a program calling the API keeps its
    # malloc and its stderr as they are): --jobs 1 converts here, as a worker.
    job.own_process = True
    job.waiting = None if quiet else _say_waiting

    writers = _open_reports(reports)
    # What fails a run that converted every file: a report or manifest given
    # up on (a full disk), outputs --prune kept back.
    warned: list[str] = []

    def give_up(writer: ReportWriter, exc: OSError) -> None:
        writers.remove(writer)
        writer.discard()
        warned.append(f"report {writer.path} not written ({exc.strerror or exc})")

    listing = _open_manifest(manifest, job) if manifest else None
    show_bar = not quiet and sys.stderr.isatty()
    bar: tqdm[Any] | _NoBar = _NoBar()
    if show_bar:
        bar = shown = _progress_bar()
        # Counting runs beside the conversion so the first file starts at once.
        threading.Thread(target=_count_into, args=(shown, job), daemon=True).start()
    collector = Collector(jobs=job.jobs, engine=job.engine_label)
    interrupted: KeyboardInterrupt | None = None
    noted: Counter[str] = Counter()  # files' planning notes, told once at the end
    # The first source by path that keeps its extension, ("a.png", "a.png -> a.png.webp"):
    # by path, not by which worker finished first, so runs tell the same one.
    kept_example: tuple[str, str] | None = None
    unread: Counter[str] = Counter()  # files left alone, by extension
    events = job.events(keep_locks=prune)

    def take(event: Result | Skipped) -> None:
        nonlocal kept_example
        if not isinstance(event, Result):
            for writer in writers:
                writer.note(event.path, event.reason)
            if event.failed:
                collector.unread(event.path)
                bar.write(one_line(f"failed: {event.path}: {event.reason}"), file=sys.stderr)
                return
            if event.reason == UNREAD:
                # Often hundreds (camera raw files beside their JPEGs): one
                # note at the end, each file only with --verbose.
                unread[os.path.splitext(event.path)[1].lower()] += 1
            if verbose if event.reason == UNREAD else not quiet:
                bar.write(one_line(f"note: {event.path}: {event.reason}"), file=sys.stderr)
            return
        collector.add(event)
        for writer in list(writers):
            try:
                writer.add(event)
            except OSError as exc:
                give_up(writer, exc)
        if listing is not None:
            listing.add(event)
        if event.status == "failed":
            # With --verbose, what else was said of it (a warning may tell more than the reason).
            told = "".join(f"; {note}" for note in event.notes) if verbose else ""
            bar.write(one_line(f"failed: {event.source}: {event.error}{told}"), file=sys.stderr)
        elif verbose:
            bar.write(one_line(_line(event)), file=sys.stderr)
        if event.status != "failed":  # the end notes tell of outputs made or kept
            noted.update(event.notes)
            if KEPT_EXTENSION in event.notes and event.outputs:
                name = os.path.basename(event.outputs[0].path)
                example = (event.source, f"{os.path.basename(event.source)} -> {name}")
                kept_example = min(example, kept_example or example)
        bar.update(1)

    with StopSignals(exiting=True) as signals:
        job.in_hand, job.recording = signals.in_hand, signals.held
        try:
            for event in events:
                # A signal stops the wait for the next file at once, but
                # never cuts the recording of a file in half.
                signals.hold = True
                try:
                    take(event)
                finally:
                    signals.hold = False
                signals.raise_if_received()
        except KeyboardInterrupt as exc:
            interrupted = exc
        except BaseException:
            for writer in writers:
                writer.discard()
            raise
        finally:
            events.close()
            bar.close()
        # Every file is recorded and the workers are gone: a signal now
        # changes nothing, and the reports, the manifest, --prune and the
        # summary are written whole.
        signals.hold = True
        try:
            cache_warnings = _warn_of_caches(job)
            # A SOURCE with no image now, whose outputs are still there: an
            # unmounted drive, most likely. The run fails, says why in its reports,
            # and leaves its manifest, which would drop every one of them, as it was.
            summary, held = job.summary(collector, interrupted=interrupted is not None)
            complete = interrupted is None and summary.stopped is None
            told = held_why(held)
            kept_back: Held = {}
            if prune and complete:
                from imgpar.temps import temporary

                # Before the reports close, which list what it deleted (its
                # outputs: not the temporary files killed runs left).
                try:
                    pruned = job.prune(held=kept_back)
                except OSError as exc:
                    pruned = []
                    warned.append(f"--prune stopped: {exc.strerror or exc}")
                if not quiet:
                    for path in pruned:
                        echo_line(f"pruned: {path}", err=True)
                # Still recorded, for the next --prune; a CI step must not
                # pass while --check would fail on them.
                warned += [f"cannot prune {why}" for why in job.unpruned]
                summary = summary._replace(pruned=tuple(p for p in pruned if not temporary(p)))
            # What --prune would delete now: outputs of sources that are gone,
            # and those their sources no longer make.
            told_left = complete and not prune and (not quiet or bool(writers))
            left = job.left_behind() if told_left else 0
        finally:
            job.release()  # what the run and --prune do is done: another may start
        # Before the reports close, which tell what became of it.
        if listing is not None and complete:
            try:
                if held:
                    again = "rewritten" if os.path.exists(listing.path) else "written"
                    warned.append(f"manifest {listing.path} not {again}: a SOURCE has no images")
                else:
                    listing.write()
            except OSError as exc:
                warned.append(f"manifest {listing.path} not written ({exc.strerror or exc})")
        example = kept_example[1] if kept_example else None
        end_notes = _end_notes(noted, example, unread, left, verbose=verbose)
        if (waited := waited_note(summary)) is not None:
            end_notes.append(waited)
        late = "the stop came after the last file: the run is complete"
        # The SOURCES held back, as --prune left them where it ran.
        held_told = held_why(kept_back) if prune and complete else told
        warned += [f"{source}: {why}" for source, why in held_told]
        # What the terminal shows at the end, for the reports too, but a
        # report's own failure to be written.
        said = [f"warning: {w}" for w in cache_warnings + warned]
        said += [f"note: {note}" for note in end_notes]
        if signals.received is not None and interrupted is None:
            said.append(f"note: {late}")
        for writer in list(writers):
            try:
                for source, why in told:
                    writer.note(source, why)
                writer.close(summary, said=said)
            except OSError as exc:
                give_up(writer, exc)
        for warning in warned:
            echo_line(f"warning: {warning}", err=True)
        typer.echo(format_summary(summary))
        if not quiet:
            # A stop as the reports were written is told, if not in them.
            if signals.received is not None and interrupted is None:
                end_notes.append(late)
            for note in end_notes:
                typer.echo(f"note: {note}", err=True)
        if interrupted is not None:
            return stop_status(interrupted)
        if warned and summary.exit_status == ExitStatus.OK:
            # A CI step must not pass without its report, nor on an empty SOURCE.
            return ExitStatus.FAILED
        return summary.exit_status


def _say_waiting(root: str) -> None:
    from imgpar.cache import waiting_words

    echo_line(f"note: {waiting_words(root)}", err=True)


def _open_manifest(path: str, job: Job) -> Manifest:
    from imgpar.manifest import Manifest

    try:
        return Manifest(path, sources=job.sources, out=job.out)
    except OSError as exc:
        raise UsageError(f"cannot write the manifest {path}: {exc.strerror or exc}") from None


def _open_reports(paths: list[str]) -> list[ReportWriter]:
    if not paths:
        return []  # and the report writers are never imported
    from imgpar.report import open_report

    writers: list[ReportWriter] = []
    for path in paths:
        try:
            writers.append(open_report(path, sys.argv[1:]))
        except (ValueError, OSError) as exc:
            for writer in writers:
                writer.discard()
            if isinstance(exc, ValueError):
                raise UsageError(str(exc)) from None
            raise UsageError(f"cannot write the report {path}: {exc.strerror or exc}") from None
    return writers




def waited_note(s: Summary) -> str | None:
    """Why a run's speedup overstates its gain, when it does: its workers
    waited for a CPU (other programs busy) or the disk, and the speedup
    (work over wall time) counts the wait as work. Not said for more jobs
    than CPUs, which the run's first note has said."""
    from imgpar.limits import default_jobs, noted_wait

    if s.engine != "dask" and s.jobs > default_jobs():
        return None
    waited = noted_wait(s.work_seconds, s.waited_seconds)
    if waited is None:
        return None
    return (
        f"the workers waited {waited:.0%} of their work time, for a CPU (other programs"
        " busy) or the disk: the speedup counts the wait as work (imgpar bench times the"
        " real gain)"
    )


def _end_notes(
    noted: Counter[str],
    kept_example: str | None,
    unread: Counter[str],
    left: int,
    *,
    verbose: bool,
) -> list[str]:
    """What a run tells once, after its summary, counted (with --verbose,
    each file's line has said it too, somewhere far up): planning notes
    that change what was written, files left alone, and outputs of earlier
    runs left behind, which would otherwise sit there with old pixels."""
    from imgpar.plan import (
        IN_TARGET_FORMAT,
        KEPT_EXTENSION,
        KEPT_FOR_RECORDED,
        KEPT_OUTPUTS,
        PARTLY_IN_TARGET,
    )
    from imgpar.spec import NOT_ENLARGED, WARNING

    notes = []
    if noted[PARTLY_IN_TARGET]:
        notes.append(
            f"{counted(noted[PARTLY_IN_TARGET], 'source')} already in one of the target formats:"
            " that output, which would replace it, is not made (the source stands for it as"
            " it is, its metadata too); --out DIR or --name '{stem}-web.{ext}' makes it"
        )
    if noted[KEPT_OUTPUTS]:
        notes.append(
            f"{counted(noted[KEPT_OUTPUTS], 'source')} made only some outputs:"
            " the others were up to date"
        )
    if noted[IN_TARGET_FORMAT]:
        notes.append(
            f"{noted[IN_TARGET_FORMAT]} skipped as already in the target format"
            " (left as they are, their metadata too); --out ANOTHER_DIR or"
            " --name '{stem}-web.{ext}' re-encodes " + them(noted[IN_TARGET_FORMAT])
        )
    if noted[KEPT_EXTENSION]:
        notes.append(
            f"{counted(noted[KEPT_EXTENSION], 'source')} with another of the same name:"
            " outputs keep the source extension"
            + (f" ({kept_example})" if kept_example else "")
        )
    if noted[KEPT_FOR_RECORDED]:
        notes.append(
            f"{counted(noted[KEPT_FOR_RECORDED], 'source')} whose output names the --out records"
            " for files of another SOURCE (or of a SOURCE folder since renamed): outputs keep"
            " the source extension; a fresh --out gives them their own"
        )
    if noted[NOT_ENLARGED]:
        notes.append(
            f"{counted(noted[NOT_ENLARGED], 'source')} smaller than the size asked for:"
            f" not enlarged; --upscale enlarges {them(noted[NOT_ENLARGED])}"
        )
    if left:
        notes.append(f"{counted(left, 'earlier output')} no source makes now;"
                     f" --prune deletes {them(left)}")  # fmt: skip
    if unread:
        formats = ", ".join(f"{n} {ext}" for ext, n in unread.most_common())
        notes.append(
            f"{counted(unread.total(), 'file')} in formats imgpar does not read,"
            f" left alone ({formats})"
        )
    # Metadata or a profile left out, damaged data read past: a photographer's
    # credit must not vanish unsaid because the run was not --verbose. By
    # kind: the detail in brackets (which bytes) is each file's own.
    warned: Counter[str] = Counter()
    for note, n in noted.items():
        if note.startswith(WARNING):
            warned[_DETAIL.sub("", note[len(WARNING) :])] += n
    if warned:
        kinds = [f"{w} ({counted(n, 'file')})" for w, n in warned.most_common(SHOWN_WARNINGS)]
        if len(warned) > SHOWN_WARNINGS:
            kinds.append(f"{counted(len(warned) - SHOWN_WARNINGS, 'other warning')}")
        named = "" if verbose else " (--verbose names the files)"
        notes.append(f"converted with warnings{named}: {'; '.join(kinds)}")
    return notes


def _count_into(bar: tqdm[Any], job: Job) -> None:
    from imgpar.walk import count_images

    found = count_images(job.sources, exclude=job.out)
    # At once, not at the next finished file, which may be seconds away; a
    # tqdm bar refreshes under its own lock, and not at all once closed.
    bar.total = found
    bar.refresh()


def _progress_bar() -> tqdm[Any]:
    from tqdm import tqdm

    return tqdm(total=None, unit="img", file=sys.stderr, dynamic_ncols=True)


class _NoBar:
    """What `run` needs of a tqdm bar when none is shown (quiet, or stderr is
    not a terminal): build steps then do not pay for importing tqdm."""

    def update(self, n: int) -> None:
        pass

    def write(self, line: str, file: Any) -> None:
        print(line, file=file, flush=True)

    def close(self) -> None:
        pass


class StopSignals:
    """Ctrl-C (SIGINT), SIGTERM and SIGHUP as exceptions in the main thread, and
    remembered: Python prints and drops an exception raised inside a
    finalizer (`__del__`; Dask's clients and futures have one), so a signal
    that lands there is only remembered, and the run asks
    `raise_if_received` between files to raise it. It sets `hold` while it
    records a file, so no report gets half an entry. Only the first signal
    is raised: the run is stopping, and a second one (Ctrl-C pressed again,
    `timeout` signalling the process and then its group) must not cut short
    the cleanup that kills the workers and removes their temporary files,
    nor, after it, the writing of the report."""

    def __init__(self, *, exiting: bool = False) -> None:
        # The process ends with the run (the command line's): once a signal
        # has stopped it, later ones are ignored to the end rather than handed
        # back to Python's default, which would raise them in the middle of
        # writing the report or the summary, traceback and all.
        self._exiting = exiting
        self.received: int | None = None
        self.hold = False  # while True, a signal is only remembered
        # While True, this process converts a file (--jobs 1): a signal
        # says it waits for that file's end.
        self.finishing = False
        self._raised = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for signum in STOP_SIGNALS:
            # `nohup imgpar ...` (SIGHUP), a shell script's `imgpar ... &`
            # (SIGINT): asked to go on, whatever stops the others.
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        stopped = self.received is not None and self._exiting
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if stopped else handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.finishing:
            if self.received is None:
                self.received = signum
                echo_line("note: stopping once the file in hand is converted", err=True)
                return
            # A second signal: the file in hand (a stuck one) is given up,
            # as soon as Pillow hands control back.
            self.finishing = self.hold = False
        self.received = signum
        if not self._raised and not self.hold and not in_finalizer(frame):
            self.raise_if_received()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Signals only remembered from here until the command has recorded
        the next event and releases them (`hold = False`): a result on its
        way to the cache and the reports, the run's closing of its caches."""
        self.hold = True
        yield

    @contextlib.contextmanager
    def in_hand(self) -> Iterator[None]:
        """While this process converts a file (--jobs 1), where a signal
        could only throw its finished output away: the first is held to the
        file's end, and on until its result is recorded; a second stops it."""
        self.hold = self.finishing = True
        try:
            yield
        finally:
            self.finishing = False

    def raise_if_received(self) -> None:
        if self.received is None:
            return
        self._raised = True
        if self.received == signal.SIGTERM:
            raise Terminated
        if self.received != signal.SIGINT:
            raise HungUp
        raise KeyboardInterrupt


def one_line(text: str) -> str:
    """`text` as one printable line: a newline or a terminal escape in a
    file's name is shown as its escape, never acted on, and, where names
    may hold them, a backslash as two, so that a name spelled `a\\nb.jpg`
    is not taken for one with a newline."""
    if text.isprintable() and _ESCAPED.isdisjoint(text):
        return text
    return "".join(c if c.isprintable() and c not in _ESCAPED else repr(c)[1:-1] for c in text)


# Windows names hold no newline or escape, and their backslashes separate
# folders: shown as they are.
_ESCAPED = frozenset("\\" if os.sep == "/" else "")


def echo_line(line: str, *, err: bool = False) -> None:
    typer.echo(one_line(line), err=err)


def _line(result: Result) -> str:
    outs = ", ".join(o.path for o in result.outputs)
    took = f" ({result.seconds:.2f} s)" if result.status == "converted" else ""
    notes = "".join(f"; {note}" for note in result.notes)
    return f"{result.status}: {result.source}" + (f" -> {outs}" if outs else "") + took + notes


def format_summary(s: Summary) -> str:
    head = f"{s.converted} converted, {s.skipped} skipped, {s.failed} failed"
    if s.unread_folders:
        head += f", {counted(len(s.unread_folders), 'folder')} not read"
    if s.held_back:
        head += f", {counted(len(s.held_back), 'SOURCE')} empty"
    if s.unrecorded:
        head += f", {counted(len(s.unrecorded), 'cache')} not written"
    if s.pruned:
        head += f", {len(s.pruned)} pruned"
    if s.interrupted:
        head += " (interrupted)"
    head += f" in {s.wall_seconds:.1f} s"
    # Its own line: a reason is long (`lost the Dask scheduler at ...`).
    # The files not reached appear nowhere else: say that they wait.
    stop = f"stopped: {s.stopped}; the files not reached were left for the next run"
    lines = [head, stop] if s.stopped else [head]
    if s.converted:
        before, after = format_bytes(s.source_bytes), format_bytes(s.output_bytes)
        lines.append(f"{before} -> {after} ({format_change(s.size_change)})")
        work = (
            f"work {s.work_seconds:.1f} s on {counted(s.jobs, 'job')}: "
            f"speedup {s.speedup:.2f}x, efficiency {share(s.efficiency)}"
        )
        if s.peak_worker_rss:
            work += f", peak {format_mib(s.peak_worker_rss)}/worker"
        lines.append(work)
    return "\n".join(_fit(line) for line in lines)


def format_change(fraction: float) -> str:
    """A size change as a signed percentage."""
    # 34 MB -> 68 KB is -99.8%, not -100%: only nothing at all is -100%, so
    # what rounds to it gets a decimal, and stops at -99.9% (155 KB -> 50 B).
    whole = f"{fraction:+.0%}"
    if whole != "-100%" or fraction <= -1:
        return whole
    return f"{max(fraction, -0.999):+.1%}"


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


def format_mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def format_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def share(fraction: float) -> str:
    """A percentage that says something below 10%: at --jobs 64 on 2 cores
    an efficiency of 0.5% read as 0%."""
    return f"{fraction:.0%}" if fraction >= 0.1 or not fraction else f"{fraction:.1%}"


def format_bench(r: BenchResult) -> str:
    from imgpar.spec import STAGES

    if r.sample < r.found:
        picked = f"{r.sample} of {counted(r.found, 'image')}"
    else:
        picked = "the one image" if r.sample == 1 else f"all {r.sample} images"
    lines = [
        f"{picked} ({format_bytes(r.sample_bytes)}), "
        + (f"median of {r.repeat} runs each" if r.repeat > 1 else "one run each")
        + f"; {counted(r.cores, 'CPU core')}",
        "",
        f"{'':46}{'share of worker time':^27}".rstrip(),
        f"{'jobs':>4}  {'wall s':>7}  {'images/s':>8}  {'speedup':>7}  {'efficiency':>10}  "
        + " ".join(f"{s:>6}" for s in STAGES),
    ]
    for row in r.rows:
        lines.append(
            f"{row.jobs:>4}  {row.wall_seconds:>7.2f}  {row.images_per_second:>8.1f}  "
            f"{row.speedup:>6.2f}x  {share(row.efficiency):>10}  "
            + " ".join(f"{stage:>6.0%}" for stage in row.stage_shares)
        )
    lines.append("")
    if r.peak_worker_rss:
        # Per row: with jobs=1 the "worker" is this process, bench and all,
        # which says so: it read like a worker heavier than the others.
        peaks = [
            f"{format_mib(row.peak_worker_rss)} (jobs={row.jobs}"
            + (", in this process with imgpar's own)" if row.jobs == 1 else ")")
            for row in r.rows
        ]
        # Wrapped between figures, never inside one.
        line = "peak worker memory:"
        for i, peak in enumerate(peaks):
            peak += "," if i < len(peaks) - 1 else ""
            if len(line) + 1 + len(peak) > 79:
                lines.append(line)
                line = " "
            line += " " + peak
        lines.append(line)
    if r.failures:
        lines += [f"failed: {failure}" for failure in r.failures]
        lines.append(f"{counted(len(r.failures), 'image')} failed, timed in as failures")
    lines += [f"note: {note}" for note in r.notes]
    lines.append("speedup: jobs=1's wall time over each row's")
    lines.append(f"outputs: {r.scratch} (removed)")
    return "\n".join(lines)


def format_info(r: dict[str, Any]) -> str:
    size, displayed = "x".join(map(str, r["size"])), "x".join(map(str, r["displayed"]))
    frames = f"{r['frames']} (animated)" if r["animated"] else str(r["frames"])
    rows = [
        ("format", r["format"]),
        ("size", size + ("" if size == displayed else f" stored, {displayed} displayed")),
        ("mode", f"{r['mode']}, {r['bits']}-bit"),
        ("orientation", str(r["orientation"])),
        # CMYK without a profile has no colour space to read it as: its
        # convert line says how it becomes RGB.
        ("ICC profile", r["icc"] or ("none" if r["mode"] == "CMYK" else "none (read as sRGB)")),
        ("camera", r["camera"] or "-"),
        ("date", r["date"] or "-"),
        ("GPS", "yes" if r["gps"] else "no"),
        ("XMP", "yes" if r["xmp"] else "no"),
        ("frames", frames),
    ]
    lines = [r["path"]] + [f"  {key:12} {value}" for key, value in rows]
    lines += [f"  {'warning':12} {w}" for w in r["warnings"]]
    actions = [f"fails: {r['error']}"] if r["error"] else r["convert"] or ["re-encode only"]
    lines += [f"  {'convert' if i == 0 else '':12} {a}" for i, a in enumerate(actions)]
    # A name, a camera model or a profile's may hold a newline or an escape.
    return "\n".join(one_line(line) for line in lines) + "\n"
