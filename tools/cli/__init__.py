"""The ``orders`` command line: shoppers' and operators' commands, and ``orders up``.

``entry_point`` is what ``orders`` and ``python -m tools.cli`` run. It imports ``main`` (the parser and the dispatch)
itself, inside its handling of Ctrl-C: that import, which brings in the commands' modules, takes about a second, and
Ctrl-C during it ends as quietly as at any other moment of ``orders up``'s start-up, with one line and exit code 130.

The modules, one idea each: ``main`` (parser, dispatch, what a failure exits with), ``exit_codes``, ``endpoints``
(where the API and the AWS endpoint are), ``api`` (the order API's client), ``auth`` (sign-in, stored tokens, the
warehouse's signature; ``login``, ``token``), ``orders`` (the order commands), ``events``, ``stack`` (``orders up``
and its banner), ``output`` (money, JSON, escaped text).
"""

from __future__ import annotations

import sys

from tools.cli.exit_codes import EXIT_INTERRUPTED


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
