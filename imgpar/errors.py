"""Exit statuses and the errors that map onto them."""

from __future__ import annotations

import enum
import errno
import signal
from types import FrameType


class ExitStatus(enum.IntEnum):
    OK = 0  # every file converted or already up to date
    FAILED = 1  # at least one file failed; the others were still converted
    USAGE = 2  # bad option or missing source, found before any work
    INTERRUPTED = 130  # Ctrl-C: finished outputs kept, no partial files left
    TERMINATED = 143  # SIGTERM: as for Ctrl-C
    HUNG_UP = 129  # SIGHUP (the terminal closed): as for Ctrl-C


class Error(Exception):
    """What imgpar raises of its own: `except imgpar.Error` catches each."""


class UsageError(Error):
    """A problem with the command itself, reported before any image is touched.

    `option` is the setting at fault as the Python API and a config file name
    it (`max_size`), and `problem` what is wrong with it. The message names the
    setting that way (`max_size must be ...`), and the others it mentions
    (`cover needs both width and height`); `on_command_line()` names them as
    flags (`--max-size must be ...`)."""

    def __init__(
        self, problem: str, *, option: str | None = None, mentions: tuple[str, ...] = ()
    ) -> None:
        # `problem` names other settings as flags (`--width`); `mentions`
        # lists them, to be named as keywords everywhere but the command line.
        self._flagged = problem
        for name in mentions:
            problem = problem.replace(flag(name), name)
        super().__init__(f"{option} {problem}" if option else problem)
        self.problem = problem
        self.option = option

    def on_command_line(self) -> str:
        return f"{flag(self.option)} {self._flagged}" if self.option else self._flagged


class ClusterError(Error):
    """The Dask cluster cannot run the job, e.g. its workers cannot see the files."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so it unwinds exactly like Ctrl-C."""


class HungUp(Terminated):
    """SIGHUP: the terminal closed, an ssh session dropped."""


# A closed terminal (or a dropped ssh session) stops the run as SIGTERM does.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM) + (
    (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
)


def in_finalizer(frame: FrameType | None) -> bool:
    """Whether `frame` runs inside a `__del__`, where Python would print what
    is raised, traceback and all, and drop it."""
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def stop_status(stop: KeyboardInterrupt) -> ExitStatus:
    """The exit status of a command that `stop` ended: SIGHUP, SIGTERM or Ctrl-C."""
    if isinstance(stop, HungUp):
        return ExitStatus.HUNG_UP
    if isinstance(stop, Terminated):
        return ExitStatus.TERMINATED
    return ExitStatus.INTERRUPTED


def flag(option: str) -> str:
    """The command-line spelling of an API keyword: `max_size` is `--max-size`."""
    return "--" + option.replace("_", "-")


# How a file that cannot be read fails: its permissions, not its pixels,
# so the cache does not replay it (a chmod changes neither size nor mtime).
UNREADABLE = "cannot read the file"
NOW_A_FOLDER = "a folder now, where the walk found a file"


def why_unreadable(exc: OSError) -> str:
    """Why the system would not read a file (EIO from a failing disk,
    EACCES), worded alike wherever it is met."""
    return f"{UNREADABLE}: {system_words(exc)}"


def counted(n: int, thing: str) -> str:
    """`n` things, in words: 1 file, 2 files."""
    return f"{n} {thing}{'' if n == 1 else 's'}"


def them(n: int) -> str:
    """What `n` things are called again: it, or them."""
    return "it" if n == 1 else "them"


def system_words(exc: OSError) -> str:
    """The system's words for `exc`, in lower case as a reason goes on
    (`permission denied`)."""
    return (exc.strerror or str(exc)).lower()


# What every file after would meet as well, so it stops the run: the
# output's disk full, and no file left to open (a low `ulimit -n`).
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
OUT_OF_FILES = frozenset({errno.EMFILE, errno.ENFILE})
STOPS_THE_RUN = DISK_FULL | OUT_OF_FILES


def out_of_files(exc: OSError) -> str:
    """Why no more files can be opened (OUT_OF_FILES), and what lifts it."""
    if exc.errno == errno.ENFILE:
        return "too many open files on this system: its limit (fs.file-max) is reached"
    try:
        import resource
    except ImportError:  # Windows
        return "too many open files"
    most = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return f"too many open files: this process may have {most} open (ulimit -n); raise it"


# A source gone between the walk and its reading (pipeline.describe).
VANISHED = "file disappeared before it could be read"
UNWRITABLE = "cannot write"


def unwritable(path: str, why: str) -> str:
    """Why an output cannot be written where it belongs (writer.OutputRefused)."""
    return f"{UNWRITABLE} {path}: {why}"


def refused(error: str | None) -> bool:
    """Whether a failure's reason is the system's refusal to read its source
    (why_unreadable) or to write an output (unwritable), not the file's own
    fault: a chmod or a fix changes neither its size nor its mtime, so such
    a failure is never recorded against it."""
    return (error or "").startswith((UNREADABLE, UNWRITABLE))
# A FIFO, socket or device where a file should be: its open would block, or its data never end.
NOT_REGULAR = "not a regular file (a FIFO, socket or device)"


def not_imgpars(path: str) -> str:
    """Why an output is not written in place: a file imgpar did not write is there."""
    return (
        f"its output would overwrite a file imgpar did not write: {path}"
        " (move that file, or give --name another pattern)"
    )
