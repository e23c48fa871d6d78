"""Starting, waiting for and stopping a stack process: the deadlines hold and a dead stack is reported, not awaited."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from local.launcher import LaunchedStack, StackNotReadyError, launch, stop, wait_until_ready

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
)


def _python(program: str) -> LaunchedStack:
    process = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    return LaunchedStack(process, api_port=0, aws_port=0, ws_port=0)


def test_a_stack_that_exits_is_reported_with_its_exit_code():
    stack = _python("raise SystemExit(3)")

    with pytest.raises(StackNotReadyError, match="exited with 3"):
        wait_until_ready(stack, lambda: False, deadline_seconds=30)


def test_a_stack_that_never_becomes_healthy_is_killed_at_the_deadline():
    stack = _python("import time; time.sleep(60)")
    started = time.monotonic()

    with pytest.raises(StackNotReadyError, match="not ready within"):
        wait_until_ready(stack, lambda: False, deadline_seconds=0.5)

    assert stack.process.poll() is not None
    assert time.monotonic() - started < 30


def test_a_health_check_that_cannot_connect_yet_is_asked_again():
    stack = _python("import time; time.sleep(60)")
    answers = iter([ConnectionRefusedError(), ConnectionRefusedError(), True])

    def is_healthy() -> bool:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    try:
        wait_until_ready(stack, is_healthy, deadline_seconds=30)
    finally:
        stop(stack.process, deadline_seconds=10)

    assert next(answers, "asked no more") == "asked no more"


def test_stop_returns_the_exit_code_of_a_stack_that_stops_on_sigterm():
    stack = _python("import time; time.sleep(60)")

    assert stop(stack.process, deadline_seconds=10) == -15


def test_stop_kills_a_stack_that_ignores_sigterm_and_says_so():
    stack = _python(IGNORES_SIGTERM)
    assert stack.process.stdout.readline().strip() == "up"

    assert stop(stack.process, deadline_seconds=0.5) is None
    assert stack.process.poll() is not None


def _sigint_when(predicate: Callable[[], bool], stack: LaunchedStack, deadline_seconds: float) -> None:
    """Send Ctrl-C's SIGINT as soon as ``predicate`` holds; the stack must not have become ready by then."""
    give_up = time.monotonic() + deadline_seconds
    while not predicate():
        assert stack.process.poll() is None, "orders up exited before the interrupt"
        assert time.monotonic() < give_up, "start-up never reached the point to interrupt"
        time.sleep(0.02)
    stack.process.send_signal(signal.SIGINT)


def _accepts_connections(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_ctrl_c_while_the_stack_provisions_stops_it_and_says_so_in_one_line():
    """The AWS endpoint listens before the stack provisions its tables, state machines and pool, and well before the
    banner: Ctrl-C then stops the listeners that started, and prints one line instead of a traceback."""
    stack = launch({"ORDERS_CONSOLE_PORT": "0"}, os.environ, subprocess.PIPE)
    try:
        _sigint_when(lambda: _accepts_connections(stack.aws_port), stack, deadline_seconds=120)
        output, _ = stack.process.communicate(timeout=60)
    finally:
        stop(stack.process, deadline_seconds=10)

    assert output == "orders up: interrupted during start-up; stopped what had started\n"
    assert stack.process.returncode == 130
    assert _is_free(stack.aws_port) and _is_free(stack.api_port)


def test_ctrl_c_while_orders_up_is_still_importing_is_one_line_too():
    """The first second of ``orders`` goes to imports; Python's own import timing says when one has happened."""
    stack = launch({"ORDERS_CONSOLE_PORT": "0", "PYTHONPROFILEIMPORTTIME": "1"}, os.environ, subprocess.PIPE)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(stack.process.stdout), daemon=True)
    reader.start()
    try:
        _sigint_when(lambda: any(re.search(r"\|\s+boto3$", line) for line in list(lines)), stack, 120)
        stack.process.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        stop(stack.process, deadline_seconds=10)

    printed = [line for line in lines if not line.startswith("import time:")]
    assert len(printed) == 1 and re.fullmatch(r"orders( up)?: interrupted.*\n", printed[0]), printed
    assert stack.process.returncode == 130
