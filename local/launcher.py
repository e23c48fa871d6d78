"""``orders up`` in a subprocess on free 127.0.0.1 ports, for the callers that need a whole stack of their own.

The integration suite and the benchmark both start the local stack this way: a separate process, as a deployed
service would be, so the client never competes with the stack for the GIL. Each caller decides what its own
failures mean (an assertion in a test, a RuntimeError in the benchmark); this module only starts, waits and stops.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from local.stack import HOST, free_ports

READY_POLL_SECONDS = 0.2


class StackNotReadyError(RuntimeError):
    """``orders up`` exited, or did not answer its health check, before the deadline."""


@dataclass
class LaunchedStack:
    """A running ``orders up`` and the ports it serves."""

    process: subprocess.Popen
    api_port: int
    aws_port: int
    ws_port: int

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://{HOST}:{self.aws_port}"

    @property
    def websocket_url(self) -> str:
        return f"ws://{HOST}:{self.ws_port}"


def launch(
    settings: Mapping[str, str], env: Mapping[str, str], output: IO[str] | int, options: Sequence[str] = ()
) -> LaunchedStack:
    """Start ``orders up`` with its API, AWS endpoint and WebSocket API on free ports, and ``settings``
    (``ORDERS_*``) on top of env; ``options`` are ``orders up``'s own (``--storefront``).

    Example
    -------
    >>> stack = launch({"ORDERS_CONSOLE_PORT": "0"}, os.environ, subprocess.DEVNULL)  # doctest: +SKIP
    >>> stack.api_url  # doctest: +SKIP
    'http://127.0.0.1:41234'
    """
    aws_port, api_port, ws_port = free_ports(3)
    ports = {"ORDERS_AWS_PORT": str(aws_port), "ORDERS_API_PORT": str(api_port), "ORDERS_WS_PORT": str(ws_port)}
    process_env = {**env, **ports, **settings}
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "up", *options],
        env=process_env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return LaunchedStack(process, api_port, aws_port, ws_port)


def wait_until_ready(stack: LaunchedStack, is_healthy: Callable[[], bool], deadline_seconds: float) -> None:
    """Poll ``is_healthy`` until it is true; a stack that exits or outlives the deadline is killed and reported.

    Example
    -------
    >>> wait_until_ready(stack, lambda: api.get("/health").status == 200, 90)  # doctest: +SKIP
    """
    give_up = time.monotonic() + deadline_seconds
    while True:
        if stack.process.poll() is not None:
            raise StackNotReadyError(f"orders up exited with {stack.process.returncode}")
        try:
            if is_healthy():
                return
        except OSError:
            pass
        if time.monotonic() > give_up:
            stack.process.kill()
            stack.process.wait(timeout=deadline_seconds)
            raise StackNotReadyError(f"orders up was not ready within {deadline_seconds:.0f}s")
        time.sleep(READY_POLL_SECONDS)


def stop(process: subprocess.Popen, deadline_seconds: float) -> int | None:
    """SIGTERM, as a process manager would; the exit code, or None if it had to be killed after the deadline.

    Example
    -------
    >>> stop(stack.process, 10)  # doctest: +SKIP
    0
    """
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=deadline_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=deadline_seconds)
        return None
