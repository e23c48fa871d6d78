"""The ``orders`` command line: shoppers' and operators' commands, and ``orders up``.

``entry_point`` is what ``orders`` and ``python -m tools.cli`` run. It imports the commands' module itself, inside
its handling of Ctrl-C: that import takes about a second, and Ctrl-C during it ends as quietly as at any other
moment of ``orders up``'s start-up, with one line and exit code 130.
"""

from __future__ import annotations

import signal
import sys

EXIT_INTERRUPTED = 128 + signal.SIGINT
"""What a shell reports for a command ended by Ctrl-C (130), as ``tools.cli.main`` answers it later on."""


def entry_point(argv: list[str] | None = None) -> int:
    """Run one ``orders`` command and return its exit code.

    Example
    -------
    >>> entry_point(["products", "--json"])  # doctest: +SKIP
    0
    """
    try:
        from tools.cli.main import main as run_command
    except KeyboardInterrupt:
        print("orders: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return run_command(argv)
