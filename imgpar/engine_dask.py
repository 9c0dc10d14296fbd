"""Run the pipeline on a Dask distributed cluster (`--engine dask`, `--scheduler`).

Only `--engine dask` imports this module, and Dask is imported inside it, so
imgpar without the `dask` extra (and `imgpar --help`) never imports Dask.

Every worker must see the sources and outputs under the same absolute paths
(a shared filesystem): a task carries paths out and a small `Result` back;
pixels never cross the network. Worker deaths are Dask's to handle: it moves
the files a dead worker held to the others, and gives up on a file with
`KilledWorker` once it has killed `distributed.scheduler.allowed-failures` + 1
workers; that file is reported failed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib.util
import itertools
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from imgpar import __version__
from imgpar.cstderr import Catcher
from imgpar.engine import (
    Passed,
    deliver,
    failed_result,
    refill,
    scheduled,
    timed_out,
)
from imgpar.errors import VANISHED, ClusterError, UsageError, system_words, unwritable
from imgpar.limits import DEFAULT_TIMEOUT
from imgpar.spec import ConvertSpec, Result, Task
from imgpar.temps import remove_temp_files, temp_file_places

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster, Worker, WorkerPlugin

INSTALL_HINT = "pip install 'imgpar[dask]'"
# Seconds to reach a scheduler, and then for at least one worker to be there
# (at the start, and whenever every worker has left during a run).
CONNECT_TIMEOUT = 30
WORKERS_TIMEOUT = 60
# Seconds for a scheduler to greet a new connection: it does so at once;
# and to say which workers it has, while a run waits for the first.
GREETING_TIMEOUT = 5
ASK_TIMEOUT = 5
# How often a run waiting for results asks whether any worker is left.
WORKERS_CHECK = 5.0
# Bounds the shutdown of a client or a LocalCluster, so an exit never hangs.
CLOSE_TIMEOUT = 10
# The Dask event topic where a LocalCluster's workers post their process ids.
WORKERS_TOPIC = "imgpar-worker-pid"


def require_distributed(option: str) -> None:
    """Raise UsageError naming the extra to install when Dask is missing,
    for the setting (`engine`, `scheduler`) that asked for it."""
    # Found, not imported: --check and --dry-run never start the engine.
    if importlib.util.find_spec("distributed") is None:
        asked = "dask needs" if option == "engine" else "needs"
        raise UsageError(f"{asked} Dask distributed: {INSTALL_HINT}", option=option)


# The address schemes Dask's schedulers listen on, that another process
# reaches (not inproc://, a scheduler's in its own process alone).
_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss")


def check_address(address: str) -> None:
    """Raise UsageError for a scheduler address that is no address at all,
    before any connection: an empty one (an unset CI variable), another
    scheme (http://), no port, or a port out of range."""
    example = "tcp://HOST:8786"
    if not address.strip():
        raise UsageError(f"is empty: give the Dask scheduler's address ({example})",
                         option="scheduler")  # fmt: skip
    scheme, found, rest = address.partition("://")
    if not found:
        scheme, rest = "tcp", address
    if scheme == "inproc":
        raise UsageError(
            f"{address!r}: an inproc:// scheduler is reached from its own process only:"
            f" give its tcp:// address ({example})",
            option="scheduler",
        )
    if scheme not in _SCHEMES:
        raise UsageError(
            f"{address!r}: Dask schedulers listen on {', '.join(s + '://' for s in _SCHEMES)}"
            f" addresses ({example})",
            option="scheduler",
        )
    if scheme == "ucx" and not any(
        importlib.util.find_spec(m) for m in ("distributed_ucxx", "ucp")
    ):
        # Dask's words were its internals' ("Can't instantiate abstract class").
        raise UsageError(
            f"{address!r}: ucx:// needs UCX for Dask (pip install distributed-ucxx),"
            " not installed here",
            option="scheduler",
        )
    if scheme == "ucx":
        return
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"{address!r} has no port ({example})", option="scheduler")
    if not 0 < int(port) < 65536:
        raise UsageError(f"{address!r}: port {port} is out of range (1-65535)",
                         option="scheduler")  # fmt: skip


def cluster_threads(address: str) -> int:
    """The worker threads of the cluster at `address`: the run's `jobs`.

    Raises UsageError when the scheduler cannot be reached or has no workers.
    """
    require_distributed("scheduler")
    try:
        client = _connected(address)
    except ClusterError as exc:
        raise UsageError(str(exc)) from None
    return sum(client.nthreads().values())


# The client this process holds for each scheduler address: prepare() asks a
# cluster its size through it, and the run then submits through the same
# connection (the engine takes it over, and closes it at the end).
_clients: dict[str, Client] = {}


def _connected(address: str) -> Client:
    client = _clients.get(address)
    if client is None or client.status != "running":
        client = _clients[address] = _connect(address)
    return client


class DaskEngine:
    """Convert on a Dask cluster: the one at `scheduler`, or else a
    `LocalCluster` of `jobs` single-threaded worker processes."""

    def __init__(
        self,
        spec: ConvertSpec,
        *,
        scheduler: str | None,
        jobs: int,
        out: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.spec = spec
        self.scheduler = scheduler
        self.jobs = jobs
        self.out = out
        self.timeout = timeout
        # The most worker threads the cluster had during the run: workers
        # may join after it started (the summary's jobs).
        self.peak_threads = jobs
        # Two tasks per worker thread keep every thread fed while results
        # travel back; a million-file tree never becomes a million futures.
        self._window = 2 * jobs

    def run(self, items: Iterable[Task | Passed]) -> Generator[Result | Passed, None, None]:
        # What Dask would log (a worker lost, a reconnection failing) ends up
        # in a file's result or the run's own message; its log lines would
        # only tear through the progress bar.
        with _logs_silenced():
            yield from self._run(items)

    def _run(self, items: Iterable[Task | Passed]) -> Generator[Result | Passed, None, None]:
        from distributed import KilledWorker, as_completed

        # Workers have their own working folder: relative paths are sent
        # from this one, and come back relative again, as the local engine's.
        here = os.path.join(os.getcwd(), "")
        chunks = scheduled(items, self.jobs)
        pending: deque[list[Task]] = deque()
        flights: dict[Future[list[Result]], _Flight] = {}
        cluster: _Cluster | None = None
        owner = os.getpid()  # a forked copy of this generator has no cluster of its own
        done: Any = None
        counted_at = time.monotonic()  # when the cluster's threads were last counted
        try:
            while True:
                for chunk in refill(pending, chunks, self._window - len(flights)):
                    if not isinstance(chunk, list):
                        yield chunk
                        continue
                    if cluster is None:
                        cluster = self._start()
                        cluster.seen = self._check_workers(cluster.client, chunk[0], here)
                        done = as_completed(
                            loop=cluster.client.loop, with_results=True, raise_errors=False
                        )
                    future = cluster.submit([_there(task, here) for task in chunk], self.spec)
                    flights[future] = _Flight(chunk, time.monotonic() + self.timeout)
                    done.add(future)
                if not flights:
                    if cluster is not None:  # those that joined since the last count too
                        self.peak_threads = max(self.peak_threads, cluster.threads() or 0)
                    return
                assert cluster is not None
                if time.monotonic() >= counted_at + WORKERS_CHECK:
                    threads = cluster.threads()
                    self.peak_threads = max(self.peak_threads, threads or 0)
                    counted_at = time.monotonic()
                    if cluster.deserted(threads, WORKERS_TIMEOUT):
                        # Queued files would wait for ever: nothing is left
                        # to run them, and Dask would never say so.
                        address = cluster.client.scheduler.address
                        why = f"no Dask worker left at {address} for {WORKERS_TIMEOUT} s"
                        yield from _stop([], flights, pending, why)
                        return
                deadline = min(f.deadline for f in flights.values())
                if _wait_ready(done, min(deadline, time.monotonic() + WORKERS_CHECK)):
                    now = time.monotonic()
                    running = cluster.running()
                    if running is None:
                        why = f"lost the Dask scheduler at {cluster.client.scheduler.address}"
                        yield from _stop([], flights, pending, why)
                        return
                    for future, flight in [(f, v) for f, v in flights.items() if v.deadline <= now]:
                        chunk = flight.tasks
                        if future.key not in running:
                            flight.deadline = now + self.timeout  # still queued
                        elif not flight.held_at:
                            # Held by a worker, perhaps still behind another
                            # chunk there: one chunk's worth of slack, as the
                            # local engine gives.
                            flight.held_at = now
                            flight.deadline = now + self.timeout * (len(chunk) + 1)
                        else:
                            del flights[future]
                            cluster.stop(future)
                            if len(chunk) > 1:
                                # Which file of the chunk is stuck is unknown:
                                # each is retried alone, with a clock of its own.
                                pending.extend([task] for task in chunk)
                            else:
                                # A cluster's worker is restarted, not killed, and may write it yet.
                                why = timed_out(self.timeout)
                                # Its time held is work, as on one machine.
                                ran = now - flight.held_at
                                yield failed_result(chunk[0], why, loose=True, ran=ran)
                    continue
                # The outcome tells what happened, not the future's status:
                # that can change after the result is in hand, when the
                # worker that holds its copy dies.
                future, outcome = next(done)
                # Released here rather than by its finalizer: a Ctrl-C that
                # lands in a finalizer is dropped (see console.StopSignals).
                future.release()
                if future not in flights:
                    continue  # given up on above; its late result is dropped
                chunk = flights.pop(future).tasks
                if isinstance(outcome, list):
                    other = cluster.other_version(outcome)
                    if other is not None:
                        # A worker that joined since the start runs its own
                        # imgpar's convert_chunk: only this machine can check.
                        yield from _stop(chunk, flights, pending, other)
                        return
                    back = [_back(r, task, here) for r, task in zip(outcome, chunk, strict=True)]
                    yield from deliver(back, owner, chunk)
                elif not isinstance(outcome, CancelledError):
                    error = outcome[1]  # (type, exception, traceback)
                    if isinstance(error, Unshared):
                        # A worker that joined since the start, and cannot
                        # see the files: it would fail every one it takes.
                        yield from _stop(chunk, flights, pending, str(error))
                        return
                    if isinstance(error, KilledWorker) and len(chunk) > 1:
                        # Dask cannot tell which file of a chunk killed its
                        # workers: each is retried alone.
                        pending.extend([task] for task in chunk)
                        continue
                    for task in chunk:
                        yield failed_result(task, _reason(error))
                else:
                    # Cancelled, and not by us: the scheduler is gone, and
                    # with it every file still in flight.
                    why = f"lost the Dask scheduler at {cluster.client.scheduler.address}"
                    yield from _stop(chunk, flights, pending, why)
                    return
        finally:
            if cluster is not None and os.getpid() == owner:
                cluster.close(list(flights))

    def _start(self) -> _Cluster:
        from distributed import Client

        if self.scheduler is not None:
            client = _connected(self.scheduler)
            del _clients[self.scheduler]  # this run's now: it closes it
            return _Cluster(client)
        local = _local_cluster(self.jobs)
        try:
            client = Client(local, set_as_default=False)
            client.register_plugin(_local_worker_setup(), name="imgpar-local-worker")
            return _Cluster(client, local)
        except BaseException:
            local.close(timeout=CLOSE_TIMEOUT)
            raise

    def _check_workers(self, client: Client, task: Task, here: str) -> Seen:
        """Stop before any work unless every worker runs this imgpar, reads
        the first source and writes where the outputs go; what was checked,
        for a worker that joins later to check (`convert_chunk`)."""
        source = _remote_path(task.source, here)
        folder = _remote_path(self.out or os.path.dirname(task.source) or ".", here)
        try:
            answers = client.run(probe, source, folder)
        except Exception as exc:
            raise ClusterError(
                f"the Dask workers cannot run imgpar ({type(exc).__name__}: {exc}): "
                f"install imgpar {__version__} with its dask extra on every worker"
            ) from None
        for address, (version, problem) in sorted(answers.items()):
            if (clash := _version_clash(address, version)) is not None:
                raise ClusterError(clash)
            if problem:
                raise ClusterError(_unshared(address, problem))
        return Seen(source, folder, frozenset(answers))


@dataclass(slots=True)
class _Flight:
    """A chunk on the cluster. Its clock starts only once a worker is seen
    holding it: on a cluster a chunk may wait long in the scheduler's queue."""

    tasks: list[Task]
    deadline: float
    held_at: float = 0.0  # when first seen held by a worker: the deadline counts from then


@dataclass(slots=True)
class _Cluster:
    """The client a run submits through, and what closing it cleans up."""

    client: Client
    local: LocalCluster | None = None
    # Where a LocalCluster's workers write. They all run on this machine, so
    # the temporary files that a worker killed mid-write left there can be
    # told from another run's by their process id, and removed.
    folders: set[str] = field(default_factory=set)
    alone_since: float | None = None  # when the cluster was last seen without a worker
    # What the workers there at the start were found to see, for those that
    # join later to check (`DaskEngine._check_workers`).
    seen: Seen | None = None
    # Workers that joined since the start, checked for their imgpar's version.
    _checked: set[str] = field(default_factory=set)

    def submit(self, tasks: list[Task], spec: ConvertSpec) -> Future[list[Result]]:
        assert self.seen is not None, "the workers are checked before any submit"
        if self.local is not None:
            self.folders.update(temp_file_places(tasks))
        return self.client.submit(convert_chunk, tasks, spec, self.seen, pure=False)

    def other_version(self, results: list[Result]) -> str | None:
        """Why the worker that converted `results` must not have, if it must
        not: it joined since the start and runs another imgpar."""
        assert self.seen is not None
        address = str(results[0].worker).partition(" #")[0] if results else ""
        if not address or address in self.seen.workers or address in self._checked:
            return None
        self._checked.add(address)
        try:
            answers = self.client.run(probe, self.seen.source, self.seen.folder,
                                      workers=[address])  # fmt: skip
        except Exception as exc:
            try:
                there = address in (self.client.scheduler_info().get("workers") or {})
            except Exception:
                there = False  # the scheduler itself is gone: the run learns it otherwise
            if not there:
                return None  # gone again: its results are as good as any
            return f"worker {address} cannot run imgpar's check ({type(exc).__name__}: {exc})"
        return _version_clash(address, answers.get(address, (__version__, None))[0])

    def threads(self) -> int | None:
        """The worker threads the cluster has now; None when it cannot say."""
        try:
            return sum(self.client.nthreads().values())
        except Exception:
            return None  # the scheduler itself is gone: the run learns it otherwise

    def deserted(self, workers: int | None, limit: float) -> bool:
        """Whether the cluster, with `workers` threads now (None: unknown),
        has had no worker for `limit` seconds by now."""
        if workers is None:
            return False
        now = time.monotonic()
        if workers or self.alone_since is None:
            self.alone_since = None if workers else now
        return self.alone_since is not None and now - self.alone_since >= limit

    def running(self) -> set[str] | None:
        """The keys of the tasks the workers hold now; None when the
        scheduler is gone."""
        holding = self._holding()
        return None if holding is None else {key for keys in holding.values() for key in keys}

    def _holding(self) -> dict[str, Any] | None:
        """The keys each worker holds, by its address; None when the
        scheduler is gone (Dask's CommClosedError, as it stops)."""
        try:
            return dict(self.client.processing())
        except Exception:
            return None

    def stop(self, future: Future[list[Result]]) -> None:
        """Give up on a chunk that outlasted its deadline. Dask cannot stop a
        running task, so the worker that holds it is restarted by its nanny
        (a worker started without one stays busy until the task ends). On
        imgpar's own cluster it is killed, as the process engine kills its
        worker: a restart closes the worker once its task has ended, and
        the output of a file the run had failed as timed out was written."""
        client = self.client
        holding = self._holding() or {}  # none: the scheduler is gone, the run learns it next
        workers = [w for w, keys in holding.items() if future.key in keys]
        with contextlib.suppress(Exception):
            client.cancel([future])
        future.release()
        if workers and self.local is not None:
            workers = [w for w in workers if not self._killed(w)]
        if workers:
            with contextlib.suppress(Exception):
                client.restart_workers(workers, timeout=CLOSE_TIMEOUT)

    def _killed(self, worker: str) -> bool:
        """Whether the local cluster's process of `worker` was killed (its
        nanny starts another): not where its pid is not known."""
        try:
            pid = dict(self._worker_pids())[worker]
            os.kill(pid, signal.SIGKILL)
        except Exception:  # the scheduler gone meanwhile, the worker not yet logged
            return False
        return True

    def _worker_pids(self) -> list[tuple[str, int]]:
        """(address, pid) of each worker process the local cluster has
        started, restarted ones too, oldest first."""
        return [(address, pid) for _time, (address, pid) in self.client.get_events(WORKERS_TOPIC)]

    def close(self, unfinished: list[Future[list[Result]]]) -> None:
        """Cancel what is still queued (Ctrl-C, an early stop) and disconnect;
        a LocalCluster's workers finish the file they are writing, then stop."""
        client = self.client
        pids: set[int] = set()
        # Not running: the scheduler is gone, and nothing can be asked of it.
        if client.status == "running":
            if unfinished:
                client.cancel(unfinished)
            if self.local is not None:
                pids = {pid for _address, pid in self._worker_pids()}
        client.close(timeout=CLOSE_TIMEOUT)
        if self.local is not None:
            self.local.close(timeout=CLOSE_TIMEOUT)
            remove_temp_files(self.folders, pids)


def _stop(
    chunk: list[Task],
    flights: dict[Future[list[Result]], _Flight],
    pending: deque[list[Task]],
    why: str,
) -> Iterator[Result]:
    """Every file still to come back fails with `why`, the last stopping the
    run; the flights are forgotten, so closing cancels them."""
    # Workers the lost scheduler no longer speaks for may finish those in
    # flight; those never sent are not loose.
    flying = {id(t) for t in chunk} | {id(t) for f in flights.values() for t in f.tasks}
    lost = [*chunk, *(t for f in flights.values() for t in f.tasks)]
    lost += [t for c in pending for t in c]
    flights.clear()
    for i, task in enumerate(lost):
        yield failed_result(task, why, fatal=i == len(lost) - 1, loose=id(task) in flying)


def _wait_ready(done: Any, deadline: float) -> bool:
    """Wait until a result is ready in `done` (False) or `deadline` passes (True)."""
    while not done.has_ready():
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        # as_completed itself waits in steps of 0.1 s; it has no timeout.
        time.sleep(min(0.1, left))
    return False


def _connect(address: str) -> Client:
    from distributed import Client

    _check_greeting(address)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except Exception as exc:
        if address.startswith("tls://") and "ssl_context" in str(exc):
            # Dask's words blame the scheduler; this client has no TLS settings.
            raise ClusterError(
                f"{address} asks for TLS, and this machine's Dask config has no TLS"
                " settings for a client (distributed.comm.tls.ca-file, .client.cert,"
                " .client.key); a scheduler without TLS is tcp://"
            ) from None
        # Whatever answered may not speak Dask at all (MemoryError from a
        # frame length read out of another protocol's bytes).
        raise _unreachable(address, f"{type(exc).__name__}: {exc}") from None
    # Waited for here rather than by wait_for_workers(), which, were the
    # scheduler to stop meanwhile, would try to reconnect for 30 s and then
    # raise Dask's own errors.
    deadline = time.monotonic() + WORKERS_TIMEOUT
    try:
        while not _threads_of(client):
            if client.status != "running" and not _answers(address, client):
                raise ClusterError(
                    f"lost the Dask scheduler at {address} while waiting for a worker to join"
                )
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"no worker joined the Dask scheduler at {address} within"
                    f" {WORKERS_TIMEOUT} s: start some with `dask worker {address}`"
                )
            time.sleep(0.25)
    except BaseException:  # Ctrl-C too: the client is no one else's to close
        with _logs_silenced():
            client.close(timeout=CLOSE_TIMEOUT)
        raise
    return client


def _threads_of(client: Client) -> int:
    """The worker threads the scheduler has now; none when it does not
    answer in a few seconds (gone, or reconnecting)."""
    if client.status != "running":
        return 0
    try:
        return sum(client.nthreads(callback_timeout=ASK_TIMEOUT).values())
    except (TimeoutError, OSError):
        return 0


def _answers(address: str, client: Client) -> bool:
    """Whether the scheduler a client lost its connection to is still there
    to reconnect to: not a closed client, nor a refused connection."""
    if client.status in ("closing", "closed"):
        return False
    try:
        _check_greeting(address)
    except ClusterError:
        return False
    return True


def _unreachable(address: str, why: str) -> ClusterError:
    return ClusterError(
        f"cannot reach the Dask scheduler at {address} ({why}): is `dask scheduler` running?"
    )


def _check_greeting(address: str) -> None:
    """Raise ClusterError for what is wrong with a TCP scheduler address,
    found in seconds with a plain socket: a refused connection, an unknown
    host, or a server that does not greet as a Dask scheduler does, at once
    (a dashboard, another service), where Dask's own handshake would wait
    for ever. Addresses other than plain TCP are left to Dask."""
    target = address.removeprefix("tcp://")
    host, _, port = target.rpartition(":")
    if "://" in target or not host or not port.isdigit():
        return
    try:
        conn = socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT)
    except socket.gaierror:
        raise _unreachable(address, f"unknown host {host}") from None
    except TimeoutError:
        raise _unreachable(address, f"no answer in {CONNECT_TIMEOUT} s") from None
    except OSError as exc:
        raise _unreachable(address, str(exc.strerror or exc)) from None
    with conn:
        conn.settimeout(GREETING_TIMEOUT)
        try:
            greeting = conn.recv(256)
        except OSError:
            greeting = b""
    if b"compression" not in greeting:
        raise ClusterError(
            f"{address} is not a Dask scheduler (it does not greet as one): give the"
            " scheduler's address, port 8786 unless set otherwise, not the dashboard's"
        )


@contextlib.contextmanager
def _logs_silenced() -> Iterator[None]:
    """Dask's log handlers on stderr show only critical messages meanwhile
    (as LocalCluster's `silence_logs` does; other handlers are left alone)."""
    import distributed  # noqa: F401  (Dask adds its handlers as it is imported)

    handlers = [
        h for h in logging.getLogger("distributed").handlers if isinstance(h, logging.StreamHandler)
    ]
    levels = [h.level for h in handlers]
    for handler in handlers:
        handler.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for handler, level in zip(handlers, levels, strict=True):
            handler.setLevel(level)


def _local_cluster(jobs: int) -> LocalCluster:
    """A LocalCluster of `jobs` single-threaded worker processes, started
    so that Ctrl-C cannot cut them off half made.

    It is built in a thread that blocks SIGINT: the threads Dask starts from
    it, and the worker processes they start, inherit the mask, where one
    that came while they imported Dask printed a traceback from each and
    left semaphores behind. This thread waits, interruptible: a first
    Ctrl-C is noted and delivered once the cluster is up (it is then closed
    in order); a second, or SIGTERM, gives the start up and kills the
    workers it began, a start that hangs included.
    """
    from multiprocessing import active_children, resource_tracker

    masks = hasattr(signal, "pthread_sigmask")  # Windows: no masks, no inheritance
    if masks:
        # Started here, not by the first worker's start: multiprocessing
        # unblocks SIGINT in the thread that starts its resource tracker,
        # the very thread that then starts the workers.
        resource_tracker.ensure_running()
    before = set(active_children())
    started: concurrent.futures.Future[LocalCluster] = concurrent.futures.Future()

    def build() -> None:
        import dask
        from distributed import LocalCluster

        if masks:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        # Dask counts a worker's death against every file the worker held;
        # at 1.0 a worker holds just the file it converts and the rest wait
        # in the scheduler's queue, so a crash takes no bystander with it.
        try:
            with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
                cluster = LocalCluster(
                    n_workers=jobs,
                    threads_per_worker=1,
                    processes=True,
                    # Any free port, on this machine only: None means Dask's
                    # 8787, and where that is taken (another cluster, a second
                    # CI job) Dask warns in four lines before it takes another
                    # anyway; an empty host would listen on every interface.
                    dashboard_address="127.0.0.1:0",
                    # Worker crashes are reported per file, not as log lines
                    # through the progress bar.
                    silence_logs=logging.CRITICAL,
                )
        except BaseException as exc:
            started.set_exception(exc)
        else:
            started.set_result(cluster)

    interrupts = _NotedInterrupts()
    try:
        threading.Thread(target=build, name="imgpar-cluster-start", daemon=True).start()
        while not started.done():
            concurrent.futures.wait([started], timeout=0.1)  # signal handlers run between
    except BaseException:  # a second Ctrl-C, SIGTERM, SIGHUP
        # Closed once it is up, if ever: at once where it is already.
        started.add_done_callback(_close_if_up)
        for child in set(active_children()) - before:
            child.kill()
        raise
    finally:
        interrupts.restore()
    try:
        cluster = started.result()
    except RuntimeError as exc:  # its workers said why, if they could
        raise ClusterError(f"could not start a local Dask cluster: {exc}{_no_script()}") from None
    try:
        interrupts.deliver()
    except BaseException:
        cluster.close(timeout=CLOSE_TIMEOUT)
        raise
    return cluster


def _close_if_up(started: concurrent.futures.Future[LocalCluster]) -> None:
    if started.exception() is None:
        started.result().close(timeout=CLOSE_TIMEOUT)


class _NotedInterrupts:
    """Ctrl-C, noted while it stands rather than raised: the first is
    delivered later, as the handler before would have had it; a second is
    delivered at once. Only a Python handler is stood in for, in the main
    thread: a program that ignores Ctrl-C goes on ignoring it."""

    def __init__(self) -> None:
        self._before: Any = None
        self._noted = 0
        if threading.current_thread() is threading.main_thread():
            before = signal.getsignal(signal.SIGINT)
            if callable(before):
                self._before = before
                signal.signal(signal.SIGINT, self._note)

    def _note(self, signum: int, frame: Any) -> None:
        self._noted += 1
        if self._noted > 1:
            self._before(signum, frame)

    def restore(self) -> None:
        if self._before is not None and signal.getsignal(signal.SIGINT) == self._note:
            signal.signal(signal.SIGINT, self._before)

    def deliver(self) -> None:
        """The Ctrl-C noted, if one was, to the handler before."""
        if self._noted == 1 and self._before is not None:
            self._noted = 0
            self._before(signal.SIGINT, None)


def _local_worker_setup() -> WorkerPlugin:
    """A plugin for a LocalCluster's workers, run in each worker process as
    it starts (restarted ones too), in its main thread."""
    from distributed import WorkerPlugin

    class LocalWorker(WorkerPlugin):
        def setup(self, worker: Worker) -> None:
            # Ctrl-C reaches every process in the terminal's process group;
            # it is imgpar's to handle: it cancels what is queued and closes
            # the workers in order, so none stops mid-write.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            # Dask keeps no record of a worker process once it has died,
            # nor of a living one's pid.
            worker.log_event(WORKERS_TOPIC, (worker.address, os.getpid()))
            _catch_stderr()

        def teardown(self, worker: Worker) -> None:
            # Its temporary file, closed as the worker ends: left to Python's
            # exit, it printed a ResourceWarning on the user's terminal.
            _release_stderr()

    return LocalWorker()


def _no_script() -> str:
    """Why a local cluster's workers could not start, where the program's
    main script is no file (read from stdin): each worker process imports
    it again, from its path."""
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if script is None or os.path.isfile(script):
        return ""
    return (
        f" (its worker processes import the program's main script, and {script} is no"
        " file: save the program to one)"
    )


def _release_stderr() -> None:
    global _catcher
    if _catcher is not None:
        _catcher.close()
        _catcher = None


def _catch_stderr() -> None:
    """In a local cluster's worker (one thread converting, its logs
    silenced, its stderr the user's terminal), what libtiff prints is each
    file's, as in the command's own process: descriptor 2 is taken only
    while a file converts, as Dask's other threads write there too. At
    module level: the plugin travels pickled by value, and a global it set
    would be its copy's, not this module's."""
    global _catcher
    if _catcher is None:
        _catcher = Catcher(swap=True)


# What the workers run. A worker lives through many runs, each with its own
# spec, and Pillow's settings are per process: they are set again only when
# the spec changes.
_configured: ConvertSpec | None = None
# What C libraries print, caught: only on imgpar's own local cluster, as on
# a user's a worker's stderr is its log, and its threads share it.
_catcher: Catcher | None = None


def convert_chunk(tasks: list[Task], spec: ConvertSpec, seen: Seen) -> list[Result]:
    """Convert `tasks` on a worker. A worker that joined since the run
    began checks, at its first chunk, what those there were checked for:
    Unshared, where it sees neither the first source nor any of the
    chunk's (a node without the share mounted would fail them all, each
    one "gone")."""
    from distributed import get_worker

    from imgpar.pipeline import configure_worker, convert_file

    worker = get_worker()
    global _configured
    if _configured != spec:
        problem = None if worker.address in seen.workers else probe(seen.source, seen.folder)[1]
        if problem and not any(os.path.exists(task.source) for task in tasks):
            raise Unshared(_unshared(worker.address, problem))
        configure_worker(spec)
        _configured = spec
    if not hasattr(_thread, "label"):
        # One lane each in the report's timeline, numbered as they first convert.
        many = worker.state.nthreads > 1
        _thread.label = worker.address + (f" #{next(_numbers)}" if many else "")
    return [convert_file(task, spec, _catcher)._replace(worker=_thread.label) for task in tasks]


# This worker process's threads that converted files, each with its label,
# numbered from 1 (next() on a count is atomic: two threads starting at once
# get two numbers).
_thread = threading.local()
_numbers = itertools.count(1)


class Seen(NamedTuple):
    """What the workers there at a run's start were checked for."""

    source: str  # the first source, read
    folder: str  # where the outputs go, written
    workers: frozenset[str]  # their addresses


class Unshared(Exception):
    """A worker cannot read the run's files or write its outputs."""


def _version_clash(address: str, version: str) -> str | None:
    """Why the worker at `address`, running imgpar `version`, may not convert."""
    if version == __version__:
        return None
    return (
        f"worker {address} runs imgpar {version}, this machine {__version__}: "
        "install the same version on every worker"
    )


def _unshared(address: str, problem: str) -> str:
    return f"worker {address} {problem}: is the folder shared?"


def probe(source: str, folder: str) -> tuple[str, str | None]:
    """This worker's imgpar version, and what stops it from reading `source`
    or writing in `folder` (None when nothing does)."""
    try:
        with open(source, "rb") as fp:
            fp.read(1)
    except OSError as exc:
        return __version__, f"cannot read {source} ({system_words(exc)})"
    try:
        fd, path = tempfile.mkstemp(prefix=".imgpar-probe-", dir=folder)
    except OSError as exc:
        return __version__, f"cannot write to {folder} ({system_words(exc)})"
    os.close(fd)
    os.unlink(path)
    return __version__, None


def _remote_path(path: str, here: str) -> str:
    return path if os.path.isabs(path) else here + path


def _there(task: Task, here: str) -> Task:
    """`task` with every path absolute: a worker's working folder is its own."""
    replaceable = task.replaceable
    if replaceable is not None:
        replaceable = tuple((_remote_path(path, here), size) for path, size in replaceable)
    return task._replace(
        source=_remote_path(task.source, here),
        outputs=tuple(_remote_path(path, here) for path in task.outputs),
        replaceable=replaceable,
    )


def _back(result: Result, task: Task, here: str) -> Result:
    """`result` with its output paths as the task spelled them, as this
    machine sees them: a worker that does not share the folders with it
    reads nothing of a source there, and writes where nobody looks, which
    passed for converted (each run again) or for a source deleted."""
    if result.status == "failed" and result.error == VANISHED and os.path.exists(task.source):
        return result._replace(error=_unshared(str(result.worker), f"cannot see {task.source}"))
    if not result.outputs:
        return result
    outputs = result.outputs
    if not os.path.isabs(task.outputs[0]):
        outputs = tuple(o._replace(path=o.path.removeprefix(here)) for o in outputs)
    unseen = next((o.path for o in outputs if not os.path.lexists(o.path)), None)
    if unseen is not None:
        why = _unshared(str(result.worker), "wrote it where this machine does not see it")
        return result._replace(
            status="failed", outputs=(), digest=None, error=unwritable(unseen, why)
        )
    return result._replace(outputs=outputs)


def _reason(error: BaseException) -> str:
    from distributed import KilledWorker

    if isinstance(error, KilledWorker):
        return (
            f"{error.allowed_failures + 1} Dask workers died converting it, one after "
            "another (a crash or out of memory)"
        )
    lines = str(error).strip().splitlines()
    return (f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__)[:300]
