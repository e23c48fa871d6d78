"""The exit codes of ``orders``, which scripts read, and ``CliError``, a failure reported in one line with its code.

What each code means is told in ``tools.cli.main``'s docstring, the epilog of ``orders --help``.
"""

from __future__ import annotations

import signal

EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_ORDER_FAILED, EXIT_TIMEOUT = 0, 1, 2, 3, 4
EXIT_USAGE = 64
"""EX_USAGE of sysexits.h: a script tells a mistyped command from an API that is down (2)."""
EXIT_INTERRUPTED = 128 + signal.SIGINT
"""What a shell reports for a command ended by Ctrl-C."""
EXIT_OUTPUT_CLOSED = 128 + signal.SIGPIPE
"""What a command killed by SIGPIPE exits with, as ``orders list | head -1`` leaves it; Python's SIGPIPE is ignored."""


class CliError(Exception):
    """A failure the command reports in one line, with the exit code scripts see."""

    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code
