"""Starting, waiting for and stopping a stack process: the deadlines hold and a dead stack is reported, not awaited."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from local.launcher import LaunchedStack, StackNotReadyError, stop, wait_until_ready

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
)


def _python(program: str) -> LaunchedStack:
    process = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    return LaunchedStack(process, api_port=0, aws_port=0)


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
