"""Least privilege: explicit actions only, each function exactly the table access its spec names."""

from __future__ import annotations

from collections import defaultdict

import pytest

from tests.infra.conftest import CloudAssembly
from workflows.resources import ALL_FUNCTIONS, TABLES, Access, FunctionSpec

pytestmark = pytest.mark.infra

READ_ACTIONS = {
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:Query",
    "dynamodb:Scan",
}
WRITE_ACTIONS = {
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
}
EXPECTED_TABLE_ACTIONS = {
    Access.READ: READ_ACTIONS,
    Access.WRITE: WRITE_ACTIONS,
    Access.READ_WRITE: READ_ACTIONS | WRITE_ACTIONS,
}
WORKFLOW_DRIVING_ACTIONS = {
    "states:StartExecution",
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
}
WITHOUT_RESOURCE_LEVEL_PERMISSIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
"""The only actions a statement may grant on Resource "*": AWS offers no narrower resource for them."""


def all_statements(assembly: CloudAssembly) -> list[dict]:
    policies = [resource["Properties"]["PolicyDocument"] for resource in assembly.of_type("AWS::IAM::Policy").values()]
    inline = [
        policy["PolicyDocument"]
        for role in assembly.of_type("AWS::IAM::Role").values()
        for policy in role["Properties"].get("Policies", [])
    ]
    return [statement for document in policies + inline for statement in document["Statement"]]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def role_statements(assembly: CloudAssembly, spec: FunctionSpec) -> list[dict]:
    policy = assembly.at(f"Functions/{spec.logical_name}/Role/DefaultPolicy/Resource")
    return policy["Properties"]["PolicyDocument"]["Statement"]


def table_actions(assembly: CloudAssembly, spec: FunctionSpec) -> dict[str, set[str]]:
    """Logical table name to the DynamoDB actions the function's role has on it (table or index ARN)."""
    table_by_id = {assembly.table_id(table.logical_name): table.logical_name for table in TABLES}
    granted: dict[str, set[str]] = defaultdict(set)
    for statement in role_statements(assembly, spec):
        actions = {action for action in as_list(statement["Action"]) if action.startswith("dynamodb:")}
        if not actions:
            continue
        for resource in as_list(statement["Resource"]):
            arn = resource["Fn::Join"][1][0] if "Fn::Join" in resource else resource
            granted[table_by_id[arn["Fn::GetAtt"][0]]] |= actions
    return dict(granted)


def test_no_iam_statement_has_a_wildcard_action(assembly):
    statements = all_statements(assembly)

    wildcards = [statement for statement in statements if any("*" in a for a in as_list(statement["Action"]))]

    assert statements
    assert wildcards == []


def test_only_actions_without_resource_level_permissions_are_granted_on_every_resource(assembly):
    on_everything = {
        action
        for statement in all_statements(assembly)
        if "*" in as_list(statement["Resource"])
        for action in as_list(statement["Action"])
    }

    assert on_everything <= WITHOUT_RESOURCE_LEVEL_PERMISSIONS


@pytest.mark.parametrize("spec", ALL_FUNCTIONS, ids=lambda spec: spec.logical_name)
def test_each_function_may_do_exactly_what_its_access_says_on_its_tables(assembly, spec):
    expected = {table: EXPECTED_TABLE_ACTIONS[access] for table, access in spec.tables.items()}

    assert table_actions(assembly, spec) == expected


@pytest.mark.parametrize("spec", ALL_FUNCTIONS, ids=lambda spec: spec.logical_name)
def test_only_functions_that_drive_the_workflow_may_start_and_answer_it(assembly, spec):
    state_machine = {"Ref": assembly.state_machine_id()}
    workflow_statements = [
        statement
        for statement in role_statements(assembly, spec)
        if any(action.startswith("states:") for action in as_list(statement["Action"]))
    ]

    if not spec.drives_workflow:
        assert workflow_statements == []
        return
    assert {action for statement in workflow_statements for action in as_list(statement["Action"])} == (
        WORKFLOW_DRIVING_ACTIONS
    )
    assert all(statement["Resource"] == state_machine for statement in workflow_statements)


@pytest.mark.parametrize("spec", ALL_FUNCTIONS, ids=lambda spec: spec.logical_name)
def test_function_roles_log_only_to_their_own_log_group_and_use_no_managed_policy(assembly, spec):
    role = assembly.at(f"Functions/{spec.logical_name}/Role/Resource")
    log_group = assembly.logical_id(f"Functions/{spec.logical_name}/Logs/Resource")
    log_statements = [
        statement
        for statement in role_statements(assembly, spec)
        if any(action.startswith("logs:") for action in as_list(statement["Action"]))
    ]

    assert "ManagedPolicyArns" not in role["Properties"]
    assert log_statements == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [log_group, "Arn"]},
        }
    ]
