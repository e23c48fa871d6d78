"""Each caller's SDK settings give up on AWS inside its Lambda timeout, and reach the clients the adapters build."""

from __future__ import annotations

import pytest

from tasks.adapters.aws_sdk import API_CALLS, STREAM_CALLS, TASK_CALLS, SdkSettings, calls_as, client_for
from tasks.adapters.dynamodb import dynamodb_client
from workflows.resources import API, PUBLISH_ORDER_EVENTS, WORKFLOW_FUNCTIONS, FunctionSpec


def longest_wait(settings: SdkSettings) -> float:
    """Every attempt waits out its connect and read timeouts, and standard mode's jittered backoff takes its most
    before each retry (up to 2 ** (retry - 1) seconds)."""
    attempts = settings.total_attempts * (settings.connect_timeout_seconds + settings.read_timeout_seconds)
    return attempts + sum(2**retry for retry in range(settings.total_attempts - 1))


@pytest.mark.parametrize(
    ("settings", "functions"),
    [(API_CALLS, (API,)), (TASK_CALLS, WORKFLOW_FUNCTIONS), (STREAM_CALLS, (PUBLISH_ORDER_EVENTS,))],
    ids=["api", "tasks", "stream"],
)
def test_a_call_aws_never_answers_fails_inside_the_callers_lambda_timeout(
    settings: SdkSettings, functions: tuple[FunctionSpec, ...]
):
    """Past its timeout Lambda cuts the function off: API Gateway answers 502, a task fails with Sandbox.Timedout,
    which no Retry names. Giving up first lets the API answer 503 and a task raise the error its state retries."""
    assert longest_wait(settings) < min(spec.timeout_seconds for spec in functions) - 2, "room for the rest"


def test_the_api_handlers_calls_get_the_apis_settings_and_everything_else_the_tasks():
    with calls_as(API_CALLS):
        api_client = dynamodb_client()
    task_client = dynamodb_client()

    assert api_client is client_for("dynamodb", API_CALLS)
    assert task_client is client_for("dynamodb", TASK_CALLS)
    assert api_client.meta.config.retries == {"mode": "standard", "total_max_attempts": API_CALLS.total_attempts}
    assert api_client.meta.config.read_timeout == API_CALLS.read_timeout_seconds
    assert task_client.meta.config.retries["total_max_attempts"] == TASK_CALLS.total_attempts
