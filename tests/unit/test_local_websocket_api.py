"""The local WebSocket API's parts without a socket: what an authorizer's answer means, the ``@connections`` answers,
EventBridge's delivery to Lambda targets, and the moto adapter it needs (which must fail loudly once moto delivers to
functions itself)."""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.aws.apigatewaymanagementapi import connections as connections_module
from local.aws.apigatewaymanagementapi.connections import (
    MAX_MESSAGE_BYTES,
    ConnectionGoneError,
    LocalConnections,
    answer,
)
from local.aws.apigatewayv2.websocket_api import Handshake, Refusal, authorized_context, authorizer_event
from local.aws.awslambda.runner import LOCAL_REGION, Invocation, function_arn
from local.aws.events import lambda_targets
from local.aws.events.lambda_targets import LambdaRuleTargets
from local.aws.moto import LAMBDA_TARGET_LISTENERS, fidelity, install_time_scale

ALLOW = {
    "principalId": "sub-1",
    "policyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke"}]},
    "context": {"subject": "sub-1", "operator": "false"},
}


def authorizer_answer(answer: Any, function_error: str | None = None, status_code: int = 200) -> Invocation:
    return Invocation(json.dumps(answer).encode(), function_error=function_error, status_code=status_code)


@pytest.mark.parametrize(
    ("invocation", "status"),
    [
        (authorizer_answer({"errorMessage": "Unauthorized"}, "Unhandled"), HTTPStatus.UNAUTHORIZED),
        (authorizer_answer({"errorMessage": "boom"}, "Unhandled"), HTTPStatus.INTERNAL_SERVER_ERROR),
        (authorizer_answer({**ALLOW, "policyDocument": {"Statement": [{"Effect": "Deny"}]}}), HTTPStatus.FORBIDDEN),
        (authorizer_answer({"principalId": "sub-1"}), HTTPStatus.FORBIDDEN),
        (authorizer_answer({}, status_code=429), HTTPStatus.INTERNAL_SERVER_ERROR),
    ],
    ids=["unauthorized", "other-error", "deny", "no-policy", "throttled"],
)
def test_an_authorizer_answer_that_is_no_allow_refuses_the_handshake_as_api_gateway_does(invocation, status):
    refusal = authorized_context(invocation)

    assert isinstance(refusal, Refusal) and refusal.status == status


def test_an_allow_passes_the_context_and_the_principal_to_the_connect_route():
    assert authorized_context(authorizer_answer(ALLOW)) == {
        "subject": "sub-1",
        "operator": "false",
        "principalId": "sub-1",
    }


def test_the_authorizer_gets_a_request_event_with_the_token_query_and_the_connect_method_arn():
    event = authorizer_event(Handshake("c-1", {"Host": "127.0.0.1:3001"}, {"token": ["t-1"]}, "127.0.0.1"))

    assert event["type"] == "REQUEST"
    assert event["methodArn"].endswith("/$connect")
    assert event["queryStringParameters"] == {"token": "t-1"}
    assert event["requestContext"]["routeKey"] == "$connect"
    assert event["requestContext"]["connectionId"] == "c-1"


class RecordingSocket:
    def __init__(self) -> None:
        self.sent: list[str | bytes] = []
        self.closed: tuple[int, str] | None = None

    def send(self, message: str | bytes) -> None:
        if self.closed:
            raise OSError("closed")
        self.sent.append(message)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


@pytest.fixture
def connections() -> LocalConnections:
    return LocalConnections()


def test_a_post_reaches_an_open_socket_as_text_and_a_get_describes_it(connections):
    socket = RecordingSocket()
    connections.announce("c-1", "127.0.0.1", "pytest")
    connections.open("c-1", socket)

    assert answer(connections, "POST", "/@connections/c-1", b'{"status": "SHIPPED"}')[0] == 200
    status, _, described = answer(connections, "GET", "/prod/@connections/c-1", b"")

    assert socket.sent == ['{"status": "SHIPPED"}']
    assert status == 200
    assert json.loads(described)["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "pytest"}


def test_a_post_during_connect_waits_for_the_handshake_instead_of_finding_the_connection_gone(connections):
    """``$connect`` records the connection before the socket opens; a push in between must not delete it."""
    socket = RecordingSocket()
    connections.announce("c-1", "127.0.0.1", "pytest")
    opener = threading.Timer(0.05, connections.open, args=("c-1", socket))
    opener.start()

    connections.post("c-1", b"{}")

    opener.join()
    assert socket.sent == ["{}"]


@pytest.mark.parametrize("ending", ["refused", "closed", "never-announced"])
def test_a_post_to_a_connection_that_is_not_open_is_410_gone(connections, ending):
    if ending != "never-announced":
        connections.announce("c-1", "127.0.0.1", "pytest")
    if ending == "closed":
        connections.open("c-1", RecordingSocket())
    if ending in ("refused", "closed"):
        connections.refuse("c-1")

    status, headers, _ = answer(connections, "POST", "/@connections/c-1", b"{}")

    assert status == 410
    assert headers["x-amzn-ErrorType"] == "GoneException"
    with pytest.raises(ConnectionGoneError):
        connections.post("c-1", b"{}")


def test_a_socket_that_closed_under_a_post_is_gone(connections):
    socket = RecordingSocket()
    connections.announce("c-1", "127.0.0.1", "pytest")
    connections.open("c-1", socket)
    socket.close()

    assert answer(connections, "POST", "/@connections/c-1", b"{}")[0] == 410


def test_a_message_over_128_kb_is_413_and_delete_closes_the_socket(connections):
    socket = RecordingSocket()
    connections.announce("c-1", "127.0.0.1", "pytest")
    connections.open("c-1", socket)

    assert answer(connections, "POST", "/@connections/c-1", b"x" * (MAX_MESSAGE_BYTES + 1))[0] == 413
    assert answer(connections, "DELETE", "/@connections/c-1", b"")[0] == 204
    assert socket.closed == (1000, "closed by the service")
    assert answer(connections, "GET", "/orders", b"") is None, "not a @connections path: moto answers it"


def test_the_pending_wait_is_bounded(connections, monkeypatch):
    monkeypatch.setattr(connections_module, "OPENING_GRACE_SECONDS", 0.01)
    connections.announce("c-1", "127.0.0.1", "pytest")

    with pytest.raises(ConnectionGoneError):
        connections.post("c-1", b"{}")


# --- EventBridge's delivery to Lambda targets -------------------------------------------------------------------------


def test_moto_still_refuses_to_deliver_to_a_lambda_target_which_is_why_the_adapter_exists():
    """The loud failure on a moto upgrade: once moto delivers to functions itself, remove the adapter."""
    source = inspect.getsource(fidelity._send_to_targets)
    assert fidelity._send_to_targets.__qualname__ == "Rule.send_to_targets"
    assert 'raise NotImplementedError(f"Expr not defined for {type(self)}")' in source
    assert 'arn.service == "lambda"' not in source
    assert list(inspect.signature(fidelity._send_to_targets).parameters) == [
        "self",
        "original_event",
        "transform_input",
    ]


@pytest.fixture
def bus() -> Iterator[Any]:
    install_time_scale()
    with mock_aws():
        events = boto3.client("events", region_name=LOCAL_REGION)
        sqs = boto3.client("sqs", region_name=LOCAL_REGION)
        events.create_event_bus(Name="orders")
        yield events, sqs


def test_a_rule_delivers_its_lambda_targets_events_to_the_listeners_and_its_other_targets_as_before(bus):
    events, sqs = bus
    queue_url = sqs.create_queue(QueueName="copy")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="to-push", EventBusName="orders", EventPattern=json.dumps({"source": ["orders"]}))
    retry = {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 300}
    events.put_targets(
        Rule="to-push",
        EventBusName="orders",
        Targets=[
            {"Id": "push", "Arn": function_arn("PushOrderStatus"), "RetryPolicy": retry},
            {"Id": "copy", "Arn": queue_arn},
        ],
    )
    received: list[tuple[dict, dict]] = []
    LAMBDA_TARGET_LISTENERS.append(lambda target, event: received.append((target, event)))
    try:
        entry = {"Source": "orders", "DetailType": "OrderStatusChanged", "Detail": '{"orderId": "o-1"}'}
        assert events.put_events(Entries=[{**entry, "EventBusName": "orders"}])["FailedEntryCount"] == 0
        assert (
            events.put_events(Entries=[{**entry, "Source": "other", "EventBusName": "orders"}])["FailedEntryCount"] == 0
        )
    finally:
        LAMBDA_TARGET_LISTENERS.pop()

    [(target, event)] = received
    assert target["Arn"] == function_arn("PushOrderStatus") and target["RetryPolicy"] == retry
    assert event["detail"] == {"orderId": "o-1"} and event["detail-type"] == "OrderStatusChanged"
    assert len(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])) == 1


class FlakyRunner:
    """Fails its first ``failures`` invocations, as a function error; counts every one."""

    def __init__(self, failures: int):
        self.functions = {"PushOrderStatus": object()}
        self.failures = failures
        self.payloads: list[bytes] = []
        self.done = threading.Event()

    def invoke(self, function_name: str, payload: bytes) -> Invocation:
        self.payloads.append(payload)
        if len(self.payloads) <= self.failures:
            return Invocation(b'{"errorMessage": "boom"}', function_error="Unhandled")
        self.done.set()
        return Invocation(b"{}")


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setattr(lambda_targets, "FIRST_RETRY_SECONDS", 0.001)


def deliver(runner: FlakyRunner, retry_attempts: int) -> None:
    targets = LambdaRuleTargets(runner)  # type: ignore[arg-type]
    target = {"Arn": function_arn("PushOrderStatus"), "RetryPolicy": {"MaximumRetryAttempts": retry_attempts}}
    targets._deliver(target, b'{"detail": {}}', received_at=time.monotonic())
    targets.stop()


def test_a_failing_invocation_is_retried_until_it_succeeds(quick_retries):
    runner = FlakyRunner(failures=2)

    deliver(runner, retry_attempts=2)

    assert len(runner.payloads) == 3 and runner.done.is_set()


def test_an_event_is_dropped_after_the_targets_retry_attempts(quick_retries, caplog):
    runner = FlakyRunner(failures=10)

    deliver(runner, retry_attempts=2)

    assert len(runner.payloads) == 3 and not runner.done.is_set()
    assert "dropped after 3 attempts" in caplog.text


def test_events_for_functions_the_runner_does_not_serve_are_left_alone():
    runner = FlakyRunner(failures=0)
    targets = LambdaRuleTargets(runner)  # type: ignore[arg-type]
    targets.start()
    try:
        for listener in list(LAMBDA_TARGET_LISTENERS):
            listener({"Arn": function_arn("SomeoneElsesFunction")}, {"detail": {}})
    finally:
        targets.stop()

    assert runner.payloads == []
