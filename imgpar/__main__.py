"""`python -m imgpar`, and the `imgpar` command."""

from __future__ import annotations

import sys

from imgpar.errors import ExitStatus


def main() -> None:
    # A Ctrl-C while the command line's modules load (typer: some 40 ms)
    # ends the command as one during a run does, not with a traceback.
    try:
        from imgpar.cli import main as run
    except KeyboardInterrupt:
        sys.exit(int(ExitStatus.INTERRUPTED))
    run()


if __name__ == "__main__":
    main()
