"""Both state machines as deployed: the Express child and the Standard parent, their logs and traces, and roles that
allow exactly what each ASL calls.

The expected grants are written out here (function by function, action by action); the functions are also read
from each ASL file's ``lambda:invoke`` tasks by this module's own reader, so neither the construct's ASL readers nor
``workflows.resources`` decide alone what a role may do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.infra.conftest import CloudAssembly
from workflows.resources import (
    ALL_FUNCTIONS,
    ORDER_PREPARATION,
    ORDER_WORKFLOW,
    PLACEHOLDER_PATTERN,
    STATE_MACHINES,
    StateMachineSpec,
)

pytestmark = pytest.mark.infra

CHILD, PARENT = ORDER_PREPARATION.logical_name, ORDER_WORKFLOW.logical_name

EXPECTED_TYPES = {CHILD: "EXPRESS", PARENT: "STANDARD"}
LOG_GROUPS = {CHILD: "Workflow/OrderPreparationExecutionLogs/Resource", PARENT: "Workflow/ExecutionLogs/Resource"}
EXPECTED_INVOKED = {
    CHILD: {"ValidateOrder", "AuthorizePayment", "ReserveInventory"},
    PARENT: {"RequestShipment", "CapturePayment", "VoidOrRefundPayment", "ReleaseInventory", "RecordFailure"},
}
"""The functions each ASL's tasks invoke: the child prepares the order, the parent does the rest."""

LOG_DELIVERY = {
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
}
"""What Step Functions needs to deliver a state machine's logs to CloudWatch Logs; none has a resource-level
permission."""
TRACING = {"xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments"}
INVOKE = "lambda:InvokeFunction"
START = "states:StartExecution"
WATCH = {"states:DescribeExecution", "states:StopExecution"}
SYNC_RULE = {"events:DescribeRule", "events:PutRule", "events:PutTargets"}
SYNC_RULE_NAME = "StepFunctionsGetEventsForStepFunctionsExecutionRule"
EXPECTED_ACTIONS = {
    CHILD: LOG_DELIVERY | TRACING | {INVOKE},
    PARENT: LOG_DELIVERY | TRACING | {INVOKE, "dynamodb:UpdateItem", START} | WATCH | SYNC_RULE,
}
"""Everything each role allows. The parent's .sync:2 start of its child follows AWS's policy for nested workflows,
https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html."""


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def statements_with(statements: list[dict], actions: set[str]) -> list[dict]:
    return [statement for statement in statements if set(as_list(statement["Action"])) & actions]


def all_policies(assembly: CloudAssembly) -> Iterator[tuple[str, list[dict]]]:
    """Every policy of the template, as its construct path and its statements."""
    for resource in assembly.of_type("AWS::IAM::Policy").values():
        yield resource["Metadata"]["aws:cdk:path"], resource["Properties"]["PolicyDocument"]["Statement"]
    for role in assembly.of_type("AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            yield role["Metadata"]["aws:cdk:path"], policy["PolicyDocument"]["Statement"]


def invoked_function(resource: Any) -> str:
    """``{"Fn::GetAtt": [id, "Arn"]}`` or ``{"Fn::Join": ["", [<that>, ":*"]]}`` (its versions): the function's id."""
    if "Fn::Join" in resource:
        delimiter, (function_arn, suffix) = resource["Fn::Join"]
        assert (delimiter, suffix) == ("", ":*"), resource
        resource = function_arn
    logical_id, attribute = resource["Fn::GetAtt"]
    assert attribute == "Arn", resource
    return logical_id


def task_states(definition: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for state in definition["States"].values():
        if state["Type"] == "Task":
            yield state
        nested = [*state.get("Branches", ()), *(state[key] for key in ("ItemProcessor", "Iterator") if key in state)]
        for sub_definition in nested:
            yield from task_states(sub_definition)


def functions_the_asl_invokes(spec: StateMachineSpec) -> set[str]:
    """The function behind the ``FunctionName`` placeholder of every ``lambda:invoke`` task, however deep."""
    names = set()
    for task in task_states(json.loads(spec.definition_file.read_text())):
        if task["Resource"].startswith("arn:aws:states:::lambda:invoke"):
            placeholder = PLACEHOLDER_PATTERN.fullmatch(task["Parameters"]["FunctionName"]).group(1)
            names.add(spec.substitutions[placeholder].target)
    return names


def arn_parts(service: str, resource: str) -> list:
    """The ``Fn::Join`` parts CDK writes for ``arn:<partition>:<service>:<region>:<account>:<resource>``."""
    return [
        "arn:",
        {"Ref": "AWS::Partition"},
        f":{service}:",
        {"Ref": "AWS::Region"},
        ":",
        {"Ref": "AWS::AccountId"},
        resource,
    ]


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_name)
def test_the_child_is_express_the_parent_standard_and_both_are_traced(assembly, spec):
    properties = assembly.at(f"Workflow/{spec.logical_name}/Resource")["Properties"]

    assert properties["StateMachineType"] == EXPECTED_TYPES[spec.logical_name] == spec.workflow_type.value
    assert properties["TracingConfiguration"] == {"Enabled": True}


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_name)
def test_each_state_machine_logs_every_event_without_its_data_to_its_own_log_group(assembly, spec):
    properties = assembly.at(f"Workflow/{spec.logical_name}/Resource")["Properties"]
    log_group_id = assembly.logical_id(LOG_GROUPS[spec.logical_name])
    log_group = assembly.resources[log_group_id]["Properties"]

    assert properties["LoggingConfiguration"] == {
        "Level": "ALL",
        "IncludeExecutionData": False,
        "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [log_group_id, "Arn"]}}}],
    }
    assert log_group["RetentionInDays"] > 0
    assert log_group["LogGroupName"] == f"/aws/vendedlogs/states/{assembly.stack_name}-{spec.local_name}"


def test_the_two_state_machines_log_to_different_log_groups(assembly):
    destinations = [
        assembly.at(f"Workflow/{spec.logical_name}/Resource")["Properties"]["LoggingConfiguration"]["Destinations"]
        for spec in STATE_MACHINES
    ]

    assert destinations[0] != destinations[1]


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_name)
def test_each_role_invokes_exactly_the_functions_its_asl_names(assembly, spec):
    (invoke,) = statements_with(assembly.state_machine_statements(spec.logical_name), {INVOKE})
    expected = {assembly.function_id(name) for name in EXPECTED_INVOKED[spec.logical_name]}

    assert functions_the_asl_invokes(spec) == EXPECTED_INVOKED[spec.logical_name]
    assert as_list(invoke["Action"]) == [INVOKE] and invoke["Effect"] == "Allow" and "Condition" not in invoke
    assert {invoked_function(resource) for resource in as_list(invoke["Resource"])} == expected


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_name)
def test_each_role_allows_exactly_its_actions_and_no_wildcard_action(assembly, spec):
    statements = assembly.state_machine_statements(spec.logical_name)
    granted = {action for statement in statements for action in as_list(statement["Action"])}
    on_everything = {
        action
        for statement in statements
        if "*" in as_list(statement["Resource"])
        for action in as_list(statement["Action"])
    }
    role = assembly.at(f"Workflow/{spec.logical_name}/Role/Resource")["Properties"]

    assert granted == EXPECTED_ACTIONS[spec.logical_name]
    assert not any("*" in action for action in granted)
    assert on_everything == LOG_DELIVERY | TRACING
    assert all(statement["Effect"] == "Allow" and "Condition" not in statement for statement in statements)
    assert "ManagedPolicyArns" not in role and "Policies" not in role


def test_the_parent_updates_only_the_orders_table_directly(assembly):
    (update,) = statements_with(assembly.state_machine_statements(PARENT), {"dynamodb:UpdateItem"})

    assert update == {
        "Action": "dynamodb:UpdateItem",
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [assembly.table_id("Orders"), "Arn"]},
    }


def test_the_parent_may_start_only_its_child(assembly):
    (start,) = statements_with(assembly.state_machine_statements(PARENT), {START})

    assert start == {"Action": START, "Effect": "Allow", "Resource": {"Ref": assembly.state_machine_id(CHILD)}}


def test_the_parent_may_describe_and_stop_only_its_childs_executions(assembly):
    child_name = {"Fn::GetAtt": [assembly.state_machine_id(CHILD), "Name"]}
    (watch,) = statements_with(assembly.state_machine_statements(PARENT), WATCH)

    assert sorted(as_list(watch["Action"])) == sorted(WATCH)
    assert watch["Effect"] == "Allow" and "Condition" not in watch
    # AWS's documented execution:<child>:* and an Express child's own express:<child>:<name>:<id> form
    assert as_list(watch["Resource"]) == [
        {"Fn::Join": ["", [*arn_parts("states", f":{resource_type}:"), child_name, ":*"]]}
        for resource_type in ("execution", "express")
    ]


def test_the_parent_may_keep_only_step_functions_managed_rule_for_sync_executions(assembly):
    (rule,) = statements_with(assembly.state_machine_statements(PARENT), SYNC_RULE)

    assert sorted(as_list(rule["Action"])) == sorted(SYNC_RULE)
    assert rule["Effect"] == "Allow" and "Condition" not in rule
    assert rule["Resource"] == {"Fn::Join": ["", arn_parts("events", f":rule/{SYNC_RULE_NAME}")]}


def test_the_child_starts_watches_and_writes_nothing_itself(assembly):
    statements = assembly.state_machine_statements(CHILD)

    assert statements_with(statements, {START, *WATCH, *SYNC_RULE}) == []
    assert not any(action.startswith("dynamodb:") for s in statements for action in as_list(s["Action"]))


def test_only_the_parent_may_start_the_child_or_follow_its_executions(assembly):
    child_id = assembly.state_machine_id(CHILD)
    parent_policy = f"{assembly.stack_name}/Workflow/{PARENT}/Role/DefaultPolicy/Resource"

    reconciler_policy = f"{assembly.stack_name}/Functions/ReconcileOrders/Role/DefaultPolicy/Resource"
    reconciler_statements = dict(all_policies(assembly))[reconciler_policy]

    naming_the_child = {path for path, statements in all_policies(assembly) if child_id in json.dumps(statements)}
    following = {path for path, statements in all_policies(assembly) if statements_with(statements, WATCH | SYNC_RULE)}

    assert naming_the_child == {parent_policy}
    assert following == {parent_policy, reconciler_policy}
    (describing,) = statements_with(reconciler_statements, WATCH | SYNC_RULE)
    assert describing["Action"] == "states:DescribeExecution", "the reconciler asks, it never stops an execution"
    assert assembly.state_machine_id(PARENT) in json.dumps(describing["Resource"]), "and only the parent's"


@pytest.mark.parametrize("spec", [spec for spec in ALL_FUNCTIONS if spec.drives_workflow], ids=lambda s: s.logical_name)
def test_the_api_function_starts_and_answers_only_the_parent(assembly, spec):
    policy = assembly.at(f"Functions/{spec.logical_name}/Role/DefaultPolicy/Resource")
    workflow_statements = [
        statement
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(action.startswith("states:") for action in as_list(statement["Action"]))
    ]

    on_the_machine = [s for s in workflow_statements if s["Resource"] == {"Ref": assembly.state_machine_id(PARENT)}]
    on_its_executions = [s for s in workflow_statements if s not in on_the_machine]

    assert on_the_machine
    assert [s["Action"] for s in on_its_executions] == ["states:GetExecutionHistory"], "it reads, never stops"
    executions = on_its_executions[0]["Resource"]["Fn::Join"][1]
    assert executions[-2:] == [{"Fn::GetAtt": [assembly.state_machine_id(PARENT), "Name"]}, ":*"]
    assert ":execution:" in executions, "and only the parent's executions"
