"""Races between the engine's threads and the callers of its API, each forced at the exact moment it happens.

Under load these hit a few orders in a few hundred; here an event holds the engine at the moment in question while
the test acts, so each race happens on every run.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker import BranchWorker
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.utils import TMP_THREADS

from local.aws.awslambda.runner import LOCAL_REGION, LambdaRunner, function_arn
from local.aws.moto import install_time_scale, quiet_engine_logs
from local.provisioning import LOCAL_ROLE_ARN
from local.testkit.fixtures import poll

from .sample_handlers import ECHO

HEARTBEAT_SECONDS = 60
"""Real seconds (the tests run at time scale 1): a task that waits out its heartbeat fails every deadline here."""
DEADLINE_SECONDS = 5.0

WAIT_FOR_THE_WAREHOUSE = {
    "StartAt": "RequestShipment",
    "States": {
        "RequestShipment": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": function_arn(ECHO.logical_name),
                "Payload": {"taskToken.$": "$$.Task.Token"},
            },
            "TimeoutSeconds": 2 * HEARTBEAT_SECONDS,
            "HeartbeatSeconds": HEARTBEAT_SECONDS,
            "End": True,
        }
    },
}
"""The order workflow's RequestShipment: a Lambda hands the token out, then the task waits for it with a heartbeat."""

CHILD = {"StartAt": "Prepared", "States": {"Prepared": {"Type": "Pass", "Result": {"prepared": True}, "End": True}}}


def start_a_child_and_wait(child_arn: str) -> dict[str, Any]:
    """The order workflow's PrepareOrder: a nested execution, waited for with ``.sync:2``."""
    return {
        "StartAt": "PrepareOrder",
        "States": {
            "PrepareOrder": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": child_arn, "Input": {"orderId.$": "$.orderId"}},
                "End": True,
            }
        },
    }


def test_moto_still_races_as_the_engine_fixes_assume():
    """The loud failure on a moto upgrade: the callback still looks for a heartbeat wait after recording its outcome,
    a task still sets that wait up after its call returned, and still pops its TimeoutSeconds right after evaluating
    it, an evaluation moto still skips once the execution stopped; and a program's first step is still to set its
    first state, which raises RuntimeError on an environment that stopped."""
    callback_notifies = inspect.getsource(CallbackEndpoint.notify)
    assert "self._notify_event.set()\n        if self._heartbeat_endpoint:" in callback_notifies
    integration_pattern = inspect.getsource(state_task_service_callback)
    assert "callback_endpoint.setup_heartbeat_endpoint(" in integration_pattern
    assert "self.timeout.eval(env=env)\n        timeout_seconds = env.stack.pop()" in integration_pattern
    assert "if env.is_running():" in inspect.getsource(EvalComponent.eval)
    assert inspect.getsource(Program).count("env.next_state_name = self.start_at.start_at_name") == 1
    assert "raise RuntimeError(" in inspect.getsource(Environment.next_state_name.fset)


@pytest.fixture
def stepfunctions() -> Iterator[Any]:
    """moto's engine, adapted as the local stack runs it, at real time, with the Echo function deployed."""
    quiet_engine_logs()
    install_time_scale(1)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        runner = LambdaRunner([ECHO])
        runner.install()
        try:
            yield boto3.client("stepfunctions", region_name=LOCAL_REGION)
        finally:
            runner.uninstall()


def create(stepfunctions: Any, name: str, definition: dict[str, Any]) -> str:
    return stepfunctions.create_state_machine(name=name, definition=json.dumps(definition), roleArn=LOCAL_ROLE_ARN)[
        "stateMachineArn"
    ]


def ended(stepfunctions: Any, execution_arn: str) -> dict[str, Any] | None:
    execution = stepfunctions.describe_execution(executionArn=execution_arn)
    return None if execution["status"] == "RUNNING" else execution


def stop_if_running(stepfunctions: Any, execution_arn: str) -> None:
    """A task still waiting holds an engine thread for its whole heartbeat; stopping the execution releases it."""
    if ended(stepfunctions, execution_arn) is None:
        stepfunctions.stop_execution(executionArn=execution_arn)


def test_a_callback_sent_before_the_heartbeat_wait_is_set_up_ends_the_task_at_once(stepfunctions, monkeypatch):
    """The warehouse may answer between the Lambda's return and the start of the heartbeat wait; the task must take
    that answer at once instead of waiting out ``HeartbeatSeconds`` and then failing with States.HeartbeatTimeout."""
    in_the_gap = threading.Event()
    callback_sent = threading.Event()
    tokens: list[str] = []
    set_up_heartbeat_endpoint = CallbackEndpoint.setup_heartbeat_endpoint

    def set_up_after_the_callback(endpoint: CallbackEndpoint, heartbeat_seconds: int) -> Any:
        tokens.append(endpoint.callback_id)
        in_the_gap.set()
        callback_sent.wait(DEADLINE_SECONDS)
        return set_up_heartbeat_endpoint(endpoint, heartbeat_seconds)

    monkeypatch.setattr(CallbackEndpoint, "setup_heartbeat_endpoint", set_up_after_the_callback)
    machine = create(stepfunctions, "wait-for-the-warehouse", WAIT_FOR_THE_WAREHOUSE)
    execution_arn = stepfunctions.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    try:
        assert in_the_gap.wait(DEADLINE_SECONDS), "the task reached the set-up of its heartbeat wait"
        try:
            stepfunctions.send_task_success(taskToken=tokens[0], output=json.dumps({"trackingNumber": "1Z"}))
        finally:
            callback_sent.set()
        execution = poll(
            lambda: ended(stepfunctions, execution_arn),
            deadline=DEADLINE_SECONDS,
            what=f"the execution to end well before its {HEARTBEAT_SECONDS} s heartbeat",
        )
    finally:
        stop_if_running(stepfunctions, execution_arn)

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"trackingNumber": "1Z"}


@pytest.fixture
def thread_deaths(monkeypatch: pytest.MonkeyPatch) -> list[threading.ExceptHookArgs]:
    """The exceptions that ended a thread during the test, instead of pytest's warning about them afterwards."""
    deaths: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", deaths.append)
    return deaths


def join_the_threads_named(prefix: str, deadline: float) -> list[threading.Thread]:
    threads = [thread for thread in TMP_THREADS if thread.name.startswith(prefix)]
    for thread in threads:
        thread.join(deadline)
    return threads


def stop_before(stepfunctions: Any) -> Callable[..., None]:
    """``_eval_integration_pattern`` after StopExecution: the task's call returned, and the execution stopped."""
    evaluate_integration_pattern = StateTaskServiceCallback._eval_integration_pattern

    def stopped_then_evaluated(task: StateTaskServiceCallback, env: Any, *args: Any, **kwargs: Any) -> None:
        execution_arn = env.states.context_object.context_object_data["Execution"]["Id"]
        stepfunctions.stop_execution(executionArn=execution_arn, error="OpsStop", cause="stopped by ops")
        evaluate_integration_pattern(task, env, *args, **kwargs)

    return stopped_then_evaluated


def test_stopping_a_sync_task_right_after_its_child_started_kills_no_thread(stepfunctions, monkeypatch, thread_deaths):
    """A stop that lands after StartExecution returned and before the task evaluated its TimeoutSeconds left moto's
    ``.sync:2`` callback thread waiting with the task's input (a dict) as its timeout: it died with a TypeError."""
    parent = create(stepfunctions, "prepare-order", start_a_child_and_wait(create(stepfunctions, "child", CHILD)))
    monkeypatch.setattr(StateTaskServiceCallback, "_eval_integration_pattern", stop_before(stepfunctions))

    execution_arn = stepfunctions.start_execution(stateMachineArn=parent, input=json.dumps({"orderId": "o-1"}))[
        "executionArn"
    ]
    execution = poll(lambda: ended(stepfunctions, execution_arn), deadline=DEADLINE_SECONDS, what="the stop")
    waits = join_the_threads_named("WaitForTaskToken_SyncTask_", DEADLINE_SECONDS)

    assert execution["status"] == "ABORTED"
    assert waits, "the .sync:2 task started its callback thread"
    assert not [thread for thread in waits if thread.is_alive()], "every callback thread ended"
    assert [str(death.exc_value) for death in thread_deaths] == []


TWO_BRANCHES = {
    "StartAt": "AuthorizeAndReserve",
    "States": {
        "AuthorizeAndReserve": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": name, "States": {name: {"Type": "Pass", "End": True}}}
                for name in ("AuthorizePayment", "ReserveInventory")
            ],
            "End": True,
        }
    },
}
"""The order preparation's Parallel state: each branch runs as a program of its own, on its own thread."""


def stop_before_the_branches_begin(stepfunctions: Any) -> Callable[..., None]:
    """``BranchWorker.start`` after StopExecution: the branch's frame is open, and its program has not begun."""
    start_branch = BranchWorker.start

    def stopped_then_started(worker: BranchWorker) -> None:
        execution_arn = worker.env.states.context_object.context_object_data["Execution"]["Id"]
        stepfunctions.stop_execution(executionArn=execution_arn, error="OpsStop", cause="stopped by ops")
        start_branch(worker)

    return stopped_then_started


@pytest.mark.parametrize("machine_type", ["STANDARD", "EXPRESS"])
def test_stopping_an_execution_before_its_parallel_branches_begin_kills_no_thread(
    stepfunctions, monkeypatch, thread_deaths, machine_type
):
    """A branch whose frame was stopped before its program began failed to set its first state (a RuntimeError):
    its thread died, and in a Standard execution the Parallel state then waited for that branch for ever."""
    machine = stepfunctions.create_state_machine(
        name=f"parallel-{machine_type.lower()}",
        definition=json.dumps(TWO_BRANCHES),
        roleArn=LOCAL_ROLE_ARN,
        type=machine_type,
    )["stateMachineArn"]
    monkeypatch.setattr(BranchWorker, "start", stop_before_the_branches_begin(stepfunctions))

    execution_arn = stepfunctions.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    execution = poll(lambda: ended(stepfunctions, execution_arn), deadline=DEADLINE_SECONDS, what="the stop")
    branches = join_the_threads_named("BranchWorker_", DEADLINE_SECONDS)

    assert execution["status"] == "ABORTED"
    assert branches, "the Parallel state started its branches"
    assert not [thread for thread in branches if thread.is_alive()], "every branch ended"
    assert [str(death.exc_value) for death in thread_deaths] == []
