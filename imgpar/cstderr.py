"""What C libraries print on stderr while this process converts a file.

libtiff above all writes what it finds wrong with a file straight to file
descriptor 2: in a run's own process (`--jobs 1`) it tore through the
progress bar, and from a worker, whose stderr went nowhere, it was lost,
while Pillow's error for the same file said only "decoder error -2". Here
descriptor 2 is a pipe while a file converts, read once it is done, so what
was said belongs to that file's result.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import NamedTuple


class Said(NamedTuple):
    lines: list[str]
    # False where the pipe filled up: what came after was lost, and the
    # last line kept is not the last that was said.
    whole: bool


_PIPE_BUF = 4096  # POSIX's least, and Linux's


class Catcher:
    """A pipe that takes this process's descriptor 2: for good (`swap`
    False, a worker, whose stderr has no reader), or only `during` each
    file (the command's own process, whose stderr is the terminal, and
    whose sys.stderr writes to a descriptor of its own: cli._own_stderr)."""

    def __init__(self, *, swap: bool) -> None:
        self._read, write = os.pipe()
        os.set_blocking(self._read, False)
        try:
            self._room = fcntl.fcntl(self._read, fcntl.F_GETPIPE_SZ)
        except (AttributeError, OSError):  # not Linux: the least any pipe holds
            self._room = _PIPE_BUF
        # A library that says a great deal loses the rest once the pipe's
        # 64 KiB are full, and never waits for a reader.
        os.set_blocking(write, False)
        self._write: int | None = write
        if not swap:
            os.dup2(write, 2)
            os.close(write)
            self._write = None

    @contextlib.contextmanager
    def during(self) -> Iterator[None]:
        if self._write is None:
            yield
            return
        saved = os.dup(2)
        os.dup2(self._write, 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)

    def said(self) -> Said:
        """The lines written since the last call, blank ones left out."""
        chunks = []
        while True:
            try:
                chunk = os.read(self._read, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        lines = [line for line in data.decode(errors="replace").splitlines() if line.strip()]
        # A write of up to PIPE_BUF bytes fits whole or not at all.
        return Said(lines, whole=len(data) <= self._room - _PIPE_BUF)

    def close(self) -> None:
        for fd in (self._read, self._write):
            if fd is not None:
                os.close(fd)

    def __enter__(self) -> Catcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
