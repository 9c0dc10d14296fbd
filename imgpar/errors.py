"""Exit statuses and the errors that map onto them."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0  # every file converted or already up to date
    FAILED = 1  # at least one file failed; the others were still converted
    USAGE = 2  # bad option or missing source, found before any work
    INTERRUPTED = 130  # Ctrl-C: finished outputs kept, no partial files left
    TERMINATED = 143  # SIGTERM: as for Ctrl-C


class UsageError(Exception):
    """A problem with the command itself, reported before any image is touched."""


class ClusterError(Exception):
    """The Dask cluster cannot run the job, e.g. its workers cannot see the files."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so it unwinds exactly like Ctrl-C."""
