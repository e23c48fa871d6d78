"""The ASL files, the resource description and the error classes must agree: the workflows match errors by name.

A renamed exception, a forgotten placeholder or a Task without a Catch would only show up in AWS otherwise. The
parent (Standard) and its child (Express) are checked alike, and the child against Express's limits.
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

from local.aws.awslambda.runner import LOCAL_REGION
from local.provisioning import create_state_machine, resolve_locally
from tasks import errors
from tasks.models.order import FAILURE_STATUSES, OrderStatus, statuses_before
from workflows.resources import (
    ALL_FUNCTIONS,
    ORDER_PREPARATION,
    ORDER_PREPARATION_ASL,
    ORDER_WORKFLOW,
    ORDER_WORKFLOW_ASL,
    PLACEHOLDER_PATTERN,
    STATE_MACHINES,
    STATUS_SHARDS,
    WORKFLOW_FUNCTIONS,
    StateMachineSpec,
    WorkflowType,
)

REPOSITORY = Path(__file__).resolve().parents[2]
NOT_OURS = {".git", ".venv", "node_modules", "cdk.out"}
AWS_ERROR_PREFIXES = ("States.", "Lambda.", "DynamoDB.", "StepFunctions.")
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
    """The parent: the Standard order workflow."""
    return json.loads(ORDER_WORKFLOW.render(resolve_locally))


@pytest.fixture(scope="module")
def child() -> dict[str, Any]:
    """The Express child: the order's preparation."""
    return json.loads(ORDER_PREPARATION.render(resolve_locally))


def rendered(spec: StateMachineSpec) -> dict[str, Any]:
    return json.loads(spec.render(resolve_locally))


MACHINES = pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_name)


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


def comparisons(rule: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A Choice rule and every comparison nested in its And, Or and Not."""
    yield rule
    for nested in (*rule.get("And", []), *rule.get("Or", []), *([rule["Not"]] if "Not" in rule else [])):
        yield from comparisons(nested)


def error_names(*machines: dict[str, Any]) -> set[str]:
    """Every name in any ErrorEquals, and every error a Choice compares (``$.….error``, ``$….Error``)."""
    names = {
        name
        for machine in machines
        for _, state in states(machine)
        for rule in (*state.get("Retry", []), *state.get("Catch", []))
        for name in rule["ErrorEquals"]
    }
    names |= {
        comparison["StringEquals"]
        for machine in machines
        for _, state in states(machine)
        for choice in state.get("Choices", [])
        for comparison in comparisons(choice)
        if comparison.get("Variable", "").lower().endswith(".error") and "StringEquals" in comparison
    }
    return names


@MACHINES
def test_every_placeholder_has_a_substitution_and_every_substitution_a_placeholder(spec):
    assert spec.placeholders_in_definition() == set(spec.substitutions)


@MACHINES
def test_render_fills_every_placeholder_and_yields_json(spec):
    text = spec.render(resolve_locally)

    assert "${" not in text
    assert not PLACEHOLDER_PATTERN.search(text)
    assert json.loads(text)["StartAt"] in json.loads(text)["States"]


def test_the_parent_starts_its_own_child_and_waits_for_it(definition):
    prepare = definition["States"][definition["StartAt"]]

    assert prepare["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert prepare["Parameters"]["StateMachineArn"] == resolve_locally(
        ORDER_WORKFLOW.substitutions["OrderPreparationStateMachineArn"]
    )
    assert ORDER_PREPARATION.workflow_type is WorkflowType.EXPRESS
    assert ORDER_WORKFLOW.workflow_type is WorkflowType.STANDARD


def json_files_of_the_repository() -> Iterator[Path]:
    """Every JSON file outside the virtualenv, node modules, CDK output and git's own files (never descended into)."""
    for folder, subfolders, files in os.walk(REPOSITORY):
        subfolders[:] = [name for name in subfolders if name not in NOT_OURS]
        yield from (Path(folder, name) for name in files if name.endswith(".json"))


def test_each_state_machine_has_exactly_one_definition_in_the_repository():
    """One ASL file per state machine, read by CDK and the local runtime alike: a second copy would drift."""
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

    assert definitions == {ORDER_WORKFLOW_ASL, ORDER_PREPARATION_ASL}
    assert {spec.definition_file for spec in STATE_MACHINES} == definitions


def successors(state: dict[str, Any]) -> set[str]:
    rules = (*state.get("Choices", []), *state.get("Catch", []))
    return {name for name in (state.get("Next"), state.get("Default"), *(r.get("Next") for r in rules)) if name}


@MACHINES
def test_every_transition_names_a_state_of_its_scope_and_every_state_is_reachable(spec):
    """moto checks the syntax only; a dangling Next or a dead state would surface in AWS."""
    for scope in scopes(rendered(spec)):
        names = set(scope["States"])
        reached, frontier = set(), [scope["StartAt"]]
        while frontier:
            name = frontier.pop()
            assert name in names, f"transition to a missing state {name}"
            if name not in reached:
                reached.add(name)
                frontier += successors(scope["States"][name])
        assert reached == names, f"unreachable: {sorted(names - reached)}"


def test_the_child_runs_payment_and_stock_in_parallel_and_the_parent_waits_for_the_warehouse(definition, child):
    assert "Parallel" in {state["Type"] for _, state in states(child)}
    waiting = [state for _, state in task_states(definition) if state["Resource"].endswith(".waitForTaskToken")]
    assert [state["Resource"] for state in waiting] == ["arn:aws:states:::lambda:invoke.waitForTaskToken"]
    assert waiting[0]["HeartbeatSeconds"] < waiting[0]["TimeoutSeconds"]


def test_the_child_uses_only_request_response_integrations_as_express_requires(child):
    patterns = [
        state["Resource"] for _, state in task_states(child) if state["Resource"].endswith((".sync", ".sync:2"))
    ]
    patterns += [state["Resource"] for _, state in task_states(child) if ".waitForTaskToken" in state["Resource"]]

    assert patterns == []


def retry_delays(rule: dict[str, Any]) -> list[float]:
    """The longest wait before each retry of a rule: backoff, capped by MaxDelaySeconds (full jitter only shortens)."""
    interval, rate = rule.get("IntervalSeconds", 1), rule.get("BackoffRate", 2.0)
    cap = rule.get("MaxDelaySeconds", float("inf"))
    return [min(interval * rate**attempt, cap) for attempt in range(rule.get("MaxAttempts", 3))]


def function_timeout(state: dict[str, Any]) -> int:
    """The Lambda timeout of the function a Task state of an unrendered ASL file names by its placeholder."""
    placeholder = PLACEHOLDER_PATTERN.fullmatch(state["Parameters"]["FunctionName"]).group(1)
    return next(spec.timeout_seconds for spec in ALL_FUNCTIONS if f"{spec.logical_name}FunctionArn" == placeholder)


def worst_case_seconds(machine: dict[str, Any], state_name: str | None = None) -> float:
    """The longest a machine can run: each Lambda task at its function's timeout on every attempt, every retry after
    its longest delay, and a Parallel as long as its slowest branch. Only Task and Parallel states take time here."""
    state = machine["States"][state_name or machine["StartAt"]]
    seconds = 0.0
    if state["Type"] == "Task":
        delays = [delay for rule in state.get("Retry", []) for delay in retry_delays(rule)]
        seconds = (state.get("TimeoutSeconds") or function_timeout(state)) * (1 + len(delays)) + sum(delays)
    elif state["Type"] == "Parallel":
        seconds = max(worst_case_seconds(branch) for branch in state["Branches"])
    return seconds + max((worst_case_seconds(machine, name) for name in successors(state)), default=0.0)


ORDER_PREPARATION_RAW = json.loads(ORDER_PREPARATION_ASL.read_text())
EXPRESS_MAX_SECONDS = 300


def test_the_child_always_ends_within_the_five_minutes_an_express_execution_may_run(child):
    """An Express execution that runs past five minutes is ended by AWS without a Catch; the child's own retries
    must therefore end well before that, so its failure reaches the parent's Catch as an error it can name."""
    assert worst_case_seconds(ORDER_PREPARATION_RAW) < EXPRESS_MAX_SECONDS
    assert child["TimeoutSeconds"] == EXPRESS_MAX_SECONDS


@MACHINES
def test_every_task_retries_with_full_jitter_and_a_maximum_delay(spec):
    for name, state in task_states(rendered(spec)):
        assert state.get("Retry"), f"{name} has no Retry"
        for rule in state["Retry"]:
            assert rule.get("JitterStrategy") == "FULL", f"{name} retries without full jitter"
            assert rule.get("MaxDelaySeconds", 0) > 0, f"{name} retries without MaxDelaySeconds"


def caught(state: dict[str, Any]) -> set[str]:
    return {error for rule in state.get("Catch", []) for error in rule["ErrorEquals"]}


def test_every_parent_task_catches_states_all(definition):
    """An error the parent does not catch would end an order without its compensations."""
    for name, state in task_states(definition):
        assert "States.ALL" in caught(state), f"{name} lets an error end the execution"


def test_every_branch_task_of_the_child_catches_states_all_and_the_rest_fails_the_child(child):
    """A branch failure must never cut the other branch off; what else fails in the child ends the child with the
    task's own error, which the parent's PrepareOrder catches as States.TaskFailed."""
    branch_tasks = [
        (name, state)
        for _, parallel in states(child)
        for branch in parallel.get("Branches", [])
        for name, state in branch["States"].items()
        if state["Type"] == "Task"
    ]
    assert {name for name, _ in branch_tasks} == {"AuthorizePayment", "ReserveInventory"}
    for name, state in branch_tasks:
        assert "States.ALL" in caught(state), f"{name} would cut the other branch off"


def test_every_error_the_workflows_name_is_an_error_class_the_tasks_raise(definition, child):
    ours = {name for name in error_names(definition, child) if not name.startswith(AWS_ERROR_PREFIXES)}

    assert ours <= ERROR_CLASSES, f"not in tasks.errors: {sorted(ours - ERROR_CLASSES)}"


def test_every_error_the_workflows_must_react_to_is_named_in_them(definition, child):
    assert ERRORS_THE_WORKFLOW_MUST_MATCH <= ERROR_CLASSES
    missing = ERRORS_THE_WORKFLOW_MUST_MATCH - error_names(definition, child)
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


def test_every_workflow_function_is_invoked_by_exactly_one_definition():
    texts = [spec.definition_file.read_text() for spec in STATE_MACHINES]

    for spec in WORKFLOW_FUNCTIONS:
        invoking = [text for text in texts if f"${{{spec.logical_name}FunctionArn}}" in text]
        assert len(invoking) == 1, f"{spec.logical_name} is invoked by {len(invoking)} definitions"


def assigned_statuses(machine: dict[str, Any]) -> list[str]:
    """Every ``failureStatus`` a Catch or a Choice rule assigns."""
    return [
        rule["Assign"]["failureStatus"]
        for _, state in states(machine)
        for rule in (*state.get("Catch", []), *state.get("Choices", []))
        if "failureStatus" in rule.get("Assign", {})
    ]


def test_every_failure_the_workflow_records_is_an_order_failure_status(definition):
    assert {OrderStatus(status) for status in assigned_statuses(definition)} <= FAILURE_STATUSES


def test_every_route_into_the_failure_path_names_the_status_it_records(definition):
    """RecordFailure, RecordFailureDirectly and OrderFailed read ``$failureStatus``: no route may leave it unset."""
    failure_path = {"VoidOrRefundPayment", "RecordFailure"}
    on_the_failure_path = {"VoidOrRefundPayment", "ReleaseInventory", "RecordFailure", "RecordFailureDirectly"}
    for name, state in states(definition):
        if name in on_the_failure_path:
            continue
        for rule in state.get("Catch", []):
            if rule["Next"] in failure_path or rule["Next"] == "RoutePreparationFailure":
                assert "failureStatus" in rule.get("Assign", {}), f"{name} catches {rule['ErrorEquals']} unnamed"
        for rule in state.get("Choices", []):
            if rule["Next"] in failure_path:
                assert "failureStatus" in rule.get("Assign", {}), f"{name} routes to {rule['Next']} unnamed"
    assert set(assigned_statuses(definition)) == {"REJECTED", "PAYMENT_DECLINED", "OUT_OF_STOCK", "CANCELLED", "FAILED"}


def test_the_direct_failure_write_admits_exactly_the_statuses_a_failure_may_follow(definition):
    """RecordFailureDirectly repeats the repository's condition in ASL; the two must not drift apart."""
    direct = definition["States"]["RecordFailureDirectly"]["Parameters"]
    values = direct["ExpressionAttributeValues"]
    condition = direct["ConditionExpression"]
    allowed = condition.split(" IN (", 1)[1].rstrip(")").split(", ")

    assert [values[placeholder]["S"] for placeholder in allowed] == [
        status.value for status in statuses_before(OrderStatus.FAILED)
    ]


def test_the_direct_failure_write_files_the_order_under_a_status_shard_the_listings_read(definition):
    """The repository shards by a hash of the order id, which ASL cannot compute: the direct write picks any shard,
    which readers merge all the same, so it must pick among the shards they read and no other."""
    direct = definition["States"]["RecordFailureDirectly"]["Parameters"]
    values = direct["ExpressionAttributeValues"]

    assert "statusShard = :statusShard, statusAt = :statusAt" in direct["UpdateExpression"]
    assert values[":statusShard"]["S.$"] == (
        f"States.Format('{{}}#{{}}', $failureStatus, States.MathRandom(0, {STATUS_SHARDS - 1}))"
    )
    assert values[":statusAt"]["S.$"] == "States.Format('{}#{}', $failureStatus, $$.State.EnteredTime)"
    assert values[":now"]["S.$"] == "$$.State.EnteredTime"


def test_moto_accepts_the_rendered_definitions_with_their_types():
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        stepfunctions = boto3.client("stepfunctions", region_name=LOCAL_REGION)

        for spec in STATE_MACHINES:
            described = stepfunctions.describe_state_machine(stateMachineArn=create_state_machine(stepfunctions, spec))

            assert (described["status"], described["type"]) == ("ACTIVE", spec.workflow_type.value)
