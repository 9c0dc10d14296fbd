"""Run the pipeline over tasks and yield results in completion order.

`SerialEngine` works in-process (`--jobs 1`). `ProcessEngine` has the shape of
`Pool.imap_unordered` but is built on `ProcessPoolExecutor`, because a raw
`multiprocessing.Pool` hangs forever when a worker dies: here a dead or stuck
worker costs at most the files it held, which are retried alone.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NamedTuple, TypeVar

from imgpar.cstderr import Catcher, in_own_process, quiet_python_stderr, to_null
from imgpar.errors import OUT_OF_FILES, STOP_SIGNALS, out_of_files, system_words
from imgpar.limits import CHUNK_BYTES, CHUNK_FILES, DEFAULT_TIMEOUT, LOOKAHEAD
from imgpar.spec import ConvertSpec, Result, Task, on_disk
from imgpar.temps import process_state, remove_temp_files, temp_file_places

# Linux's states of a process suspended: by a signal (SIGSTOP), by a debugger.
_STOPPED = frozenset({"T", "t"})

# Items that are not tasks (results decided up front, walker notes) pass
# through an engine unchanged, as soon as they arrive.
Passed = TypeVar("Passed")


class SerialEngine:
    def __init__(
        self,
        spec: ConvertSpec,
        *,
        own_process: bool = False,
        in_hand: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
    ) -> None:
        self.spec = spec
        # The command's own process, not a program's that calls imgpar: its
        # malloc may be tuned for images, and its stderr taken while a file
        # converts (another thread's log lines would go into a result).
        self.own_process = own_process
        # Entered around each file: nothing can stop it from outside.
        self.in_hand = in_hand or contextlib.nullcontext

    def run(self, items: Iterable[Task | Passed]) -> Generator[Result | Passed, None, None]:
        from imgpar.heap import keep_freed_memory
        from imgpar.pipeline import configure_worker, convert_file, pillow_settings, prepare_worker

        if self.own_process:
            keep_freed_memory()
            configure_worker(self.spec)
        else:
            prepare_worker()
        # A program's own Pillow settings hold again between files.
        lent = contextlib.nullcontext if self.own_process else lambda: pillow_settings(self.spec)
        with in_own_process(self.own_process) as catcher:
            for item in items:
                if not isinstance(item, Task):
                    yield item
                    continue
                with self.in_hand(), lent():
                    result = convert_file(item, self.spec, catcher)
                yield result


_worker_spec: ConvertSpec | None = None
_worker_catcher: Catcher | None = None
# This worker's cells in its pool's _Clock: the shared cells and the first index.
_worker_clock: tuple[Any, int] | None = None


def _init_worker(spec: ConvertSpec, cells: Any, claimed: Any, parent: int | None) -> None:
    _die_with(parent)
    # Only the parent decides what Ctrl-C, or a closed terminal, means; a
    # worker must not die mid-write.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # Under fork a worker inherits the parent's SIGTERM handler; it must not.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _STOPS:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
    # C decoders (libtiff above all) print what they find wrong with a file
    # straight to stderr, tearing through the progress bar: a worker's goes
    # to its Catcher, which tells it in that file's result. Nor does a worker
    # hold the run's stdout or stderr: a CI step reading them waits for every
    # holder to close.
    to_null(1)
    from imgpar.heap import keep_freed_memory
    from imgpar.pipeline import configure_worker

    keep_freed_memory()
    global _worker_spec, _worker_clock, _worker_catcher
    _worker_spec = spec
    _worker_catcher = Catcher(swap=False)
    quiet_python_stderr()
    with claimed.get_lock():
        slot = claimed.value
        claimed.value += 1
    if _CELLS * slot < len(cells):
        _worker_clock = (cells, _CELLS * slot)
        cells[_CELLS * slot + 3] = os.getpid()

    configure_worker(spec)


# The signals that stop a run, held while workers are forked (_stops_held).
_STOPS = set(STOP_SIGNALS) if hasattr(signal, "pthread_sigmask") else set()


@contextlib.contextmanager
def _stops_held() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP held back while workers are forked: one
    that reached a worker before _init_worker set its own handlers ran the
    parent's there, which printed its tracebacks. The parent takes any held
    as the block ends; a worker, once its handlers are set."""
    if not _STOPS:
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


# prctl() option, from linux/prctl.h: a signal for this process when its parent dies.
_PR_SET_PDEATHSIG = 1


def _die_with(parent: int | None) -> None:
    """End this worker when the process that started it ends. A run killed
    with SIGKILL (a CI runner, the OOM killer) has no time to stop its
    workers, which would finish their files unseen and then wait forever."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    # Gone before the kernel was told: the worker is an orphan already. (A
    # fork server's workers have it for parent, and it dies with the run.)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _run_chunk(tasks: list[Task], number: int) -> list[Result]:
    from imgpar.pipeline import convert_file

    assert _worker_spec is not None
    results = []
    for index, task in enumerate(tasks):
        _clock_in(number, index, time.monotonic())
        results.append(convert_file(task, _worker_spec, _worker_catcher))
    _clock_in(number, len(tasks), 0.0)  # idle, every file of the chunk done
    return results


# A _Clock's cells per worker: chunk number, index in the chunk, start, pid.
_CELLS = 4


def _clock_in(number: int, index: int, start: float) -> None:
    if _worker_clock is None:
        return
    cells, first = _worker_clock
    # The start is cleared first and set last: a parent reading between sees
    # a worker that is idle or has just begun, never an old start on a new
    # file. The index (the chunk's files done) before the number: a worker
    # killed between the two is read as having done less, never more.
    cells[first + 2] = 0.0
    cells[first + 1] = index
    cells[first] = number
    cells[first + 2] = start


class _Clock:
    """Which file each worker of a pool is converting, and since when, in
    memory the workers share with the parent: a file is timed from its real
    start, not from its chunk's submission (a chunk can wait behind another),
    and the parent knows which file of a chunk outlasts --timeout."""

    def __init__(self, context: Any, workers: int) -> None:
        # (chunk number, index in the chunk, monotonic start or 0 when idle,
        # the worker's pid)
        # per worker; monotonic time is one clock for all processes.
        self.cells = context.RawArray("d", _CELLS * workers)
        self.claimed = context.Value("i", 0)


class _Flight(NamedTuple):
    """A chunk submitted whose results are not yet taken."""

    tasks: list[Task]
    number: int  # as its worker's clock gives it
    deadline: float  # a backstop for a chunk that never starts a file


# Every chunk in flight, by its future: which worker's file is overdue,
# and which files a worker finished should the pool be killed.
Flights = dict[Future[list[Result]], _Flight]


class ProcessEngine:
    def __init__(
        self,
        spec: ConvertSpec,
        *,
        jobs: int,
        timeout: float = DEFAULT_TIMEOUT,
        start_method: str | None = None,
    ) -> None:
        self.spec = spec
        self.jobs = jobs
        self.timeout = timeout
        self._context = multiprocessing.get_context(start_method)
        # Two chunks per worker keep every core fed while the parent collects.
        self._window = 2 * jobs

    def run(self, items: Iterable[Task | Passed]) -> Generator[Result | Passed, None, None]:
        pending: deque[list[Task]] = deque()
        chunks = scheduled(items, self.jobs)
        pool: _Workers | None = None
        owner = os.getpid()  # a forked copy of this generator has no workers of its own
        flights: Flights = {}
        worked = False  # some worker has returned a result
        try:
            while True:
                for chunk in refill(pending, chunks, self._window - len(flights)):
                    if not isinstance(chunk, list):
                        yield chunk
                        continue
                    try:
                        if pool is None:
                            pool = self._workers(self.jobs)
                        future, number = pool.submit(chunk)
                    except _CannotStart as exc:
                        yield failed_result(chunk[0], str(exc), fatal=True)
                        return
                    deadline = time.monotonic() + self.timeout * (len(chunk) + 1)
                    flights[future] = _Flight(chunk, number, deadline)
                if not flights:
                    return
                assert pool is not None
                late, wake = pool.overdue(flights, self.timeout)
                if not late:
                    wake = min([wake] + [f.deadline for f in flights.values()])
                    wait(
                        flights,
                        timeout=max(0.0, wake - time.monotonic()),
                        return_when=FIRST_COMPLETED,
                    )
                broken = False
                finished: list[Result] = []
                unexpected: BaseException | None = None
                landed: list[Task] = []  # the tasks of the results finished
                for future in [f for f in flights if f.done()]:
                    flight = flights.pop(future)
                    landed += flight.tasks
                    try:
                        finished += future.result()
                        worked = True
                    except BrokenProcessPool:
                        broken = True
                        pending.append(flight.tasks)
                    except Exception as exc:
                        unexpected = exc
                # A fatal result (a full disk) or an error ends the run: what
                # the workers finished comes first, to be reported and recorded.
                finished.sort(key=lambda result: result.fatal)
                yield from deliver(finished, owner, landed)
                if unexpected is not None:
                    raise unexpected
                overdue = {
                    flights[future].tasks[index]: (ran, pid)
                    for future, index, ran, pid in late
                    if future in flights
                }
                if overdue and not broken:
                    # The late files are known: they fail, and the pool that
                    # cannot stop them goes; the other files in flight go
                    # back in the queue, with no suspicion on them. The
                    # workers' peak memory goes with the failures: a file
                    # that outgrew --timeout may well have outgrown the rest.
                    peak = pool.peak_rss()
                    # Suspended (SIGSTOP, a debugger): not the file's doing.
                    # Read before the kill, which ends every state.
                    stopped = {
                        task for task, (_, pid) in overdue.items() if process_state(pid) in _STOPPED
                    }
                    pool.kill(flights)
                    pool = None
                    for flight in flights.values():
                        rest = [t for t in flight.tasks if t not in overdue]
                        if rest:
                            pending.append(rest)
                    flights.clear()
                    for task, (ran, _) in overdue.items():
                        why = timed_out(self.timeout)
                        if task in stopped:
                            why += ": its worker process was stopped, not converting it"
                        result = failed_result(task, why, ran=ran)
                        yield result._replace(peak_rss=peak)
                    continue
                now = time.monotonic()
                if not broken and all(f.deadline > now for f in flights.values()):
                    continue
                # Which worker held which chunk is unknown, so every unfinished
                # file is suspect and is retried alone in a fresh worker.
                cause = pool.died_of() if broken else None
                # Chunks a broken pool failed are back in `pending`.
                queued = [t for chunk in pending for t in chunk]
                suspects = queued + [t for flight in flights.values() for t in flight.tasks]
                pool.kill(flights, queued)
                pending.clear()
                flights.clear()
                pool = None
                for task in suspects:
                    try:
                        result = self._isolated(task, cause, first=not worked)
                    except _CannotStart as exc:
                        yield failed_result(task, str(exc), fatal=True)
                        return
                    worked = worked or bool(result.worker)
                    yield result
        finally:
            if pool is not None and os.getpid() == owner:
                pool.kill(flights)

    def _workers(self, count: int) -> _Workers:
        # Load Pillow and its decoders once, here, rather than in every worker:
        # forked workers inherit them, and a fork server preloads them. Only
        # now, with a task at hand, so a run with nothing to do never pays it.
        method = self._context.get_start_method()
        if method == "fork":
            from imgpar.pipeline import load_plugins

            load_plugins()
        elif method == "forkserver":
            self._context.set_forkserver_preload(["imgpar.pipeline"])
        parent = None if method == "forkserver" else os.getpid()
        with _starting():
            clock = _Clock(self._context, count)
            pool = ProcessPoolExecutor(
                max_workers=count,
                mp_context=self._context,
                initializer=_init_worker,
                initargs=(self.spec, clock.cells, clock.claimed, parent),
            )
        return _Workers(pool, clock)

    def _isolated(self, task: Task, cause: int | None, *, first: bool) -> Result:
        """Run one suspect file alone in a fresh worker; report it failed if
        it kills or outlasts that worker too (`cause`: how the worker it
        broke died, _Workers.died_of). `first`: no worker has finished a
        file yet, so one that dies of no signal means that workers cannot
        start at all (_CannotStart): retrying every file alone would only
        repeat that."""
        pool = self._workers(1)
        flights: Flights = {}
        # Until a flight holds it: a Ctrl-C let through as the submission
        # ends, its worker already at it, leaves no file behind.
        held = [task]
        try:
            future, number = pool.submit(held)
            flights[future] = _Flight(held, number, math.inf)
            held = []
            try:
                result = future.result(timeout=self.timeout)[0]
                flights.clear()  # its result in hand
                return result
            except BrokenProcessPool:
                died = pool.died_of() or cause
                if first and (died is None or died > 0):
                    raise _CannotStart(cannot_start(_death_words(died))) from None
                return failed_result(task, _death_words(died))
            except TimeoutError:
                return failed_result(task, timed_out(self.timeout))
        finally:
            pool.kill(flights, held)


# Where worker processes' shared memory lives, as a note names it.
SHARED_MEMORY = "/dev/shm" if sys.platform.startswith("linux") else "shared memory"


def pool_problem(start_method: str | None) -> tuple[str, str] | None:
    """Where and why a pool cannot start in this process, if it cannot: a
    daemonic process (a multiprocessing pool's worker, a program's own)
    may start none; and a pool's queues and clock live in shared memory,
    which some sandboxes lack or mount read-only (AWS Lambda)."""
    if multiprocessing.current_process().daemon:
        return "this process", "a daemonic process (a multiprocessing pool's worker)"
    context = multiprocessing.get_context(start_method)
    try:
        context.Lock()
        context.RawArray("d", 1)
    except OSError as exc:
        return SHARED_MEMORY, exc.strerror or str(exc)
    return None


def cannot_start(why: str) -> str:
    """A run's reason to stop, or a bench's to time one core only."""
    return f"worker processes cannot start ({why})"


class _CannotStart(Exception):
    """No worker process can be started: every file after would fail alike,
    and the run stops with the file in hand (its message is its reason)."""


@contextlib.contextmanager
def _starting() -> Iterator[None]:
    """Starting workers: an OSError (no file left to open for their pipes,
    no memory to fork) and Python's words for a thread that cannot start
    (the pool's own) raised as _CannotStart, in words."""
    try:
        yield
    except OSError as exc:
        words = out_of_files(exc) if exc.errno in OUT_OF_FILES else system_words(exc)
        raise _CannotStart(cannot_start(words)) from exc
    except RuntimeError as exc:
        if str(exc) != "can't start new thread":  # BrokenProcessPool is one too
            raise
        limited = "no thread can start: memory or processes are limited, see ulimit -v and -u"
        raise _CannotStart(cannot_start(limited)) from exc


def timed_out(timeout: float) -> str:
    """Why a file that outlasted `--timeout` failed."""
    return f"timed out after {timeout:g} s"


def _death_words(code: int | None) -> str:
    """How a worker process died (_Workers.died_of), in words."""
    if code is None:
        return "worker process died"
    return f"worker process died ({f'signal {-code}' if code < 0 else f'exit status {code}'})"


def failed_result(
    task: Task, error: str, *, fatal: bool = False, ran: float = 0.0, loose: bool = False
) -> Result:
    """The result of a file its worker could not report on itself; `ran`:
    the seconds a worker spent on it, up to now, where known; `loose`: that
    worker may still be writing its outputs."""
    now = time.time()
    return Result(
        source=task.display,
        status="failed",
        source_bytes=task.source_bytes,
        error=error,
        notes=task.notes,
        fatal=fatal,
        seconds=ran,
        started=now - ran if ran else 0.0,
        ended=now if ran else 0.0,
        loose=loose,
    )


class _Workers:
    """A process pool plus the handles on its worker processes.

    ProcessPoolExecutor has no public handle on its workers before 3.14, and
    drops its own list when it breaks; the handles are kept here, as they are
    started, to learn how a worker died and to kill the rest at once.
    """

    def __init__(self, pool: ProcessPoolExecutor, clock: _Clock) -> None:
        self._pool = pool
        self._clock = clock
        self._started_ns = time.time_ns()
        self._processes: dict[int, multiprocessing.process.BaseProcess] = {}
        self._numbers = itertools.count(1)  # 0: a clock no worker has set

    def overdue(
        self, flights: Flights, timeout: float
    ) -> tuple[list[tuple[Future[list[Result]], int, float, int]], float]:
        """The files of `flights` workers have been converting for `timeout`
        seconds or more, as (their chunk's future, index in the chunk,
        seconds so far, the worker's pid), and the time at which the next
        one could be."""
        now = time.monotonic()
        late, wake = [], now + timeout
        by_number = {flight.number: future for future, flight in flights.items()}
        cells = self._clock.cells
        for first in range(0, len(cells), _CELLS):
            start = cells[first + 2]
            if not start:
                continue
            if now - start < timeout:
                wake = min(wake, start + timeout)
            elif (future := by_number.get(int(cells[first]))) is not None:
                late.append((future, int(cells[first + 1]), now - start, int(cells[first + 3])))
        return late, wake

    def submit(self, chunk: list[Task]) -> tuple[Future[list[Result]], int]:
        """The future of `chunk`'s results, and the number its worker's
        clock will give it."""
        # The first submission forks the workers. Frozen meanwhile, what they
        # inherit is never collected in them, so their garbage collector does
        # not write to (and copy) those pages; the parent (perhaps a program
        # calling the API) is unfrozen at once.
        forks = not self._processes
        if forks:
            gc.freeze()
        number = next(self._numbers)
        try:
            # Any submission may start a worker (spawn and forkserver start
            # them as they are wanted), which inherits the mask.
            with _stops_held(), _starting():
                future = self._pool.submit(_run_chunk, chunk, number)
        except BrokenProcessPool as exc:
            # A worker died since the last look: the submission fails as its
            # chunk would have, and the caller's recovery takes it from there.
            future: Future[list[Result]] = Future()
            future.set_exception(exc)
        finally:
            if forks:
                gc.unfreeze()
            # Even when Ctrl-C lands mid-submission: the workers just forked
            # must be known, to be killed and their temporary files removed.
            self._processes.update(getattr(self._pool, "_processes", None) or {})
        return future, number

    def peak_rss(self) -> int:
        """The largest peak resident memory of the live workers, in bytes;
        0 where the system does not say (Linux's /proc does)."""
        peaks = [0]
        for process in self._processes.values():
            status = f"/proc/{process.pid}/status"
            with contextlib.suppress(OSError, ValueError), open(status) as fp:
                peaks += [int(line.split()[1]) * 1024 for line in fp if line.startswith("VmHWM:")]
        return max(peaks)

    def died_of(self) -> int | None:
        """How the worker that died on its own ended: its exit status, or
        minus the signal that killed it; None where none is known (an
        initializer that raised exits 0). A broken pool terminates the
        surviving workers (SIGTERM): the one that died on its own is the
        one with any other exit."""
        codes = []
        for process in self._processes.values():
            process.join(timeout=0.2)
            if process.exitcode:
                codes.append(process.exitcode)
        codes.sort(key=lambda c: c == -signal.SIGTERM)
        if not codes:
            return None
        return codes[0]

    def kill(self, flights: Flights, queued: Iterable[Task] = ()) -> None:
        """Stop every worker now and remove the temporary files they were
        writing for the tasks of `flights`, and of chunks `queued` again
        (those a broken pool failed), and the outputs they wrote for them
        that never came back; reported outputs are untouched."""
        held = [t for flight in flights.values() for t in flight.tasks] + list(queued)
        processes = list(self._processes.values())
        for process in processes:
            if process.is_alive():
                process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=5)
        pids = {p.pid for p in processes if p.pid is not None}
        remove_temp_files(temp_file_places(held), pids)
        remove_unreported(held, self._started_ns, self._written_since(flights))

    def _written_since(self, flights: Flights) -> dict[int, int]:
        """For each task a worker began, by id, the time (ns) since which a
        file under its outputs' names is that worker's: the run's start for
        those it finished (every file of a chunk whose results are back,
        untaken; by the workers' clocks, those a worker had done of its
        chunk), its own start for the one a worker was on."""
        since: dict[int, int] = {}
        by_number = {flight.number: flight.tasks for flight in flights.values()}
        for future, flight in flights.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                since.update((id(task), self._started_ns) for task in flight.tasks)
        # A worker's clock is monotonic; files are stamped with the wall's.
        wall = time.time_ns() - int(time.monotonic() * 1e9)
        cells = self._clock.cells
        for first in range(0, len(cells), _CELLS):
            tasks = by_number.get(int(cells[first]))
            if tasks is None:
                continue
            index, start = int(cells[first + 1]), cells[first + 2]
            since.update((id(task), self._started_ns) for task in tasks[:index])
            if start and index < len(tasks):
                since[id(tasks[index])] = wall + int(start * 1e9)
        return since


def deliver(
    results: Sequence[Result], owner: int, tasks: Iterable[Task] = ()
) -> Iterator[Result]:
    """Yield `results`, which came back together (a chunk's, of `tasks`).
    Stopped between them (Ctrl-C), the rest are never reported: their
    outputs go, as a killed worker's unreported ones do, by the paths the
    results give, not the tasks' planned names, whose sizes are patterns
    that can match another file's (`a{width}` matches a1's `a1100.webp`);
    not those written over an earlier run's as it was (`_as_before`). Not by a
    forked copy of the generator (a pid other than `owner`), whose run goes
    on in its parent."""
    for i, result in enumerate(results):
        try:
            yield result
        except GeneratorExit:
            if os.getpid() == owner:
                earlier = {task.display: task for task in tasks}
                for unreported in results[i + 1 :]:
                    task = earlier.get(unreported.source)
                    for output in unreported.outputs:
                        with contextlib.suppress(OSError):
                            size = os.stat(output.path).st_size
                            if task is None or not _as_before(output.path, size, task):
                                os.unlink(output.path)
            raise


def _as_before(path: str, size: int, task: Task) -> bool:
    """Whether `path`, of `size` bytes, is an output an earlier run recorded
    for `task`'s source, written over with the same size: the same output
    (--force), which a stopped run keeps, where it removes one it changed,
    which nothing would then know for imgpar's."""
    where = os.path.abspath(path)
    return any(os.path.abspath(p) == where and size == n for p, n in task.earlier)


def remove_unreported(tasks: Iterable[Task], since_ns: int, began: dict[int, int]) -> None:
    """Delete the outputs of `tasks` written since `since_ns`: a worker
    killed with a chunk of small files had finished some, whole, but their
    results died with it. Unrecorded, in place, the next run would take
    them for sources; removed, it makes them again. One written over an
    earlier run's output as it was (`_as_before`) stays: removed, a site
    lost an image it had before the run. In place, only those of the tasks
    a worker began (`began`: since when, by id): a file under the name of
    an output no worker was writing is the user's, saved as the run went
    on (an output never takes its name)."""
    for task in tasks:
        in_place = task.replaceable is not None
        if in_place and id(task) not in began:
            continue
        since = began[id(task)] if in_place else since_ns
        for i, planned in enumerate(task.outputs):
            if task.keep >> i & 1:
                continue
            for path in on_disk(planned):
                with contextlib.suppress(OSError):
                    st = os.stat(path)
                    if st.st_mtime_ns >= since and not _as_before(path, st.st_size, task):
                        os.unlink(path)


def refill(
    pending: deque[list[Task]],
    chunks: Iterator[list[Task] | Passed],
    room: int,
) -> Iterator[list[Task] | Passed]:
    """Up to `room` chunks to submit, chunks to retry first; items that pass
    through come out on the way, without taking room."""
    while room > 0:
        chunk = pending.popleft() if pending else next(chunks, None)
        if chunk is None:
            return
        if isinstance(chunk, list):
            room -= 1
        yield chunk


def scheduled(
    items: Iterable[Task | Passed], workers: int, lookahead: int = LOOKAHEAD
) -> Iterator[list[Task] | Passed]:
    """Tasks in chunks to submit, largest first; other items pass straight through.

    Order: a big file started last keeps one core busy while the others idle;
    started first, the small files fill in around it. The window starts
    empty, so the first task goes at once, and holds back half the tasks
    seen so far until it reaches `lookahead`, which keeps memory flat on a
    huge tree. A stream that comes in batches known whole, largest first
    (`Job._launched`), so starts with its first batch's biggest file.

    Chunks: a file of CHUNK_BYTES or more travels alone; smaller ones travel
    together up to CHUNK_BYTES or CHUNK_FILES, so per-task costs vanish on
    icons. Once the input ends, the number of files left is known, and each
    chunk takes at most a 1/(2 x workers) share of them: chunks shrink to
    single files as the batch drains, and no worker is still busy with a long
    chunk while the others have nothing left to do.
    """
    waiting: list[tuple[int, int, Task]] = []
    chunk = _Chunk()
    started = 0
    for order, item in enumerate(items):
        if not isinstance(item, Task):
            yield item
            continue
        heapq.heappush(waiting, (-item.source_bytes, order, item))
        if len(waiting) > min(started, lookahead - 1):
            started += 1
            yield from chunk.add(heapq.heappop(waiting)[2], CHUNK_FILES)
    while waiting:
        share = (len(waiting) + len(chunk.tasks)) // (2 * workers)
        yield from chunk.add(heapq.heappop(waiting)[2], max(1, min(CHUNK_FILES, share)))
    if chunk.tasks:
        yield chunk.tasks


class _Chunk:
    __slots__ = ("size", "tasks")

    def __init__(self) -> None:
        self.tasks: list[Task] = []
        self.size = 0

    def add(self, task: Task, most: int) -> Iterator[list[Task]]:
        """The chunks that `task` completes: itself alone if it is big, or
        this chunk once it holds `most` files or CHUNK_BYTES."""
        if task.source_bytes >= CHUNK_BYTES:
            yield [task]
            return
        self.tasks.append(task)
        self.size += task.source_bytes
        if self.size >= CHUNK_BYTES or len(self.tasks) >= most:
            yield self.tasks
            self.tasks, self.size = [], 0
