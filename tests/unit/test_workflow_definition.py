"""The ASL file, the resource description and the error classes must agree: the workflow matches errors by name.

A renamed exception, a forgotten placeholder or a Task without a Catch would only show up in AWS otherwise.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.lambda_runner import LOCAL_REGION
from local.provisioning import create_state_machine, resolve_locally
from tasks import errors
from tasks.models.order import FAILURE_STATUSES, OrderStatus, statuses_before
from workflows.resources import ORDER_WORKFLOW, ORDER_WORKFLOW_ASL, PLACEHOLDER_PATTERN, WORKFLOW_FUNCTIONS

REPOSITORY = Path(__file__).resolve().parents[2]
NOT_OURS = {".git", ".venv", "node_modules", "cdk.out"}
AWS_ERROR_PREFIXES = ("States.", "Lambda.", "DynamoDB.")
ERRORS_THE_WORKFLOW_MUST_MATCH = {
    "PaymentDeclinedError",
    "OutOfStockError",
    "OrderValidationError",
    "OrderCancelledError",
    "ShipmentFailedError",
    "PaymentProviderTransientError",
    "InventoryTransientError",
    "StorageTransientError",
}
ERROR_CLASSES = {
    name for name, value in inspect.getmembers(errors, inspect.isclass) if issubclass(value, errors.OrderError)
}


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return json.loads(ORDER_WORKFLOW.render(resolve_locally))


def scopes(machine: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The machine and every Parallel branch or Map processor in it: a Next may only name a state of its own scope."""
    yield machine
    for state in machine["States"].values():
        for nested in (*state.get("Branches", []), state.get("ItemProcessor"), state.get("Iterator")):
            if nested:
                yield from scopes(nested)


def states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Parallel branches and Map processors."""
    for scope in scopes(machine):
        yield from scope["States"].items()


def task_states(machine: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, state) for name, state in states(machine) if state["Type"] == "Task"]


def error_names(machine: dict[str, Any]) -> set[str]:
    """Every name in any ErrorEquals, and every error a Choice compares (``$.….error``)."""
    names = {
        name
        for _, state in states(machine)
        for rule in (*state.get("Retry", []), *state.get("Catch", []))
        for name in rule["ErrorEquals"]
    }
    names |= {
        choice["StringEquals"]
        for _, state in states(machine)
        for choice in state.get("Choices", [])
        if choice["Variable"].endswith(".error") and "StringEquals" in choice
    }
    return names


def test_every_placeholder_has_a_substitution_and_every_substitution_a_placeholder():
    assert ORDER_WORKFLOW.placeholders_in_definition() == set(ORDER_WORKFLOW.substitutions)


def test_render_fills_every_placeholder_and_yields_json():
    rendered = ORDER_WORKFLOW.render(resolve_locally)

    assert "${" not in rendered
    assert not PLACEHOLDER_PATTERN.search(rendered)
    assert json.loads(rendered)["StartAt"] == "ValidateOrder"


def json_files_of_the_repository() -> Iterator[Path]:
    """Every JSON file outside the virtualenv, node modules, CDK output and git's own files (never descended into)."""
    for folder, subfolders, files in os.walk(REPOSITORY):
        subfolders[:] = [name for name in subfolders if name not in NOT_OURS]
        yield from (Path(folder, name) for name in files if name.endswith(".json"))


def test_the_order_workflow_is_the_only_state_machine_definition_in_the_repository():
    """One ASL file, read by CDK and the local runtime alike: a second copy would drift."""
    definitions = set()
    for path in json_files_of_the_repository():
        if path.name.endswith(".asl.json"):
            definitions.add(path)
            continue
        try:
            content = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(content, dict) and {"StartAt", "States"} <= set(content):
            definitions.add(path)

    assert definitions == {ORDER_WORKFLOW_ASL}


def successors(state: dict[str, Any]) -> set[str]:
    rules = (*state.get("Choices", []), *state.get("Catch", []))
    return {name for name in (state.get("Next"), state.get("Default"), *(r.get("Next") for r in rules)) if name}


def test_every_transition_names_a_state_of_its_scope_and_every_state_is_reachable(definition):
    """moto checks the syntax only; a dangling Next or a dead state would surface in AWS."""
    for scope in scopes(definition):
        names = set(scope["States"])
        reached, frontier = set(), [scope["StartAt"]]
        while frontier:
            name = frontier.pop()
            assert name in names, f"transition to a missing state {name}"
            if name not in reached:
                reached.add(name)
                frontier += successors(scope["States"][name])
        assert reached == names, f"unreachable: {sorted(names - reached)}"


def test_the_definition_runs_payment_and_stock_in_parallel_and_waits_for_the_warehouse(definition):
    kinds = {state["Type"] for _, state in states(definition)}
    assert "Parallel" in kinds
    waiting = [state for _, state in task_states(definition) if state["Resource"].endswith(".waitForTaskToken")]
    assert [state["Resource"] for state in waiting] == ["arn:aws:states:::lambda:invoke.waitForTaskToken"]
    assert waiting[0]["HeartbeatSeconds"] < waiting[0]["TimeoutSeconds"]


def test_every_task_retries_with_full_jitter_and_a_maximum_delay(definition):
    for name, state in task_states(definition):
        assert state.get("Retry"), f"{name} has no Retry"
        for rule in state["Retry"]:
            assert rule.get("JitterStrategy") == "FULL", f"{name} retries without full jitter"
            assert rule.get("MaxDelaySeconds", 0) > 0, f"{name} retries without MaxDelaySeconds"


def test_every_task_catches_states_all(definition):
    """Including the tasks inside the Parallel branches: a branch failure must never cut the other one off."""
    assert len(task_states(definition)) >= len(WORKFLOW_FUNCTIONS)
    for name, state in task_states(definition):
        caught = {error for rule in state.get("Catch", []) for error in rule["ErrorEquals"]}
        assert "States.ALL" in caught, f"{name} lets an error end the execution"


def test_every_error_the_workflow_names_is_an_error_class_the_tasks_raise(definition):
    ours = {name for name in error_names(definition) if not name.startswith(AWS_ERROR_PREFIXES)}

    assert ours <= ERROR_CLASSES, f"not in tasks.errors: {sorted(ours - ERROR_CLASSES)}"


def test_every_error_the_workflow_must_react_to_is_named_in_it(definition):
    assert ERRORS_THE_WORKFLOW_MUST_MATCH <= ERROR_CLASSES
    missing = ERRORS_THE_WORKFLOW_MUST_MATCH - error_names(definition)
    assert not missing, f"the ASL never matches {sorted(missing)}"


LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def test_record_failure_retries_only_what_can_pass_on_a_retry(definition):
    """Retrying a deterministic error (a bad input, a refused move) only delays the execution's end."""
    retried = {name for rule in definition["States"]["RecordFailure"]["Retry"] for name in rule["ErrorEquals"]}

    assert retried >= LAMBDA_SERVICE_ERRORS
    assert retried - LAMBDA_SERVICE_ERRORS == {"StorageTransientError"}


def test_an_input_record_failure_cannot_read_ends_the_execution_as_no_order(definition):
    """Without a usable orderId there is no order to record, directly or not: the execution fails at once."""
    catchers = definition["States"]["RecordFailure"]["Catch"]
    assert [rule["ErrorEquals"] for rule in catchers] == [["InvalidTaskInputError"], ["States.ALL"]]
    explain = definition["States"][catchers[0]["Next"]]
    assert explain["Type"] == "Pass"
    fail = definition["States"][explain["Next"]]
    assert (fail["Type"], fail["Error"]) == ("Fail", "InvalidExecutionInput")
    assert catchers[1]["Next"] == "RecordFailureDirectly"


def test_every_workflow_function_is_invoked_by_the_definition():
    text = ORDER_WORKFLOW_ASL.read_text()

    for spec in WORKFLOW_FUNCTIONS:
        assert f"${{{spec.logical_name}FunctionArn}}" in text, f"{spec.logical_name} is never invoked"


def test_every_failure_the_workflow_records_is_an_order_failure_status(definition):
    marked = {
        state["Parameters"]["status"]
        for _, state in states(definition)
        if state["Type"] == "Pass" and "status" in state.get("Parameters", {})
    }

    assert marked
    assert {OrderStatus(status) for status in marked} <= FAILURE_STATUSES


def test_the_direct_failure_write_admits_exactly_the_statuses_a_failure_may_follow(definition):
    """RecordFailureDirectly repeats the repository's condition in ASL; the two must not drift apart."""
    direct = definition["States"]["RecordFailureDirectly"]["Parameters"]
    values = direct["ExpressionAttributeValues"]
    condition = direct["ConditionExpression"]
    allowed = condition.split(" IN (", 1)[1].rstrip(")").split(", ")

    assert [values[placeholder]["S"] for placeholder in allowed] == [
        status.value for status in statuses_before(OrderStatus.FAILED)
    ]


def test_moto_accepts_the_rendered_definition():
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        stepfunctions = boto3.client("stepfunctions", region_name=LOCAL_REGION)

        arn = create_state_machine(stepfunctions)

        assert stepfunctions.describe_state_machine(stateMachineArn=arn)["status"] == "ACTIVE"
