"""The Python API: `convert()` and `iter_convert()`, and `prepare()` that
both (and the CLI) build on. Keyword names are the CLI's option names."""

from __future__ import annotations

import atexit
import contextlib
import errno
import functools
import inspect
import itertools
import math
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeVar

from imgpar.cache import (
    CACHE_NAME,
    Cache,
    Entry,
    as_recorded,
    kind_of_cache,
    waiting_words,
)
from imgpar.collect import Collector, Summary
from imgpar.errors import UsageError, counted, flag, system_words, them
from imgpar.formats import TARGETS, Target, is_unread, resolve_target, target_available
from imgpar.keys import run_key
from imgpar.limits import (
    CHUNK_FILES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_TIMEOUT,
    LOOKAHEAD,
    PREVIEW_LIMIT,
    default_jobs,
    too_many_jobs,
)
from imgpar.mounts import Mounts
from imgpar.paths import (
    below,
    file_in_the_way,
    folder_of,
    folders_below,
    identity,
    make_folders,
    may_exist,
    not_there,
    remove_empty,
    same_folder,
)
from imgpar.plan import (
    Planner,
    check_template,
    default_template,
    head_forms,
    sample_name,
    source_heads,
    source_name,
)
from imgpar.spec import (
    FILTERS,
    FITS,
    GRAVITIES,
    METADATA_POLICIES,
    ConvertSpec,
    OutputSpec,
    Resize,
    Result,
    Task,
    as_template,
)
from imgpar.walk import NO_IMAGES, Folder, Skipped, images_in, walk, walked_to

if TYPE_CHECKING:
    from imgpar.engine import Passed, ProcessEngine, SerialEngine
    from imgpar.engine_dask import DaskEngine

ENGINES = ("local", "dask")

# What SOURCES a run takes: one path, or several.
AnyPath = str | bytes | os.PathLike[str]
Sources = AnyPath | Sequence[AnyPath]


class Job:
    """A validated conversion, ready to plan and run (once)."""

    def __init__(
        self,
        *,
        sources: tuple[str, ...],
        spec: ConvertSpec,
        out: str | None,
        template: str,
        force: bool,
        jobs: int,
        timeout: float,
        start_method: str | None,
        engine: str = "local",
        scheduler: str | None = None,
        previews: int = 0,
        in_process: bool = True,
        in_place: bool = True,
        out_refused: str | None = None,
    ) -> None:
        self.sources = sources
        self.spec = spec
        self.out = out
        # Why --out cannot be written to, said once the run has a file to
        # write: a run with nothing to do (up to date) needs no writing.
        self.out_refused = out_refused
        self.in_place = in_place  # outputs beside their sources
        self.template = template
        self.force = force
        self.jobs = jobs
        self.timeout = timeout
        self.start_method = start_method
        self.engine_name = engine
        self.scheduler = scheduler
        self.previews = previews
        # Whether one job converts in this process: only when asked for. The
        # default on a one-CPU machine is one worker process, which --timeout
        # and Ctrl-C can stop mid-file.
        self.in_process = in_process
        self.options_key = run_key(spec, template)
        self.planner: Planner | None = None
        # Said when this machine cannot run worker processes and the files
        # are converted in this process instead.
        self.fallback: Skipped | None = None
        self.emptied = False  # the run's walk found a SOURCE folder with no image
        # What the last --prune could not delete, and why: `PATH: reason`.
        self.unpruned: list[str] = []
        # Whether the serial engine runs in the command's own process, not a
        # program's that calls this: it may then tune malloc for images
        # (heap.py) and take stderr while a file converts (cstderr.py).
        self.own_process = False
        # Told each output folder another run holds as this one waits for
        # it: a program is warned, as it has no terminal to read notes on.
        self.waiting: Callable[[str], None] | None = _warn_waiting
        self.waited = 0.0  # seconds the run waited for other runs, no part of its time
        self._held = contextlib.ExitStack()  # the locks events(keep_locks=True) keeps
        # Entered while this process converts a file (--jobs 1), and while a
        # result is recorded or the run closes its caches: the command holds
        # a signal to the end of those (its StopSignals).
        self.in_hand: Callable[[], contextlib.AbstractContextManager[None]] | None = None
        self.recording: Callable[[], contextlib.AbstractContextManager[None]] = (
            contextlib.nullcontext
        )
        # The files the run writes besides its outputs (the command's reports
        # and manifest), by what they are: an output named like one fails.
        self.own_files: dict[str, str] = {}

    def plan(self, *, read_only: bool = False) -> Iterator[Task | Result | Skipped]:
        """Every source's fate before any pixel work: a task, a result
        (skipped or failed up front) or a walker note."""
        self.planner = Planner(
            self.spec,
            out=self.out,
            force=self.force,
            template=self.template,
            options_key=self.options_key,
            read_only=read_only,
            previews=self.previews,
            sources={} if self.in_place else {os.path.realpath(s): s for s in self.sources},
            own_files=self.own_files,
        )
        items: Iterable[Folder | Skipped] = walk(
            self.sources, exclude=self.out, in_place=self.in_place
        )
        if "/" in self.template:
            # Outputs in subfolders of the tree being walked: listed first,
            # the tree does not yet hold those this run writes, which would
            # be taken for sources a moment later.
            items = list(items)
        for item in items:
            if isinstance(item, Folder):
                yield from self.planner.plan(item)
            else:
                yield item

    @property
    def engine_label(self) -> str:
        """What runs the files, in words: serial, process or dask."""
        if self.engine_name == "dask":
            return "dask"
        return "serial" if self.jobs == 1 and self.in_process else "process"

    def engine(self) -> SerialEngine | ProcessEngine | DaskEngine:
        if self.engine_label == "dask":
            from imgpar.engine_dask import DaskEngine, cluster_threads

            if self.scheduler is not None and not self.jobs:
                # UsageError where the cluster cannot be reached or has no worker.
                self.jobs = cluster_threads(self.scheduler)

            return DaskEngine(
                self.spec,
                scheduler=self.scheduler,
                jobs=self.jobs,
                out=self.out,
                timeout=self.timeout,
            )
        from imgpar.engine import ProcessEngine, SerialEngine, pool_problem

        if self.engine_label == "process" and (problem := pool_problem(self.start_method)):
            self.jobs, self.in_process = 1, True
            where, why = problem
            self.fallback = Skipped(
                where,
                f"{why}: worker processes cannot start, so files are converted in this"
                " process, on one core",
            )
        if self.engine_label == "serial":
            return SerialEngine(self.spec, own_process=self.own_process, in_hand=self.in_hand)
        return ProcessEngine(
            self.spec, jobs=self.jobs, timeout=self.timeout, start_method=self.start_method
        )

    def events(self, *, keep_locks: bool = False) -> Generator[Result | Skipped, None, None]:
        """Results in completion order, with walker notes as they are found.
        Each converted source is recorded in the cache as its result arrives.
        Another run on the same output folder is waited for (`waiting` is told).
        `keep_locks`: the output folders stay held once it ends, until
        `release()`: --prune deletes under them (a run that waited, let in
        before it, listed what it then deleted, and failed on those)."""
        from imgpar.cache import exclusive

        owner = os.getpid()
        began: list[float] = []  # while the run waits: when it began to

        def waiting(root: str) -> None:
            began.append(time.monotonic())
            if self.waiting is not None:
                self.waiting(root)

        try:
            with contextlib.ExitStack() as held:
                locks = held.enter_context(exclusive(self._output_roots(), waiting))
                self.waited = locks.waited
                began.clear()
                stream = self._run(self._launched(self.plan()))
                ended = False  # every file done: no worker was stopped mid-write
                try:
                    for event in stream:
                        with self.recording():
                            if isinstance(event, Result) and self.planner is not None:
                                event = self.planner.record(event)
                            elif isinstance(event, Skipped) and event.reason == NO_IMAGES:
                                self.emptied = True
                            yield event
                            locks.follow()  # resumed, maybe in another thread
                        if isinstance(event, Result) and event.fatal:
                            return  # e.g. a full disk: every further write would fail too
                    ended = True
                finally:
                    # Closing the engine kills its workers and removes their
                    # temporary files at once, also when the consumer stops early.
                    # Not in a process the program forked meanwhile, whose copy
                    # of this generator ends with it: the workers, the caches and
                    # the run are its parent's.
                    if os.getpid() == owner:
                        with self.recording():
                            stream.close()
                            if self.planner is not None:
                                self.planner.end_flights()
                                if not ended:
                                    self.planner.remove_emptied_new_places()
                            self._close_caches()
                if keep_locks:  # a run that ran to its end; one that failed lets go
                    self._held = held.pop_all()
        except BaseException:
            if began:  # stopped while it waited: no part of its time either
                self.waited = time.monotonic() - began[0]
            raise

    def release(self) -> None:
        """Let go of the output folders `events(keep_locks=True)` held."""
        self._held.close()

    def _launched(
        self, items: Iterable[Task | Result | Skipped]
    ) -> Iterator[Task | Result | Skipped]:
        """`items`, tasks in batches recorded as in flight before any of them
        can start (`Planner.launch`); others at once. The first batch is a
        chunk's worth, so work starts soon; later ones grow to the engine's
        look-ahead, as each is a transaction (~2 ms on a disk).

        A batch comes out largest first. It is known whole before any of it
        starts, and the engine starts the first task it sees at once: in
        walk order that was a small file, while the batch's biggest waited
        for a worker and then kept one core busy alone at the end."""
        batch: list[Task] = []
        size = CHUNK_FILES
        for item in itertools.chain(items, [None]):
            if isinstance(item, Task):
                batch.append(item)
                if len(batch) < size:
                    continue
            elif item is not None:
                yield item
                continue
            if batch:
                assert self.planner is not None  # made as plan() starts
                self.planner.launch(batch)
                yield from sorted(batch, key=lambda t: t.source_bytes, reverse=True)
                batch, size = [], min(2 * size, LOOKAHEAD)

    def _output_roots(self) -> list[str]:
        """Where this run's caches are: the output folder, or in place each
        SOURCE folder (a file's own folder)."""
        if self.out is not None:
            return [self.out]
        return [folder_of(s) for s in self.sources]

    def _run(self, items: Iterable[Task | Passed]) -> Generator[Result | Passed, None, None]:
        """The engine's stream over `items`, started at the first task: a
        run with nothing to convert (a no-op re-run) never loads it."""
        items = iter(items)
        for item in items:
            if isinstance(item, Task):
                if self.out_refused is not None:
                    raise UsageError(self.out_refused, option="out")
                engine = self.engine()
                if self.fallback is not None:
                    yield self.fallback
                try:
                    yield from engine.run(itertools.chain([item], items))
                finally:
                    # A cluster can grow during a run: the summary's jobs
                    # are the most worker threads it had.
                    self.jobs = max(self.jobs, getattr(engine, "peak_threads", 0))
                return
            yield item

    def dry_plan(self) -> Iterator[Task | Result | Skipped]:
        """What a run would do, writing nothing: for `--check`."""
        try:
            yield from self.plan(read_only=True)
        finally:
            self._close_caches()

    def _outputs_of_others(self) -> set[str]:
        """The real paths of the outputs that other in-place runs' caches,
        which this run read (a subfolder converted on its own, the tree
        above), record for sources still there: another run's, never pruned
        by this one."""
        found: set[str] = set()
        for cache in self.planner.read_caches.values() if self.planner is not None else ():
            try:
                for key, entry in cache.items():
                    # In place, keys are the home's name, then the source's path.
                    if may_exist(os.path.join(cache.root, key.partition("/")[2])):
                        found.update(os.path.realpath(os.path.join(cache.root, o.path))
                                     for o in entry.outputs)  # fmt: skip
            finally:
                cache.close()
        return found

    def _held_back(
        self,
        gone: list[tuple[str, Entry]],
        present: set[str],
        roots: dict[str, str],
        cache_root: str,
        kept: set[str],
        held: Held,
    ) -> list[tuple[str, Entry]]:
        """The entries of `gone` sources to prune, less those that may be of a
        SOURCE with no image at all now, recorded or new: far likelier a drive
        not mounted, or a build step that made nothing, than a folder emptied
        on purpose. (`present`: SOURCE folders a recorded source is still in;
        `roots`: each SOURCE folder by what leads its files' keys.)
        Their outputs still there as imgpar wrote them stay (added to `kept`)
        and are counted in `held`, by SOURCES; deleted by hand, they go from
        the cache. An --out inside its SOURCE would be gone with it."""
        out = os.path.realpath(self.out) if self.out is not None else None
        empty: dict[str, bool] = {}  # by SOURCE folder, walked once at most
        pruned = []
        for key, entry in gone:
            root = roots.get(key.partition("/")[0])
            if root is None:  # a file named as a SOURCE (a raw file, no source now)
                pruned.append((key, entry))
                continue
            if root not in empty:
                empty[root] = not (
                    root in present
                    or (out is not None and below(out, os.path.realpath(root)))
                    or _holds_images(root, exclude=self.out)
                )
            there = [o for o in entry.outputs if empty[root] and as_recorded(
                os.path.join(cache_root, o.path), o.bytes) is not None]  # fmt: skip
            if not there:
                pruned.append((key, entry))
                continue
            held[root] = held.get(root, 0) + len(there)
            kept.update(o.path for o in entry.outputs)
        return pruned

    def summary(self, collector: Collector, *, interrupted: bool = False) -> tuple[Summary, Held]:
        """The run's summary from what `collector` gathered, and what only
        the job knows (the jobs a cluster had, the wait for another run's
        lock); after a complete run, the SOURCES held back (`held`), also
        given on their own."""
        collector.jobs, collector.engine = self.jobs, self.engine_label
        collector.waited(self.waited)
        summary = collector.summary(interrupted=interrupted)
        held = self.held() if not interrupted and summary.stopped is None else {}
        lost = tuple(c.path for c in self.planner.caches.values() if c.lost) if self.planner else ()
        return summary._replace(held_back=tuple(held), unrecorded=lost), held

    def held(self) -> Held:
        """After a complete run: the SOURCES with no image now whose outputs
        are still there (a drive not mounted?), and how many, which `--prune`
        keeps and the run fails for; found by a dry prune, only when the walk
        met such a SOURCE."""
        held: Held = {}
        if self.emptied:
            self.prune(dry_run=True, held=held)
        return held

    def prune(self, *, dry_run: bool = False, held: Held | None = None) -> list[str]:
        """Delete the outputs recorded in the cache whose source is gone, and
        those their source no longer makes (other options, a smaller source);
        returns their paths. Only files imgpar recorded are ever touched.
        `held` is told the SOURCE folders with no image now whose outputs
        stay, and how many (`_held_back`). UsageError where there are some
        to delete in an --out that cannot be written to."""
        from imgpar.temps import remove_abandoned

        if self.out_refused is not None and not dry_run and self.prune(dry_run=True, held={}):
            raise UsageError(self.out_refused, option="out")

        # Each SOURCE's folder: itself, or a file's own.
        homes = {s: folder_of(s) for s in self.sources}
        folders = [s for s, home in homes.items() if home == s]
        files = [s for s, home in homes.items() if home != s]
        cache_roots = list(dict.fromkeys(self._output_roots()))
        # Into an --out, what leads the keys of each SOURCE's files. (In place
        # each folder has a cache of its own.)
        head_of = source_heads(homes.values()) if self.out is not None else {}
        # The keys of files named as SOURCES: one named elsewhere
        # (other/photos/x.jpg) is no photos/x.jpg gone.
        named = {
            f"{head_of[os.path.abspath(homes[s])]}/{os.path.basename(s)}"
            for s in (files if self.out is not None else ())
        }
        removed: list[str] = []
        if not dry_run:
            self.unpruned = []
        held = {} if held is None else held
        theirs: set[str] | None = None  # read only once something may be removed

        def anothers(path: str) -> bool:
            nonlocal theirs
            if theirs is None:
                theirs = self._outputs_of_others()
            return os.path.realpath(path) in theirs

        for cache_root in cache_roots:
            name = source_name(cache_root)
            cache = Cache(cache_root, home=None if self.out is not None else name)
            # Each SOURCE folder by what leads its files' keys; in place, the
            # name it had when its cache was made.
            roots = {head_of[os.path.abspath(f)]: f for f in folders if self.out is not None}
            # A run of other SOURCES gave these folders other heads (x/photos
            # alone, after x/photos with y/photos): its keys are judged by
            # them too, where one folder of this run alone can be meant;
            # counted as another SOURCE's, they were never pruned.
            forms = Counter(h for f in roots.values() for h in head_forms(f))
            for folder in list(roots.values()):
                for form in head_forms(folder):
                    if forms[form] == 1:
                        roots.setdefault(form, folder)
            if self.out is None and cache_root in folders:
                # Not a file SOURCE's folder: the user named that file, not
                # the others, as into an --out.
                roots[cache.home() or name] = cache_root
            try:
                kept: set[str] = set()  # outputs of sources still there
                # Folders imgpar writes in, relative to the root; the root
                # itself always, where a report may be (`--report out/r.json`).
                places: set[str] = {""}
                gone: list[tuple[str, Entry]] = []
                present: set[str] = set()  # SOURCE folders a recorded source is still in
                # In place, a source gone may have left its name to another's
                # output (a.png deleted, a.jpg's PNG output now a.png).
                outputs_at = {
                    os.path.normpath(o.path): (key, o.bytes)
                    for key, entry in (cache.items() if self.out is None else ())
                    for o in entry.outputs
                }
                # For a count, where the walk found every source: a stat for
                # each of 50,000 made a no-op run's note 28% slower. Not to
                # delete: one gone since the walk keeps its outputs no more.
                whole = (
                    self.planner.walked_whole(cache)
                    if dry_run and self.planner is not None and self.out is not None
                    else set()
                )
                for key, entry in cache.items():
                    places.update(os.path.dirname(o.path) for o in entry.outputs)
                    head, _, rest = key.partition("/")
                    found = head not in roots or key in named
                    if is_unread(rest):
                        # A camera raw file an older imgpar converted (its
                        # small preview) is no source now: gone, if this run's.
                        found = head not in roots and key not in named
                    elif not found:
                        root = roots[head]
                        path = os.path.join(root, rest)
                        made = outputs_at.get(os.path.normpath(rest))
                        taken = made is not None and made[0] != key and as_recorded(path, made[1])
                        walked = key[: key.rfind("/") + 1] in whole
                        if not taken and (walked or may_exist(path)):
                            found = True
                            present.add(root)
                    if found:
                        kept.update(o.path for o in entry.outputs)
                    else:
                        gone.append((key, entry))
                if not self.in_place:  # in place the cache is in the SOURCE: it is there
                    gone = self._held_back(gone, present, roots, cache_root, kept, held)
                for key, entry in gone:
                    stuck = False  # an output that would not go: tried again next time
                    for output in entry.outputs:
                        path = os.path.join(cache_root, output.path)
                        # Not one a source still there writes now (UP.JPG
                        # renamed UP.jpg, a.jpg exported again as a.png),
                        # nor one changed since imgpar wrote it.
                        if output.path in kept or as_recorded(path, output.bytes) is None:
                            continue
                        if anothers(path):
                            continue
                        if not (dry_run or _unlinked(path, self.unpruned)):
                            stuck = True
                            continue
                        removed.append(path)
                    if not dry_run and not stuck:
                        cache.forget(key)
                for relative, size, _ in cache.superseded():
                    places.add(os.path.dirname(relative))
                    path = os.path.join(cache_root, relative)
                    # Not if another source's output now has that name, nor
                    # once something else has been written there. Judged by
                    # size, as recorded outputs are: a copy of the --out (`cp
                    # -r`, a CI cache restored) gives each file another mtime,
                    # and such outputs were forgotten, never pruned.
                    ours = os.path.normpath(relative) not in kept
                    ours = ours and as_recorded(path, size) is not None
                    ours = ours and not anothers(path)
                    gone_now = ours and (dry_run or _unlinked(path, self.unpruned))
                    if gone_now:
                        removed.append(path)
                    if not dry_run and (gone_now or not ours):
                        cache.forget_superseded(relative)
                # Unfinished writes of a run or worker killed outright.
                # And where this run planned outputs: a first run killed
                # outright recorded no outputs, only left its writes.
                here = os.path.abspath(cache_root)
                planned = self.planner.places if self.planner is not None else set()
                for folder in planned:
                    if folder == here or below(folder, here):
                        place = os.path.relpath(folder, here)
                        places.add("" if place == os.curdir else place)
                written_in = [os.path.join(cache_root, place) for place in places]
                removed += remove_abandoned(written_in, dry_run=dry_run, refused=self.unpruned)
                if not dry_run and self.out is not None:
                    # Not in place: a folder emptied there may be the user's.
                    _remove_emptied(removed, cache_root)
            finally:
                cache.close()
        # By path: the cache's order changes as runs record their files.
        return sorted(removed)

    def left_behind(self) -> int:
        """After a run: how many outputs `--prune` would delete now. The
        caches are searched file by file only when a count says there are
        some, so a no-op re-run stays quick."""
        if self.planner is None:
            return 0
        try:
            if not self.planner.may_leave_outputs():
                return 0
        finally:
            self._close_caches()
        return len(self.prune(dry_run=True))

    def orphans(
        self,
        remade: Iterable[str],
        failing: Iterable[str] = (),
        held: Held | None = None,
    ) -> list[str]:
        """What `--prune` would delete after a run that writes `remade` (the
        stale sources' outputs, planned by dry_plan()) and fails the stale
        sources `failing` (display paths): outputs no source makes now, and
        those the other stale sources would no longer make. A source that
        fails keeps its recorded outputs. `held`: as for `prune`."""
        remade = {os.path.normpath(p) for p in remade}
        orphans = [
            p for p in self.prune(dry_run=True, held=held) if os.path.normpath(p) not in remade
        ]
        if self.planner is not None:
            # What the stale sources, and those that make nothing now, made before.
            failing = set(failing)
            released = [
                (p.cache, p.key, p.earlier)
                for d, p in self.planner.pending.items()
                if d not in failing
            ]
            released += self.planner.unmade
            found: list[tuple[Cache, str, str]] = []  # cache, output as recorded, path
            seen = set(orphans)
            for cache, _, outputs in released:
                for output in outputs:
                    path = os.path.join(cache.root, output.path)
                    if os.path.normpath(path) in remade or path in seen:
                        continue
                    seen.add(path)
                    if as_recorded(path, output.bytes) is not None:
                        found.append((cache, output.path, path))
            let_go = {(c.root, key, o.path) for c, key, outputs in released for o in outputs}
            caches = {cache.root: cache for cache, _, _ in found}.values()
            holders = _holders(caches, {(cache.root, output) for cache, output, _ in found})
            for cache, output, path in found:
                # Another source's output too (the same image, shared): it
                # stays, as --prune leaves it.
                keys = holders.get((cache.root, output), set())
                if all((cache.root, key, output) in let_go for key in keys):
                    orphans.append(path)
        return sorted(set(orphans))

    def _close_caches(self) -> None:
        if self.planner is not None:
            for cache in (*self.planner.caches.values(), *self.planner.read_caches.values()):
                cache.close()

    def cache_warnings(self) -> list[str]:
        if self.planner is None:
            return []
        return [c.warning for c in self.planner.caches.values() if c.warning]


def _holders(
    caches: Iterable[Cache], wanted: set[tuple[str, str]]
) -> dict[tuple[str, str], set[str]]:
    """(cache root, output path) -> the keys of the sources whose records
    name it, for the outputs `wanted` only: the caches are read as a stream."""
    holders: dict[tuple[str, str], set[str]] = {}
    for cache in caches:
        for key, entry in cache.items():
            for output in entry.outputs:
                if (cache.root, output.path) in wanted:
                    holders.setdefault((cache.root, output.path), set()).add(key)
    return holders


def _unlinked(path: str, refused: list[str]) -> bool:
    """Delete `path`; False where it cannot be (its folder read-only, the
    file immutable), told to `refused`: the rest of --prune goes on."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # gone since it was found: what --prune was to do
    except OSError as exc:
        refused.append(f"{path}: {system_words(exc)}")
        return False
    return True


def _remove_emptied(removed: Iterable[str], root: str) -> None:
    """Remove the folders below `root` that deleting `removed` left empty
    (`320/` of `--name '{width}/{stem}.{ext}'`), as a fresh run has none."""
    for folder in sorted({os.path.dirname(os.path.abspath(p)) for p in removed}, reverse=True):
        remove_empty(folder, root)


class Report(NamedTuple):
    """What `convert()` returns: the same data as the JSON report."""

    files: list[Result]
    summary: Summary

    def as_dict(self) -> dict[str, Any]:
        from imgpar.report import result_dict

        return {"files": [result_dict(r) for r in self.files], "summary": self.summary.as_dict()}


def prepare(
    sources: Sources,
    *,
    to: str | Sequence[str],
    out: AnyPath | None = None,
    max_size: int | str | Sequence[int] | None = None,
    width: int | str | Sequence[int] | None = None,
    height: int | str | None = None,
    fit: str = "contain",
    gravity: str = "center",
    long_edge: int | str | None = None,
    short_edge: int | str | None = None,
    scale: float | None = None,
    upscale: bool = False,
    filter: str = "lanczos",
    quality: int | None = None,
    lossless: bool = False,
    srgb: bool = False,
    metadata: str = "no-gps",
    name: str | None = None,
    all_pages: bool = False,
    jobs: int | None = None,
    force: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: float = DEFAULT_TIMEOUT,
    allow_truncated: bool = False,
    _thumbnails: bool = False,
    start_method: str | None = None,
    engine: str | None = None,
    scheduler: str | None = None,
    _create_out: bool = True,
) -> Job:
    """Validate options and build a `Job`; raises `UsageError` before any work."""
    # One path is a source, not a sequence of one-letter ones (or of bytes).
    one = isinstance(sources, (str, bytes, os.PathLike)) or not isinstance(sources, Iterable)
    given: tuple[object, ...] = (sources,) if one else tuple(sources)
    wrong = [s for s in given if not isinstance(s, (str, bytes, os.PathLike))]
    if wrong:
        raise UsageError(f"SOURCES must be paths, or a list of them, not {wrong[0]!r}")
    paths = tuple(os.fsdecode(s) for s in given)  # type: ignore[call-overload]
    if not paths:
        raise UsageError("no SOURCES given")
    for path in paths:
        if (why := not_there(path)) is not None:
            raise UsageError(why)
    # One folder named twice (`photos photos/`, a link to it, a second path
    # it is mounted at) is one source: twice, every file would be converted
    # twice, or collide with itself. Each real path is checked for nesting,
    # as each may hold or be held by another SOURCE by its path.
    seen: dict[str, str] = {}
    for path in paths:
        seen.setdefault(os.path.realpath(path), path)
    paths = _one_each(seen)
    _kind("name", name, str)
    _path("out", out)
    targets = _targets(to)
    for target in targets:
        if lossless and target.lossless is None:
            raise UsageError(
                f"is not for {target.name}, which has no lossless mode (use webp, png or tiff)",
                option="lossless",
            )
    # A program may pass anything: a value of the wrong kind is named too.
    _kind("quality", quality, int)
    _kind("max_pixels", max_pixels, int, optional=False)
    _kind("jobs", jobs, int)
    _kind("timeout", timeout, (int, float), optional=False)
    _kind("scale", scale, (int, float))
    for option, value in (
        ("upscale", upscale), ("lossless", lossless), ("srgb", srgb), ("all_pages", all_pages),
        ("force", force), ("allow_truncated", allow_truncated), ("_thumbnails", _thumbnails),
    ):  # fmt: skip
        # "false" is true to Python: a program's string must not force a run.
        if not isinstance(value, bool):
            raise UsageError(f"must be True or False, not {value!r}", option=option)
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise UsageError(f"must be a positive percentage, not {scale!r}", option="scale")
    if start_method is not None:
        import multiprocessing

        _one_of("start_method", start_method, multiprocessing.get_all_start_methods())
    if quality is not None and not 1 <= quality <= 100:
        raise UsageError("must be between 1 and 100", option="quality")
    _one_of("filter", filter, FILTERS)
    _one_of("metadata", metadata, METADATA_POLICIES)
    if max_pixels < 1:
        raise UsageError("must be positive", option="max_pixels")
    if jobs is not None and jobs < 1:
        raise UsageError("must be at least 1", option="jobs")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise UsageError("must be a positive, finite number of seconds", option="timeout")
    sizes = _resizes(
        max_size=max_size,
        width=width,
        height=height,
        fit=fit,
        gravity=gravity,
        long_edge=long_edge,
        short_edge=short_edge,
        scale=scale,
        upscale=upscale,
    )
    outputs = tuple(OutputSpec(target=t.name, resize=r) for t in targets for r in sizes)
    if name is not None and not name.strip():
        # `--name "$TEMPLATE"` with the variable unset, as an empty --width.
        raise UsageError(f"is empty: give a template ({{stem}}.{{ext}}), or leave it out: {name!r}",
                         option="name")  # fmt: skip
    template = name or default_template(outputs)
    problem = check_template(template, outputs)
    if problem:
        raise UsageError(problem, option="name")
    asked = jobs
    engine, scheduler, jobs = _engine(engine, scheduler, jobs, run=_create_out)
    if scheduler is not None and _create_out:
        # A run: the cluster answers now, before --out is made, so a run
        # refused leaves nothing (a read-only one never asks it).
        from imgpar.engine_dask import cluster_threads

        jobs = cluster_threads(scheduler)
    out_path = os.fsdecode(out) if out is not None else None
    # No --out, or one that is the SOURCE: outputs beside their sources.
    in_place = out_path is None or any(same_folder(out_path, p) for p in paths)
    # Read once, if a check needs it: most runs ask it nothing.
    mounts = Mounts()
    _check_nested_sources(seen, in_place=in_place, out=out_path, mounts=mounts)
    if in_place:
        # `imgpar convert *.jpg`: one folder, however many SOURCES.
        folders = sorted({folder_of(p) for p in paths})
        _check_not_an_out(folders)
        if _create_out:
            _check_caches_in_place(folders)
    refused = None
    if out_path is not None:
        _check_out_among_sources(out_path, seen, mounts)
        _check_sources_inside_out(out_path, seen, mounts)
        # In place, each output that cannot be written fails its file.
        refused = None if in_place else _check_out(out_path, create=_create_out)
        fresh = not os.path.exists(os.path.join(out_path, CACHE_NAME))
        if _create_out and not in_place and refused is None and fresh:
            # A first run killed before it records anything must leave an
            # --out that later runs know for imgpar's, not for images of yours.
            first = Cache(out_path)
            first.create()
            first.close()
        if len(paths) > 1 and any(same_folder(out_path, p) for p in paths if os.path.isdir(p)):
            # A folder converts into itself, told apart from its outputs; the
            # other SOURCES' outputs would land among its sources.
            raise UsageError(
                "is one of several SOURCES: the others' outputs would land among its"
                " sources (give an --out of its own)",
                option="out",
            )
    spec = ConvertSpec(
        outputs=outputs,
        quality=quality,
        lossless=lossless,
        max_pixels=max_pixels,
        allow_truncated=allow_truncated,
        filter=filter,
        all_pages=all_pages,
        srgb=srgb,
        metadata=metadata,  # type: ignore[arg-type]  # one of METADATA_POLICIES, checked above
        started_ns=time.time_ns(),
    )
    return Job(
        sources=paths,
        spec=spec,
        # An --out that is the SOURCE, however spelled (a link to it): in
        # place, spelled as the SOURCE. Kept as the link's, its outputs were
        # taken for sources by the next run, and the one after refused the
        # folder as another run's --out.
        out=None if in_place else out_path,
        template=template,
        force=force,
        jobs=jobs,
        timeout=timeout,
        start_method=start_method,
        engine=engine,
        scheduler=scheduler,
        previews=_previews(jobs or default_jobs()) if _thumbnails else 0,
        in_process=asked is not None,
        in_place=in_place,
        out_refused=refused,
    )


_NO_FORMAT = "\0src"  # a source extension for sample names: no format's
# The options that give a size; without one, nothing is resampled.
SIZE_OPTIONS = ("max_size", "width", "height", "long_edge", "short_edge", "scale")


def idle_options(**options: Any) -> list[str]:
    """What in `options` (prepare()'s keywords, already valid) has no effect
    on this job, or names its outputs against their format, in words: set by
    hand, each is probably a mistake."""
    targets = _targets(options.get("to") or ())
    idle = []
    if options.get("gravity") not in (None, "center") and options.get("fit") != "cover":
        idle.append("--gravity only places a --fit cover crop")
    if options.get("quality") is not None and not any(t.quality for t in targets):
        names = " and ".join(t.name for t in targets)
        idle.append(f"--quality: {names} {'keeps' if len(targets) == 1 else 'keep'} every pixel")
    local = options.get("engine") in (None, "local") and not options.get("scheduler")
    if options.get("timeout") is not None and options.get("jobs") == 1 and local:
        idle.append("--timeout: --jobs 1 converts in this process, where no file can be stopped")
    if local and (options.get("jobs") or 0) > (cpus := default_jobs()):
        idle.append(
            f"--jobs {options['jobs']}: this process may use {cpus} CPU{'s' * (cpus > 1)};"
            " the other workers wait their turn, and the speedup counts the wait as work"
        )
    if options.get("all_pages") and not any(t.name == "tiff" for t in targets):
        idle.append("--all-pages keeps pages only in tiff output")
    if options.get("lossless") and all(t.lossless == "always" for t in targets):
        names = " and ".join(t.name for t in targets)
        idle.append(f"--lossless: {names} {'is' if len(targets) == 1 else 'are'} always lossless")
    if not any(options.get(size) for size in SIZE_OPTIONS):
        if options.get("upscale"):
            idle.append("--upscale enlarges only to a size given (--width, --max-size...)")
        if options.get("filter") not in (None, "lanczos"):
            idle.append("--filter resamples only when a size is given (--width, --max-size...)")
    for target in targets if options.get("name") else ():
        # An output's extension is what a browser or a CDN goes by. Named
        # by the source's ({src_ext}), it is the format's only for sources
        # already in that format: told apart by a source extension no
        # format has.
        ext = os.path.splitext(sample_name(options["name"], target, src_ext=_NO_FORMAT))[1]
        shown = as_template(os.path.basename(sample_name(options["name"], target)))
        if ext.lower().lstrip(".") == _NO_FORMAT:
            idle.append(
                f"--name {options['name']!r} gives {target.name} outputs their source's"
                f" extension (a.png holding {target.name} data)"
            )
        elif ext.lower().lstrip(".") not in (target.ext.lstrip("."), target.name):
            idle.append(
                f"--name {options['name']!r} names {target.name} outputs like"
                f" {shown!r}: not their format's extension"
            )
    return idle


def _previews(jobs: int) -> int:
    """How many tasks, in planned order, get a thumbnail: the HTML report's
    table rows, plus what biggest-first ordering and the window in flight can
    let finish before them."""
    return PREVIEW_LIMIT + LOOKAHEAD + 2 * jobs * CHUNK_FILES


def _one_of(option: str, value: object, choices: Sequence[str]) -> None:
    """UsageError where `value` is none of `choices`."""
    if value not in choices:
        raise UsageError(f"must be one of {', '.join(choices)}", option=option)


def _resizes(
    *,
    max_size: int | str | Sequence[int] | None,
    width: int | str | Sequence[int] | None,
    height: int | str | None,
    fit: str,
    gravity: str,
    long_edge: int | str | None,
    short_edge: int | str | None,
    scale: float | None,
    upscale: bool,
) -> list[Resize | None]:
    """One Resize per requested size (None: keep the source's size)."""
    max_sizes, widths = _listed("max_size", max_size), _listed("width", width)
    pixels = {
        "max_size": max_sizes,
        "width": widths,
        "height": _listed("height", height),
        "long_edge": _listed("long_edge", long_edge),
        "short_edge": _listed("short_edge", short_edge),
    }
    for option, values in pixels.items():
        if any(v < 1 for v in values):
            raise UsageError("must be a positive number of pixels", option=option)
        if len(values) > 1 and option not in ("max_size", "width"):
            raise UsageError(f"takes one number of pixels, not {values}", option=option)
    # What was parsed, not what was given: a program may pass "300" or [300].
    height, long_edge, short_edge = (
        next(iter(pixels[o]), None) for o in ("height", "long_edge", "short_edge")
    )
    given = [option for option, values in pixels.items() if values]
    if scale is not None:
        given.append("scale")
    _one_of("fit", fit, FITS)
    _one_of("gravity", gravity, GRAVITIES)
    exclusive = {"max_size", "long_edge", "short_edge", "scale"}
    if len(given) > 1 and (exclusive & set(given)):
        first, *others = given
        raise UsageError(
            f"and {' and '.join(map(flag, others))} cannot be combined: give one way to size",
            option=first,
            mentions=tuple(others),
        )
    if fit != "contain" and not (widths and height):
        raise UsageError(
            f"{fit} needs both --width and --height", option="fit", mentions=("width", "height")
        )
    common: dict[str, Any] = {"fit": fit, "gravity": gravity, "upscale": upscale}
    if max_sizes:
        return [Resize(width=n, height=n, **common) for n in max_sizes]
    if widths:
        return [Resize(width=w, height=height, **common) for w in widths]
    if height:
        return [Resize(height=height, **common)]
    if long_edge:
        return [Resize(long_edge=long_edge, **common)]
    if short_edge:
        return [Resize(short_edge=short_edge, **common)]
    if scale:
        return [Resize(scale=scale, **common)]
    return [None]


def scheduler_address(engine: str | None, scheduler: str | None) -> str | None:
    """The Dask scheduler a run asks: `scheduler`, or with the dask engine
    $IMGPAR_SCHEDULER; None where it starts a cluster of its own."""
    if scheduler is None and engine == "dask":
        return os.environ.get("IMGPAR_SCHEDULER") or None
    return scheduler


def _engine(
    engine: str | None, scheduler: str | None, jobs: int | None, *, run: bool = True
) -> tuple[str, str | None, int]:
    """The engine, its scheduler address (None: a cluster of its own) and
    the worker threads the run has: `--jobs`, or 0 for a scheduler's, which
    the caller asks the cluster where a run needs it (`--check` and
    `--dry-run` need no cluster up, nor Dask installed: not a `run`), else
    `Job.engine()` does."""
    if engine is not None and engine not in ENGINES:
        raise UsageError(f"must be {' or '.join(ENGINES)}", option="engine")
    if engine == "local" and scheduler is not None:
        # Asked for both: which one was meant is not for imgpar to guess.
        raise UsageError(
            "runs on Dask: --engine local asks for this machine's processes (give one)",
            option="scheduler",
            mentions=("engine",),
        )
    engine = engine or ("dask" if scheduler is not None else "local")
    from_env = scheduler is None and engine == "dask"
    scheduler = scheduler_address(engine, scheduler)
    if scheduler is None:
        if engine == "dask" and run:
            from imgpar.engine_dask import require_distributed

            require_distributed("engine")
        _require_main_guard()
        if jobs is not None and (why := too_many_jobs(jobs)):
            raise UsageError(why, option="jobs")
        return engine, None, default_jobs() if jobs is None else jobs
    if jobs is not None:
        given = "$IMGPAR_SCHEDULER" if from_env else "--scheduler"
        raise UsageError(
            f"sizes a run on this machine; with {given} the cluster's workers "
            "decide (dask worker --nthreads N)",
            option="jobs",
            mentions=() if from_env else ("scheduler",),
        )
    from imgpar.engine_dask import check_address, require_distributed

    try:
        check_address(scheduler)
    except UsageError as exc:
        if not from_env:
            raise
        # Named as it was given: no --scheduler is on the command line.
        raise UsageError(f"$IMGPAR_SCHEDULER {exc.problem}") from None
    if run:
        require_distributed("scheduler" if not from_env else "engine")
    return "dask", scheduler, 0


def _kind(
    option: str, value: object, kind: type | tuple[type, ...], *, optional: bool = True
) -> None:
    """Raise UsageError unless `value` is of `kind` (never a bool), or None
    where the setting is `optional`."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, kind):
        wanted = "a whole number" if kind is int else "text" if kind is str else "a number"
        raise UsageError(f"must be {wanted}, not {value!r}", option=option)


def _path(option: str, value: object) -> None:
    """Raise UsageError unless `value` is None or a path that names something."""
    if value is not None and (
        not isinstance(value, (str, bytes, os.PathLike)) or not os.fspath(value)
    ):
        raise UsageError(f"must be a folder's path, not {value!r}", option=option)


# The sizes that take a list: one output for each.
LISTS = ("max_size", "width")


def _listed(option: str, value: int | Sequence[int] | str | None) -> list[int]:
    if value is None:
        return []
    if isinstance(value, (bytes, bytearray, memoryview)) or not isinstance(value, (str, Sequence)):
        _kind(option, value, int)  # a float, a bool or anything else is refused
        return [value]  # type: ignore[list-item]
    if isinstance(value, str):
        entries = _entries(option, value)
        try:
            sizes = sorted({int(v) for v in entries})
        except ValueError:
            raise UsageError(
                f"takes pixels, or several separated by commas (320,640): {value!r}", option=option
            ) from None
    else:
        for item in value:
            _kind(option, item, int)
        sizes = sorted(set(value))
    if not sizes:
        # An unset CI variable (`--width "$WIDTHS"`): full-size outputs under
        # other names, which --prune would then make the only ones.
        several = ", or several separated by commas (320,640)" if option in LISTS else ""
        raise UsageError(f"is empty: give pixels{several}: {value!r}", option=option)
    return sizes


def _entries(option: str, value: str) -> list[str]:
    """The comma-separated entries of `value`, stripped; [] where it is
    empty. One empty among others is refused: `--width "$SMALL,$LARGE"`
    with one of them unset lost a size unsaid."""
    parts = [v.strip() for v in value.split(",")]
    if "" in parts and any(parts):
        raise UsageError(f"has an empty entry: {value!r}", option=option)
    return [p for p in parts if p]


def _targets(to: str | Sequence[str]) -> tuple[Target, ...]:
    names = to if isinstance(to, (list, tuple)) else [to]
    for name in names:
        _kind("to", name, str, optional=False)
    entries = _entries("to", ",".join(names))
    if not entries:
        raise UsageError(f"is empty: give a format ({', '.join(TARGETS)}): {to!r}", option="to")
    targets: list[Target] = []
    for name in entries:
        try:
            target = resolve_target(name)
        except ValueError as exc:
            raise UsageError(f"names an {exc}", option="to") from None
        if not target_available(target):
            raise UsageError(
                f"names {target.name}, which this install of Pillow cannot write", option="to"
            )
        if target not in targets:
            targets.append(target)
    return tuple(targets)


def _one_each(sources: dict[str, str]) -> tuple[str, ...]:
    """The SOURCES (`sources`: path by real path), a folder shown at two
    paths (a bind mount) once. Files go by name: hard links are two."""
    folders: set[tuple[int, int]] = set()
    kept = []
    for real, path in sources.items():
        known = identity(real) if os.path.isdir(real) else None
        if known is None or known not in folders:
            kept.append(path)
        if known is not None:
            folders.add(known)
    return tuple(kept)


def _check_nested_sources(
    sources: dict[str, str], *, in_place: bool, out: str | None, mounts: Mounts
) -> None:
    """Refuse a SOURCE inside a SOURCE folder (`sources`: path by real path)
    whose files would be converted twice: in place, into the same folder,
    the second time under longer names (`a.jpg.webp` beside `a.webp`); into
    an --out, one that the folder's walk takes, into two places there
    (`o/sub/b.webp` and `o/b.webp`), which one manifest entry cannot list.
    (In place, one folder mounted at two paths is walked once.)"""
    folders = {r: p for r, p in sources.items() if os.path.isdir(r)}
    if not folders:
        return  # files alone: none inside another
    for real, path in sources.items():
        # As named (the walk goes through links to folders on the way) and
        # as it really is (a folder SOURCE may be a link itself).
        places = [
            os.path.abspath(path),
            os.path.normpath(
                os.path.join(os.path.realpath(os.path.dirname(path) or "."), os.path.basename(path))
            ),
        ] + ([real] if real in folders else [])  # fmt: skip
        for base_real, outer in folders.items():
            if base_real == real:
                continue
            # Each folder SOURCE as it really is and as named, with where
            # `path` is below it, by path or where a mount shows it again.
            found = [
                (base, os.path.relpath(where, base))
                for base in (base_real, os.path.abspath(outer))
                for where in places
                if below(where, base)
            ]
            if not in_place and (mounted := mounts.mounted_below(real, base_real)) is not None:
                found.append((base_real, mounted))
            if any((in_place and real in folders) or walked_to(base, rel, exclude=out)
                   for base, rel in found):  # fmt: skip
                how = "converting in place, its files" if in_place else "it"
                raise UsageError(
                    f"{path} is inside SOURCE {outer}: {how} would be converted twice"
                    " (name one of them)"
                )


def _check_out_among_sources(out: str, sources: dict[str, str], mounts: Mounts) -> None:
    """Refuse an --out inside a SOURCE folder (`sources`: path by real path)
    that holds images and is no output folder (its cache would say so): the
    walk never enters it, so they would be neither converted nor safe from
    outputs of the same name. Once imgpar has made it, it is imgpar's, as
    any --out is."""
    if not os.path.isdir(out):
        return
    inside = os.path.realpath(out)
    holder = next((p for real, p in sources.items() if mounts.within(inside, real)), None)
    if holder is None or not os.path.isdir(holder) or _made_by_imgpar(out):
        return
    found = next((f.file(f.names[0]) for f in walk([out]) if isinstance(f, Folder)), None)
    if found is not None:
        raise UsageError(
            f"{out} is inside SOURCE {holder} and holds images, but is no imgpar output"
            f" folder ({found}): they would be neither converted nor safe from outputs"
            " of the same name (give an empty folder, or one outside the SOURCES)",
            option="out",
        )


def _check_not_an_out(folders: Iterable[str]) -> None:
    """Refuse to convert in place a folder that is another run's --out: its
    cache records that run's sources, whose keys an in-place run would take
    for its own (a `logo.png` dropped in beside `assets`' `logo.webp` was
    taken for assets/logo.png changed, and its output written over)."""
    for folder in folders:
        if kind_of_cache(folder) == "out":
            raise UsageError(
                f"{folder} is another run's output folder (it holds that run's cache):"
                " in place, this run would take that run's records for its own; give"
                " --out another folder"
            )


def _made_by_imgpar(out: str) -> bool:
    """Whether `out` is an --out imgpar made: its cache is not an in-place
    one (a damaged one is still imgpar's file)."""
    return os.path.exists(os.path.join(out, CACHE_NAME)) and kind_of_cache(out) != "in place"


def _check_sources_inside_out(out: str, sources: dict[str, str], mounts: Mounts) -> None:
    """Refuse SOURCES inside an --out that holds the user's images and is no
    output folder yet (`--out x` of `x/y`, with your own `x/a.jpg`): outputs
    written there, wherever a name template puts them, could replace them.
    Hidden folders and links count, as outputs may go there. Once imgpar has
    made it, the folder is imgpar's, as any --out is."""
    if not os.path.isdir(out):
        return
    # The SOURCES inside it (`--out photos` of `photos/2024`), by real path.
    top = os.path.realpath(out)
    inner = {real: s for s in sources.values() if mounts.within(real := os.path.realpath(s), top)}
    if not inner or _made_by_imgpar(out):
        return
    # Folders by identity, not by real path, which costs a system call per
    # folder above it: links may lead in circles, and into SOURCES.
    sources_inside = {identity(real) for real in inner}
    seen: set[tuple[int, int] | None] = set()

    def enter(path: str) -> bool:
        here = identity(path)
        return here not in sources_inside and here not in seen and kind_of_cache(path) != "out"

    for folder in folders_below(out, enter):
        seen.add(identity(folder))
        for name in images_in(folder):
            found = os.path.join(folder, name)
            if os.path.realpath(found) not in inner:
                raise UsageError(
                    f"{out} holds SOURCE {inner[min(inner)]} and images of yours, but is no"
                    f" imgpar output folder ({found}): outputs written there could replace"
                    " them (give an empty folder, or one outside the SOURCES)",
                    option="out",
                )


def _holds_images(folder: str, *, exclude: str | None) -> bool:
    """Whether a walk of `folder` finds an image, or a folder it cannot read,
    which may hold some (it stops at the first)."""
    return any(
        i.names if isinstance(i, Folder) else i.failed for i in walk([folder], exclude=exclude)
    )


# Worker processes started by spawn or forkserver (macOS's default, and
# Linux's from Python 3.14), and a local Dask cluster's, import the
# program's main script again before they take any work.
UNGUARDED = (
    "imgpar's worker processes import your script again, and it converts as it"
    ' is imported: call imgpar under `if __name__ == "__main__":`'
)


def _require_main_guard() -> None:
    """End a worker process that is starting, saying why, where the
    program's main script converts as it is imported: it would start a run
    of its own and wait for ever for the output folder its parent holds.
    Ended, it fails the parent's pool or cluster at once."""
    multiprocessing = sys.modules.get("multiprocessing")  # a worker has it
    if multiprocessing is not None and getattr(
        multiprocessing.current_process(), "_inheriting", False
    ):
        print(f"imgpar: {UNGUARDED}", file=sys.stderr)
        raise SystemExit(1)


def _check_caches_in_place(folders: Iterable[str]) -> None:
    """Refuse an in-place run whose SOURCE folder this process can write to
    but whose cache there it cannot read and write (left by a run as another
    user: sudo): the outputs it could not record, the next run would take
    for sources, and convert again as `b.jpg.png`. A folder it cannot write
    to gets no output to mistake."""
    for folder in folders:
        if not os.access(folder, os.W_OK):
            continue  # no output can be written there either: each file says so
        cache = os.path.join(folder, CACHE_NAME)
        try:
            os.close(os.open(cache, os.O_RDWR))
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise UsageError(
                f"cache {cache} cannot be read and written ({exc.strerror or exc}): in place,"
                " outputs it does not record are taken for sources by the next run. A run as"
                " another user made it (sudo, or a colleague's): make it this user's again,"
                " `chmod g+w` it where a group shares the folder, or give an --out"
            ) from None


def _check_out(out: str, *, create: bool) -> str | None:
    """Refuse an --out that is no folder, or cannot be made (`create`);
    returns why one there cannot be written to, if it cannot."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"{out} exists and is not a folder", option="out")
    if (blocker := file_in_the_way(out)) is not None:
        raise UsageError(f"{out} cannot be made: {blocker} is a file, not a folder", option="out")
    if not create:
        return None
    try:
        make_folders(out)
    except OSError as exc:
        # Worded as for a folder there that cannot be written to.
        why = READ_ONLY if exc.errno == errno.EROFS else system_words(exc)
        raise UsageError(f"{out} cannot be created: {why}", option="out") from None
    if not os.access(out, os.W_OK | os.X_OK):
        read_only = hasattr(os, "statvfs") and os.statvfs(out).f_flag & os.ST_RDONLY
        return f"{out} cannot be written to: {READ_ONLY if read_only else 'permission denied'}"
    return None


READ_ONLY = "it is on a read-only file system"


# SOURCE folders with no image now, and how many of their outputs are held back.
Held = dict[str, int]


P = ParamSpec("P")
R = TypeVar("R")


def _taking_options_of(
    options: Callable[P, object],
) -> Callable[[Callable[..., R]], Callable[P, R]]:
    """The function with `options`' parameters (prepare()'s), for type
    checkers and help() to see, and for Python to check as it is called: a
    misspelt keyword was prepare()'s TypeError, a function the program
    never called. Not its private ones (`_create_out`): the command line's.
    """
    whole = inspect.signature(options)
    signature = whole.replace(
        parameters=[p for p in whole.parameters.values() if not p.name.startswith("_")]
    )

    def typed(function: Callable[..., R]) -> Callable[P, R]:
        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> R:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{function.__name__}() {exc}") from None
            return function(*args, **kwargs)

        returns = inspect.signature(function).return_annotation
        checked.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
        return checked

    return typed


@_taking_options_of(prepare)
def iter_convert(sources: Sources, **options: Any) -> Generator[Result, None, None]:
    """Convert and yield each file's `Result` as it completes.

    `options` are `prepare()`'s keywords (the CLI's options, spelled with `_`).
    A bad one raises `UsageError` here, not at the first result; an `out`
    that cannot be written to, once a file first needs writing there.
    """
    return _results(prepare(sources, **options))


def _results(job: Job) -> Generator[Result, None, None]:
    collector = Collector(jobs=job.jobs, engine=job.engine_label)
    events = _gathered(job, collector)
    owner = os.getpid()

    def at_exit() -> None:
        # Left unfinished by a program that exits, it is closed while Python
        # still works: workers stopped, temporary files removed, cache
        # written. Not by a child the program forked, nor from another thread.
        if os.getpid() == owner and not events.gi_running:
            events.close()

    atexit.register(at_exit)
    try:
        yield from events
        _warn_of_the_end(job, job.summary(collector)[1])
    finally:
        atexit.unregister(at_exit)


def _gathered(job: Job, collector: Collector) -> Generator[Result, None, None]:
    """`job`'s results, each added to `collector` as it comes; what fails
    the run though no file's result says so (a folder not read), warned."""
    # Closed with this generator, not whenever the garbage collector finds it.
    with contextlib.closing(job.events()) as events:
        for event in events:
            if isinstance(event, Result):
                collector.add(event)
                yield event
                continue
            if event.failed:
                collector.unread(event.path)
            if event.failed or event is job.fallback:
                _warn(f"{event.path}: {event.reason}")


def _warn_of_the_end(job: Job, held: Held) -> None:
    """What the command line warns of at a run's end, to a program: its
    caches (not written, damaged), and the SOURCES emptied."""
    for warning in job.cache_warnings():
        _warn(warning)
    for source, why in held_why(held):
        _warn(f"{source}: {why}")


def _warn(message: str) -> None:
    """Python's own warning, at the program's line: the first frame out of
    imgpar (and of contextlib, which runs imgpar's context managers)."""
    # A program has no terminal to read notes on: what fails a run though no
    # file's result says so (a folder that cannot be read, a SOURCE emptied,
    # a cache not written), what holds it up, and converting on one core
    # instead of many, are worth Python's own warning.
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE)
        or frame.f_code.co_filename == contextlib.__file__
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, RuntimeWarning, stacklevel=level)


_PACKAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")


def _warn_waiting(root: str) -> None:
    _warn(waiting_words(root))


def held_why(held: Held) -> list[tuple[str, str]]:
    """Each SOURCE with no image now whose outputs `--prune` keeps (as
    `Job.prune` tells them), and why."""
    said = []
    for source, n in held.items():
        are, they = ("is", "it") if n == 1 else ("are", "they")
        said.append((
            source,
            f"no images in it now (a drive not mounted?), yet {counted(n, 'output')} of its"
            f" sources {are} there: --prune keeps {them(n)}; delete {them(n)} yourself if"
            f" {they} should go",
        ))  # fmt: skip
    return said


@_taking_options_of(prepare)
def convert(sources: Sources, **options: Any) -> Report:
    """Convert everything and return every file's result plus the summary."""
    job = prepare(sources, **options)
    collector = Collector(jobs=job.jobs, engine=job.engine_label)
    files = list(_gathered(job, collector))
    summary, held = job.summary(collector)
    _warn_of_the_end(job, held)
    return Report(files=files, summary=summary)
