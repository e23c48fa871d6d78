"""The state machine deploys the one ASL file, each placeholder resolved to the right function or table."""

from __future__ import annotations

import json

import pytest

from tests.infra.conftest import CloudAssembly
from workflows.resources import (
    ORDER_WORKFLOW,
    PLACEHOLDER_PATTERN,
    WORKFLOW_FUNCTIONS,
    Substitution,
    SubstitutionKind,
)

pytestmark = pytest.mark.infra

STATE_MACHINE = "Workflow/OrderWorkflow/Resource"


def expected_intrinsic(assembly: CloudAssembly, substitution: Substitution) -> dict:
    if substitution.kind is SubstitutionKind.FUNCTION_ARN:
        return {"Fn::GetAtt": [assembly.function_id(substitution.target), "Arn"]}
    return {"Ref": assembly.table_id(substitution.target)}


def intrinsic_target(intrinsic: dict) -> str:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points at."""
    return intrinsic["Ref"] if "Ref" in intrinsic else intrinsic["Fn::GetAtt"][0]


def test_the_definition_is_the_asl_file_with_each_placeholder_resolved(assembly):
    properties = assembly.at(STATE_MACHINE)["Properties"]
    deployed_definition = (assembly.outdir / f"asset.{properties['DefinitionS3Location']['Key']}").read_text()
    substitutions = properties["DefinitionSubstitutions"]

    assert deployed_definition == ORDER_WORKFLOW.definition_file.read_text()
    assert substitutions == {
        placeholder: expected_intrinsic(assembly, substitution)
        for placeholder, substitution in ORDER_WORKFLOW.substitutions.items()
    }
    resolved = PLACEHOLDER_PATTERN.sub(lambda m: intrinsic_target(substitutions[m.group(1)]), deployed_definition)
    expected = ORDER_WORKFLOW.render(lambda s: intrinsic_target(expected_intrinsic(assembly, s)))
    assert json.loads(resolved) == json.loads(expected)


def test_the_state_machine_is_standard_logs_every_event_without_its_data_and_is_traced(assembly, cdk_template):
    from aws_cdk.assertions import Match

    cdk_template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {
                "Level": "ALL",
                "IncludeExecutionData": False,
                "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": Match.any_value()}}],
            },
        },
    )
    log_group = assembly.at("Workflow/ExecutionLogs/Resource")["Properties"]
    assert log_group["RetentionInDays"] > 0
    assert log_group["LogGroupName"].startswith("/aws/vendedlogs/states/")


def test_the_state_machine_may_invoke_only_its_own_functions_and_update_only_orders(assembly):
    statements = assembly.at("Workflow/OrderWorkflow/Role/DefaultPolicy/Resource")["Properties"]["PolicyDocument"][
        "Statement"
    ]
    by_action = {action: statement["Resource"] for statement in statements for action in _list(statement["Action"])}
    task_functions = {assembly.function_id(spec.logical_name) for spec in WORKFLOW_FUNCTIONS}

    invoked = {_arn_target(resource) for resource in _list(by_action["lambda:InvokeFunction"])}
    assert invoked == task_functions
    assert {action for action in by_action if action.startswith("dynamodb:")} == {"dynamodb:UpdateItem"}
    assert by_action["dynamodb:UpdateItem"] == {"Fn::GetAtt": [assembly.table_id("Orders"), "Arn"]}


@pytest.mark.usefixtures("node")
def test_direct_dynamodb_calls_are_read_from_the_asl():
    from stacks.constructs.workflow_construct import direct_dynamodb_calls

    definition = {
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"States": {"Put": _dynamodb_task("putItem", "${OrdersTableName}")}},
                    {"States": {"Get": _dynamodb_task("getItem", "${OrdersTableName}")}},
                ],
            },
            "Lambda": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"},
        }
    }

    assert direct_dynamodb_calls(definition) == {("dynamodb:PutItem", "Orders"), ("dynamodb:GetItem", "Orders")}
    with pytest.raises(ValueError, match="placeholder"):
        direct_dynamodb_calls({"States": {"Put": _dynamodb_task("putItem", "orders")}})


def _dynamodb_task(operation: str, table: str) -> dict:
    return {"Type": "Task", "Resource": f"arn:aws:states:::dynamodb:{operation}", "Parameters": {"TableName": table}}


def _list(value):
    return value if isinstance(value, list) else [value]


def _arn_target(resource) -> str:
    """``{"Fn::GetAtt": [id, "Arn"]}`` or ``{"Fn::Join": ["", [<that>, ":*"]]}``: the function's logical id."""
    if "Fn::Join" in resource:
        resource = resource["Fn::Join"][1][0]
    return resource["Fn::GetAtt"][0]
