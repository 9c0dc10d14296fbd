"""`python -m imgpar`, and the `imgpar` command."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType

from imgpar.errors import HungUp, Terminated, in_finalizer, stop_status


def main() -> None:
    _stop_as_ctrl_c()
    # A stop while the command line's modules load (typer: some 40 ms) ends
    # the command as one during a run does, not with a traceback.
    try:
        from imgpar.cli import main as run
    except KeyboardInterrupt as stop:
        with contextlib.suppress(OSError):  # the terminal gone (SIGHUP)
            print("interrupted", file=sys.stderr)
        sys.exit(int(stop_status(stop)))
    run()


def _stop_as_ctrl_c() -> None:
    """SIGTERM and SIGHUP raised as Ctrl-C is, until a run takes them over
    (console.StopSignals): the command then says `interrupted` and exits
    with the signal's status, where Python's default ended it without a
    word (a CI step's `timeout` as the command started: an empty log)."""
    for signum in _RAISED:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # `nohup imgpar ...`: left alone
            signal.signal(signum, _raise_stop)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    if in_finalizer(frame):
        # Raised there, Python would print it and go on: the stop ends the
        # command as Python's default would.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise _RAISED[signum]


_RAISED: dict[int, type[KeyboardInterrupt]] = {signal.SIGTERM: Terminated}
if hasattr(signal, "SIGHUP"):
    _RAISED[signal.SIGHUP] = HungUp


if __name__ == "__main__":
    main()
