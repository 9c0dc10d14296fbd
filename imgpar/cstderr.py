"""What a file's decoders say while this process reads it: what C libraries
print on stderr, and what Pillow logs.

libtiff above all writes what it finds wrong with a file straight to file
descriptor 2: in a run's own process (`--jobs 1`) it tore through the
progress bar, and from a worker, whose stderr went nowhere, it was lost,
while Pillow's error for the same file said only "decoder error -2". Here
descriptor 2 is a temporary file while a file converts, read and emptied
once it is done, so what was said belongs to that file's result. A file,
not a pipe: a library's writes never block or fail, and the last line
said, the one that tells why its decoder stopped, is always there.

Pillow's logged warnings, which Python's last resort printed on stderr,
are taken as they are logged (`_PillowLog`). The command's own words go
elsewhere (`own_stderr`), or they would be caught too: a Ctrl-C's note,
the progress bar's refresh from tqdm's thread.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO, NamedTuple

# What is read of a great deal said about one file: its start and its end.
_KEPT = 4096
# Pillow's log messages kept for one file: the first ones.
_LOGGED_MOST = 100


class Catcher:
    """A temporary file that takes this process's descriptor 2: for good
    (`swap` False, a worker, whose stderr has no reader), or only `during`
    each file (the command's own process, whose stderr is the terminal)."""

    def __init__(self, *, swap: bool) -> None:
        _hold_two()  # else the temporary file could take its number
        self._swap = swap
        self._file: IO[bytes] | None = None
        # Imported only as a file is converted: --help and a no-op run start without it.
        import tempfile

        self._log = _PillowLog()
        try:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the Catcher)
        except OSError:
            # No temporary folder to write in: a worker's stderr goes nowhere,
            # as it did before anything caught it, rather than the worker not start.
            if not swap:
                to_null(2)
            return
        self._fd = self._file.fileno()
        if not swap:
            os.dup2(self._fd, 2)

    @contextlib.contextmanager
    def during(self) -> Iterator[None]:
        if not self._swap or self._file is None:
            yield
            return
        saved = os.dup(2)
        os.dup2(self._fd, 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)

    def said(self) -> list[str]:
        """The lines written since the last call, blank ones left out: the
        first and the last few where a great deal was said."""
        if self._file is None:
            return []
        # Descriptor 2 and ours share one offset: it is how much was written.
        end = os.lseek(self._fd, 0, os.SEEK_CUR)
        if not end:
            return []
        os.lseek(self._fd, 0, os.SEEK_SET)
        if end <= 2 * _KEPT:
            data = os.read(self._fd, end)
        else:
            head = os.read(self._fd, _KEPT)
            # From the byte before the tail: the line that starts it is kept whole.
            os.lseek(self._fd, end - _KEPT - 1, os.SEEK_SET)
            tail = os.read(self._fd, _KEPT + 1)
            # The end of one long line, where it has no line's start.
            tail = tail.partition(b"\n")[2] if b"\n" in tail[:-1] else tail[1:]
            data = head[: head.rfind(b"\n") + 1] + tail
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        return [line for line in data.decode(errors="replace").splitlines() if line.strip()]

    def logged(self) -> list[str]:
        """What Pillow logged since the last call."""
        return self._log.take()

    def close(self) -> None:
        self._log.close()
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> Catcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _PillowLog:
    """What Pillow logs as a warning or worse (TIFF: "More samples per pixel
    than can be decoded"), which Python's last resort printed on stderr: it
    is the file's, as its warnings.warn ones are. Taken from Pillow's logger
    for a Catcher's life, not set up again for each file (11 us of an
    icon's), and kept from the process's own handlers, which would print
    it (a program's `logging.basicConfig()`: into a worker's Catcher, twice)."""

    def __init__(self) -> None:
        # Imported only as a file is converted: --help and a no-op run start without it.
        import logging

        messages: list[str] = []
        self._messages = messages

        class Kept(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if len(messages) < _LOGGED_MOST:  # of a flood, the first
                    try:
                        messages.append(record.getMessage())
                    except Exception:  # a log call whose arguments do not fit its format
                        self.handleError(record)

        self._handler = Kept(logging.WARNING)
        self._logger = logging.getLogger("PIL")
        self._propagated = self._logger.propagate
        self._logger.addHandler(self._handler)
        self._logger.propagate = False

    def take(self) -> list[str]:
        if not self._messages:  # as for nearly every file: no lock to take
            return []
        with self._handler.lock:  # made by every Handler's __init__
            taken = self._messages[:]
            del self._messages[:]
        return taken

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._logger.propagate = self._propagated


def in_own_process(own: bool) -> contextlib.AbstractContextManager[Catcher | None]:
    """A Catcher that swaps descriptor 2 in for each file, where this is the
    command's own process (`own`); none in a program's, whose stderr and
    logging are its own."""
    return Catcher(swap=True) if own else contextlib.nullcontext()


class Heard(NamedTuple):
    printed: list[str]  # by C libraries, on descriptor 2
    logged: list[str]  # by Pillow, through Python's logging


@contextlib.contextmanager
def listening(catcher: Catcher | None) -> Iterator[Heard]:
    """What was printed and logged while the block runs, in the lists this
    yields once it ends; nothing without a `catcher`."""
    heard = Heard([], [])
    with catcher.during() if catcher else contextlib.nullcontext():
        yield heard
    if catcher:
        heard.printed.extend(catcher.said())
        heard.logged.extend(catcher.logged())


# The descriptor of the command's own stderr (own_stderr).
_own: int | None = None


def own_stderr(stream: IO[str] | None) -> IO[str] | None:
    """`stream` (sys.stderr) on a descriptor of its own, leaving descriptor
    2 to C libraries, for a Catcher to take while a file is read."""
    global _own
    if stream is None:
        _hold_two()
        return None
    try:
        fd = os.dup(stream.fileno())
    except (OSError, ValueError, AttributeError):  # no descriptor: nothing would catch it
        return stream
    _own = fd
    errors = getattr(stream, "errors", None) or "backslashreplace"
    return open(fd, "w", buffering=1, encoding=stream.encoding, errors=errors)


def _hold_two() -> None:
    """Descriptor 2 open, on /dev/null where it was closed (`2>&-`): the
    next file opened would take its number, and what C libraries print
    would land in it (a cache, a report)."""
    try:
        os.fstat(2)
    except OSError:
        to_null(2)


def to_null(fd: int) -> None:
    """Descriptor `fd` on /dev/null."""
    null = os.open(os.devnull, os.O_WRONLY)
    if null != fd:  # a closed fd is the lowest free one: it may be had already
        os.dup2(null, fd)
        os.close(null)


def quiet_python_stderr() -> None:
    """In a worker, once its Catcher holds descriptor 2: what Python itself
    writes on stderr goes nowhere, as it did before anything was caught.
    Caught, it would be a note on whichever file came next (Pillow's logged
    warnings are each file's already, Catcher.logged). A forked worker's
    copy of the command's stderr goes too: it is the run's to hold, and a
    CI step reading it waits for every holder to close."""
    if _own is not None:
        to_null(_own)
    sys.stderr = open(os.devnull, "w", errors="backslashreplace")  # noqa: SIM115  (the worker's own)
