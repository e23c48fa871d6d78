"""The in-process Lambda runner answers Invoke as Lambda does: payloads, the error contract, timeouts, environment."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from botocore.exceptions import ClientError
from moto import mock_aws

from local.aws.awslambda import runner as lambda_runner
from local.aws.awslambda.runner import (
    LOCAL_REGION,
    LambdaRunner,
    PowertoolsChangedError,
    check_powertools_router_events,
    function_arn,
    function_name_from,
    merged_environment,
)
from local.testkit.fixtures import poll
from workflows.resources import FunctionSpec

from . import sample_handlers
from .sample_handlers import BUSY, PATIENT, READ_ENVIRONMENT, SAMPLE_FUNCTIONS, sample_function

SAMPLE_MODULE = sample_handlers.__name__
HANG_GUARD_SECONDS = 30.0
"""How long a test waits for another thread before it calls that a hang; never what a test measures."""


@pytest.fixture
def runner() -> Iterator[LambdaRunner]:
    """The runner installed over moto, removed again afterwards."""
    runner = LambdaRunner(SAMPLE_FUNCTIONS, environment={"UNIT_RUNNER_SETTING": "from-the-runner"})
    with mock_aws():
        runner.install()
        try:
            yield runner
        finally:
            runner.uninstall()


@pytest.fixture
def lambda_client(runner: LambdaRunner) -> Any:
    return boto3.client("lambda", region_name=LOCAL_REGION)


def invoke(client: Any, function_name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    """Invoke and return the response and its decoded payload."""
    response = client.invoke(FunctionName=function_name, Payload=json.dumps(event or {}).encode(), **kwargs)
    return response, json.loads(response["Payload"].read())


def test_invoke_returns_the_handlers_result_as_the_payload(lambda_client):
    response, payload = invoke(lambda_client, "Echo", {"orderId": "o-1"})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert payload == {"event": {"orderId": "o-1"}, "functionName": "Echo"}


def test_invoke_by_arn_reaches_the_same_function(lambda_client):
    _, payload = invoke(lambda_client, function_arn("Echo"), {"n": 1})

    assert payload == {"event": {"n": 1}, "functionName": "Echo"}


def test_an_exception_is_an_unhandled_function_error_named_after_its_class(lambda_client):
    response, payload = invoke(lambda_client, "Fail", {"orderId": "o-1"})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "SampleTaskError"
    assert payload["errorMessage"] == "failed on purpose for o-1"
    assert payload["stackTrace"]


def test_a_handler_that_outlives_its_timeout_is_sandbox_timedout(lambda_client):
    response, payload = invoke(lambda_client, "Slow")

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"] == "Task timed out after 1.00 seconds"


def test_a_handler_that_raises_after_its_timeout_is_still_sandbox_timedout(lambda_client):
    response, payload = invoke(lambda_client, "SlowFailure")

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"


class FunctionClock:
    """The runner's clock, which the test moves on: a function uses its seconds when the test says so, however fast or
    slow the machine runs it."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped


def test_time_spent_waiting_for_a_container_does_not_count_against_the_timeout(monkeypatch):
    """Lambda starts a function's clock when a container runs it. Patient (30 s) has one container: the first
    invocation holds it until the second waits for it, then each uses 60% of the timeout on the runner's clock.
    Counted from the invoke, the second one's wait and run would outlive its timeout."""
    clock = FunctionClock()
    monkeypatch.setattr(lambda_runner, "time", clock)
    runner = LambdaRunner(SAMPLE_FUNCTIONS, max_containers=1)
    used_seconds = PATIENT.timeout_seconds * 0.6

    def use_most_of_the_timeout(spec: FunctionSpec, event: Any) -> None:
        if event.get("first"):
            poll(
                lambda: runner._waiting[PATIENT.logical_name],
                deadline=HANG_GUARD_SECONDS,
                what="the second invocation to wait for the container",
            )
        clock.skipped += used_seconds

    runner.before_invoke.append(use_most_of_the_timeout)
    with mock_aws():
        runner.install()
        try:
            client = boto3.client("lambda", region_name=LOCAL_REGION)
            with ThreadPoolExecutor(max_workers=2) as pool:
                first = pool.submit(invoke, client, "Patient", {"first": True})
                poll(
                    lambda: runner.containers("Patient") == 1,
                    deadline=HANG_GUARD_SECONDS,
                    what="the first invocation to take the container",
                )
                second = pool.submit(invoke, client, "Patient")
                results = [first.result(timeout=HANG_GUARD_SECONDS), second.result(timeout=HANG_GUARD_SECONDS)]
        finally:
            runner.uninstall()

    assert runner.containers("Patient") == 1
    assert not any("FunctionError" in response for response, _ in results), results
    left = (PATIENT.timeout_seconds - used_seconds) * 1000
    assert all(0 < payload["remainingMillis"] <= left for _, payload in results), "each used 60% of its timeout"


def test_time_spent_in_before_invoke_hooks_counts_against_the_timeout(runner, lambda_client):
    """Injected latency is the function being slow: 0.5 s of hook and 0.6 s of handler outlive a 1 s timeout."""
    runner.before_invoke.append(lambda spec, event: time.sleep(0.5))

    response, payload = invoke(lambda_client, "Busy")

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"


def test_a_result_json_cannot_hold_is_a_marshal_error(lambda_client):
    response, payload = invoke(lambda_client, "Unserializable")

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.MarshalError"


def test_a_payload_that_is_not_json_is_an_unmarshal_error(lambda_client):
    response = lambda_client.invoke(FunctionName="Echo", Payload=b"{not json")

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.UnmarshalError"


def test_an_unknown_function_is_resource_not_found(lambda_client):
    with pytest.raises(ClientError) as missing:
        lambda_client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")

    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_invocations_one_after_another_reuse_one_warm_container(runner, lambda_client, monkeypatch):
    """Like Lambda: the module's code runs once, and later invocations find the state it left."""
    monkeypatch.delitem(sys.modules, SAMPLE_MODULE, raising=False)

    for n in range(3):
        invoke(lambda_client, "Echo", {"n": n})
    invoke(lambda_client, "Fail")

    assert sys.modules[SAMPLE_MODULE].IMPORTS == 1
    assert (runner.containers("Echo"), runner.containers("Fail")) == (1, 1)
    assert (runner.invocations["Echo"], runner.invocations["Fail"]) == (3, 1)


def test_before_invoke_hooks_run_before_the_handler_and_see_its_event(runner, lambda_client):
    def mark(spec: FunctionSpec, event: Any) -> None:
        event["seenByHook"] = spec.logical_name

    runner.before_invoke.append(mark)

    _, payload = invoke(lambda_client, "Echo", {"orderId": "o-1"})

    assert payload["event"] == {"orderId": "o-1", "seenByHook": "Echo"}


def test_an_exception_in_a_before_invoke_hook_is_the_function_error(runner, lambda_client):
    class InjectedFaultError(Exception):
        pass

    def inject(spec: FunctionSpec, event: Any) -> None:
        raise InjectedFaultError(f"injected into {spec.logical_name}")

    runner.before_invoke.append(inject)

    response, payload = invoke(lambda_client, "Echo")

    assert response["FunctionError"] == "Unhandled"
    assert (payload["errorType"], payload["errorMessage"]) == ("InjectedFaultError", "injected into Echo")


def test_the_environment_is_applied_on_install_and_restored_on_uninstall(monkeypatch):
    monkeypatch.setenv("UNIT_RUNNER_EXISTING", "before")
    monkeypatch.delenv("UNIT_RUNNER_NEW", raising=False)
    runner = LambdaRunner([READ_ENVIRONMENT], {"UNIT_RUNNER_EXISTING": "runner", "UNIT_RUNNER_NEW": "runner"})
    names = ["UNIT_RUNNER_EXISTING", "UNIT_RUNNER_NEW"]

    with mock_aws():
        runner.install()
        try:
            _, seen = invoke(boto3.client("lambda", region_name=LOCAL_REGION), "ReadEnvironment", {"names": names})
        finally:
            runner.uninstall()

    assert seen == {"UNIT_RUNNER_EXISTING": "runner", "UNIT_RUNNER_NEW": "runner"}
    assert os.environ["UNIT_RUNNER_EXISTING"] == "before"
    assert "UNIT_RUNNER_NEW" not in os.environ


def test_uninstall_stops_answering_invoke(runner):
    runner.uninstall()

    with pytest.raises(ClientError) as unanswered:
        boto3.client("lambda", region_name=LOCAL_REGION).invoke(FunctionName="Echo", Payload=b"{}")

    assert unanswered.value.response["Error"]["Code"] == "ResourceNotFoundException", "moto's own Lambda answers"


def test_merged_environment_joins_agreeing_functions_and_refuses_a_conflict():
    first, second = sample_function("First", "echo"), sample_function("Second", "echo")

    merged = merged_environment([first, second], {"First": {"A": "1", "B": "2"}, "Second": {"A": "1", "C": "3"}})
    assert merged == {"A": "1", "B": "2", "C": "3"}

    with pytest.raises(ValueError, match=r"functions disagree on A: '1' and '9' \(Second\)"):
        merged_environment([first, second], {"First": {"A": "1"}, "Second": {"A": "9"}})


@pytest.mark.parametrize(
    "reference",
    [
        "ValidateOrder",
        "ValidateOrder:$LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:ValidateOrder",
        "arn:aws:lambda:us-east-1:123456789012:function:ValidateOrder:live",
        "123456789012:function:ValidateOrder",
    ],
)
def test_function_name_from_accepts_every_form_invoke_accepts(reference):
    assert function_name_from(reference) == "ValidateOrder"


def whoami_event(sub: str) -> dict[str, Any]:
    return {
        "httpMethod": "POST",
        "path": "/whoami",
        "resource": "/whoami",
        "headers": {},
        "body": "{}",
        "requestContext": {"authorizer": {"claims": {"sub": sub}}, "httpMethod": "POST", "path": "/whoami"},
    }


def test_concurrent_api_requests_in_eight_containers_each_see_only_their_own_caller(runner, lambda_client):
    """Powertools keeps the current event on a class every container's module copy shares. Eight shoppers' requests
    are all inside ``resolve`` at once (each waits at a barrier between its two reads of the caller): shared, the
    last request's caller replaces the others'; one at a time, the barrier breaks after its deadline."""
    every_request_resolving = threading.Barrier(8, timeout=HANG_GUARD_SECONDS)

    def hand_over_the_barrier(spec: FunctionSpec, event: Any) -> None:
        event["everyRequestResolving"] = every_request_resolving

    runner.before_invoke.append(hand_over_the_barrier)

    def ask(sub: str) -> Any:
        response, payload = invoke(lambda_client, "WhoAmI", whoami_event(sub))
        return json.loads(payload["body"]) if "FunctionError" not in response else payload["errorType"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, [f"shopper-{n}" for n in range(8)]))

    assert answers == [{"before": f"shopper-{n}", "after": f"shopper-{n}"} for n in range(8)]
    assert runner.containers("WhoAmI") == 8


def test_each_thread_reads_the_event_it_set_not_another_threads(runner):
    """The adapter itself: both threads set ``BaseRouter.current_event`` before either reads it back, on the class
    and through a resolver; shared, both would read the second one's."""
    both_set = threading.Barrier(2, timeout=HANG_GUARD_SECONDS)
    seen: dict[str, tuple[Any, Any]] = {}

    def set_then_read(name: str) -> None:
        BaseRouter.current_event = f"{name}'s event"
        both_set.wait()
        seen[name] = (BaseRouter.current_event, APIGatewayRestResolver().current_event)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(set_then_read, ["first", "second"]))

    assert seen == {"first": ("first's event",) * 2, "second": ("second's event",) * 2}


def test_powertools_still_keeps_the_resolved_event_on_its_router_class():
    """Pinned: if a Powertools release keeps the event elsewhere, this fails and so does every runner install."""
    check_powertools_router_events(APIGatewayRestResolver)


def test_a_resolver_keeping_its_event_elsewhere_stops_the_adapter_loudly():
    class EventOnTheResolver(APIGatewayRestResolver):
        def resolve(self, event: Any, context: Any) -> dict[str, Any]:
            self.event_being_resolved = event
            return {}

    class EventDefinedBelowTheRouter(APIGatewayRestResolver):
        current_event = None

    with pytest.raises(PowertoolsChangedError, match=r"no longer sets BaseRouter.current_event.*lambda_context"):
        check_powertools_router_events(EventOnTheResolver)
    with pytest.raises(PowertoolsChangedError, match="EventDefinedBelowTheRouter defines current_event itself"):
        check_powertools_router_events(EventDefinedBelowTheRouter)


class WaitsThatTimeOutAtOnce:
    """Container waiters whose wait ends at once, unanswered, as if the whole timeout had passed: the test sees how
    long the runner asked to wait (``asked``) without waiting that long on the machine's clock."""

    def __init__(self) -> None:
        self.asked: list[float | None] = []

    def __call__(self) -> Any:
        asked = self.asked

        class TimedOutAtOnce(threading.Event):
            def wait(self, timeout: float | None = None) -> bool:
                asked.append(timeout)
                return self.is_set()

        return ORIGINAL_CONTAINER_WAITER(handed_over=TimedOutAtOnce())


ORIGINAL_CONTAINER_WAITER = lambda_runner._ContainerWaiter


def test_an_invocation_that_waits_a_whole_timeout_for_a_container_is_throttled_as_lambda_throttles(monkeypatch):
    """Lambda throttles a function without concurrency left (429 TooManyRequestsException) instead of queueing the
    invocation; locally the wait for a container lasts the function's timeout (Busy: 1 s), then gets that answer,
    while the only container is still busy."""
    waits = WaitsThatTimeOutAtOnce()
    monkeypatch.setattr(lambda_runner, "_ContainerWaiter", waits)
    runner = LambdaRunner(SAMPLE_FUNCTIONS, max_containers=1)
    holding, release = threading.Event(), threading.Event()

    def hold_the_only_container(spec: FunctionSpec, event: Any) -> None:
        if event.get("hold"):
            holding.set()
            release.wait(timeout=HANG_GUARD_SECONDS)

    runner.before_invoke.append(hold_the_only_container)
    with mock_aws():
        runner.install()
        try:
            client = boto3.client("lambda", region_name=LOCAL_REGION)
            with ThreadPoolExecutor(max_workers=2) as pool:
                held = pool.submit(invoke, client, "Busy", {"hold": True})
                assert holding.wait(timeout=HANG_GUARD_SECONDS), "the first invocation never started"
                try:
                    with pytest.raises(ClientError) as throttled:
                        pool.submit(invoke, client, "Busy").result(timeout=HANG_GUARD_SECONDS)
                    still_held = not release.is_set()
                finally:
                    release.set()
                held.result(timeout=HANG_GUARD_SECONDS)
        finally:
            runner.uninstall()

    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert waits.asked == [BUSY.timeout_seconds], "waited for a container as long as the function's timeout"
    assert still_held, "throttled while the first invocation still held the container"
    assert runner.containers("Busy") == 1


def test_past_its_reserved_concurrency_a_function_is_throttled_at_once_as_lambda_throttles_it(monkeypatch):
    """Reserved: one concurrent execution, a 30 s timeout. Without the reservation the second invocation would wait
    for the container (up to 30 s); with it, Lambda answers 429 while the first still runs, without waiting."""
    waits = WaitsThatTimeOutAtOnce()
    monkeypatch.setattr(lambda_runner, "_ContainerWaiter", waits)
    runner = LambdaRunner(SAMPLE_FUNCTIONS)
    holding, release = threading.Event(), threading.Event()

    def hold_the_reserved_container(spec: FunctionSpec, event: Any) -> None:
        if event.get("hold"):
            holding.set()
            release.wait(timeout=HANG_GUARD_SECONDS)

    runner.before_invoke.append(hold_the_reserved_container)
    with mock_aws():
        runner.install()
        try:
            client = boto3.client("lambda", region_name=LOCAL_REGION)
            with ThreadPoolExecutor(max_workers=2) as pool:
                held = pool.submit(invoke, client, "Reserved", {"hold": True})
                assert holding.wait(timeout=HANG_GUARD_SECONDS), "the first invocation never started"
                try:
                    with pytest.raises(ClientError) as throttled:
                        pool.submit(invoke, client, "Reserved").result(timeout=HANG_GUARD_SECONDS)
                finally:
                    release.set()
                held.result(timeout=HANG_GUARD_SECONDS)
            _, after = invoke(client, "Reserved", {"n": 2})
        finally:
            runner.uninstall()

    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert waits.asked == [], "throttled without waiting for the container"
    assert runner.containers("Reserved") == 1
    assert after["event"] == {"n": 2}, "the container serves again once it is free"
