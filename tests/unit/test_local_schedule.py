"""The local EventBridge Scheduler: runs its function through the runner on the virtual clock, and stops at once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from local.aws.awslambda.runner import LambdaRunner
from local.aws.moto import CLOCK, install_time_scale
from local.aws.scheduler.schedule import MIN_REAL_PERIOD_SECONDS, LocalSchedule, reconciler_schedule
from workflows.resources import STRANDED_ORDER_SCHEDULE

from .sample_handlers import ECHO, FAIL

DEADLINE_SECONDS = 20.0
AN_HOUR = 3600.0


@pytest.fixture
def runner() -> LambdaRunner:
    return LambdaRunner((ECHO, FAIL))


@pytest.fixture
def factor() -> Iterator[None]:
    """Whatever a test sets, the clock runs at 1 afterwards."""
    yield
    install_time_scale(1)


@pytest.mark.usefixtures("factor")
def test_a_schedule_invokes_its_function_through_the_runner_with_the_event_of_each_run(runner):
    install_time_scale(60_000)
    runs = iter(range(100))
    schedule = LocalSchedule(runner, ECHO.logical_name, 60, lambda: {"run": next(runs)})
    schedule.start()
    try:
        last = schedule.wait_for_runs(3, deadline=DEADLINE_SECONDS)
    finally:
        schedule.stop()

    assert json.loads(last.payload) == {"event": {"run": 2}, "functionName": ECHO.logical_name}
    assert runner.invocations[ECHO.logical_name] == schedule.runs >= 3


@pytest.mark.usefixtures("factor")
def test_a_failing_run_is_counted_and_the_schedule_goes_on(runner):
    install_time_scale(60_000)
    schedule = LocalSchedule(runner, FAIL.logical_name, 60, dict)
    schedule.start()
    try:
        last = schedule.wait_for_runs(2, deadline=DEADLINE_SECONDS)
    finally:
        schedule.stop()

    assert last.function_error == "Unhandled"
    assert json.loads(last.payload)["errorType"] == "SampleTaskError"


def test_stop_ends_the_thread_while_it_waits_out_a_long_period(runner):
    schedule = LocalSchedule(runner, ECHO.logical_name, AN_HOUR, dict)
    schedule.start()
    assert schedule.running

    schedule.stop()

    assert not schedule.running, "stop() wakes the wait on the Event instead of waiting out the hour"
    assert (schedule.runs, runner.invocations[ECHO.logical_name]) == (0, 0)


@pytest.mark.usefixtures("factor")
def test_the_period_is_divided_by_the_time_scale_of_the_moment_down_to_a_floor(runner):
    schedule = LocalSchedule(runner, ECHO.logical_name, 60, dict)

    periods = []
    for scale in (1, 1000, 1_000_000):
        install_time_scale(scale)
        periods.append(schedule.real_period_seconds)

    assert periods == [60, 0.06, MIN_REAL_PERIOD_SECONDS]


@pytest.mark.usefixtures("factor")
def test_the_reconciler_is_sent_the_age_scaled_like_its_period_and_never_below_a_floor(runner):
    where_the_api_runs = reconciler_schedule(runner, at_least_seconds=10)
    in_the_test_stack = reconciler_schedule(runner)

    install_time_scale(1000)
    scaled = (where_the_api_runs._event(), in_the_test_stack._event())
    install_time_scale(1)
    unscaled = where_the_api_runs._event()

    assert scaled == (
        {"strandedAfterSeconds": 10.0, "maxStartAttempts": STRANDED_ORDER_SCHEDULE.max_start_attempts},
        {"strandedAfterSeconds": 0.12, "maxStartAttempts": STRANDED_ORDER_SCHEDULE.max_start_attempts},
    )
    assert unscaled == STRANDED_ORDER_SCHEDULE.event()
    assert in_the_test_stack.real_period_seconds == CLOCK.real_seconds(STRANDED_ORDER_SCHEDULE.every_seconds) == 60
