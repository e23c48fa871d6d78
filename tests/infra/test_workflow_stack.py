"""Each state machine deploys its one ASL file, each placeholder resolved to the right function, table or state
machine; the ASL readers behind the roles' grants read what the ASL calls."""

from __future__ import annotations

import json

import pytest

from tests.infra.conftest import CloudAssembly
from workflows.resources import (
    ORDER_PREPARATION,
    ORDER_WORKFLOW,
    PLACEHOLDER_PATTERN,
    STATE_MACHINES,
    StateMachineSpec,
    Substitution,
    SubstitutionKind,
)

pytestmark = pytest.mark.infra


def expected_intrinsic(assembly: CloudAssembly, substitution: Substitution) -> dict:
    if substitution.kind is SubstitutionKind.FUNCTION_ARN:
        return {"Fn::GetAtt": [assembly.function_id(substitution.target), "Arn"]}
    if substitution.kind is SubstitutionKind.STATE_MACHINE_ARN:
        return {"Ref": assembly.state_machine_id(substitution.target)}
    return {"Ref": assembly.table_id(substitution.target)}


def intrinsic_target(intrinsic: dict) -> str:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points at."""
    return intrinsic["Ref"] if "Ref" in intrinsic else intrinsic["Fn::GetAtt"][0]


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_name)
def test_each_definition_is_its_asl_file_with_each_placeholder_resolved(assembly, spec: StateMachineSpec):
    properties = assembly.at(f"Workflow/{spec.logical_name}/Resource")["Properties"]
    deployed_definition = (assembly.outdir / f"asset.{properties['DefinitionS3Location']['Key']}").read_text()
    substitutions = properties["DefinitionSubstitutions"]

    assert deployed_definition == spec.definition_file.read_text()
    assert substitutions == {
        placeholder: expected_intrinsic(assembly, substitution)
        for placeholder, substitution in spec.substitutions.items()
    }
    assert set(substitutions) == spec.placeholders_in_definition()
    resolved = PLACEHOLDER_PATTERN.sub(lambda m: intrinsic_target(substitutions[m.group(1)]), deployed_definition)
    expected = spec.render(lambda s: intrinsic_target(expected_intrinsic(assembly, s)))
    assert json.loads(resolved) == json.loads(expected)


def test_the_parent_names_its_express_child_by_the_childs_deployed_arn(assembly):
    substitutions = assembly.at("Workflow/OrderWorkflow/Resource")["Properties"]["DefinitionSubstitutions"]

    assert substitutions["OrderPreparationStateMachineArn"] == {"Ref": assembly.state_machine_id("OrderPreparation")}


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
    substitutions = ORDER_WORKFLOW.substitutions

    assert direct_dynamodb_calls(definition, substitutions) == {
        ("dynamodb:PutItem", "Orders"),
        ("dynamodb:GetItem", "Orders"),
    }
    with pytest.raises(ValueError, match="placeholder"):
        direct_dynamodb_calls({"States": {"Put": _dynamodb_task("putItem", "orders")}}, substitutions)
    with pytest.raises(ValueError, match="not a table name"):
        direct_dynamodb_calls(
            {"States": {"Put": _dynamodb_task("putItem", "${RecordFailureFunctionArn}")}}, substitutions
        )


@pytest.mark.usefixtures("node")
def test_the_child_makes_no_direct_dynamodb_call_and_the_parent_one_update_of_orders():
    from stacks.constructs.workflow_construct import direct_dynamodb_calls

    def calls(spec: StateMachineSpec) -> set[tuple[str, str]]:
        return direct_dynamodb_calls(json.loads(spec.definition_file.read_text()), spec.substitutions)

    assert calls(ORDER_PREPARATION) == set()
    assert calls(ORDER_WORKFLOW) == {("dynamodb:UpdateItem", "Orders")}


@pytest.mark.usefixtures("node")
@pytest.mark.parametrize(
    ("resource", "waits"),
    [
        ("arn:aws:states:::states:startExecution", False),
        ("arn:aws:states:::states:startExecution.waitForTaskToken", False),
        ("arn:aws:states:::states:startExecution.sync", True),
        ("arn:aws:states:::states:startExecution.sync:2", True),
    ],
)
def test_started_state_machines_are_read_from_the_asl_with_whether_the_parent_waits(resource, waits):
    from stacks.constructs.workflow_construct import started_state_machines

    definition = {
        "States": {
            "Map": {
                "Type": "Map",
                "ItemProcessor": {"States": {"Start": _start_task(resource, "${OrderPreparationStateMachineArn}")}},
            }
        }
    }

    assert started_state_machines(definition, ORDER_WORKFLOW.substitutions) == {("OrderPreparation", waits)}


@pytest.mark.usefixtures("node")
def test_a_started_state_machine_must_be_a_state_machine_placeholder_of_a_known_pattern():
    from stacks.constructs.workflow_construct import started_state_machines

    substitutions = ORDER_WORKFLOW.substitutions
    sync = "arn:aws:states:::states:startExecution.sync:2"

    with pytest.raises(ValueError, match="placeholder"):
        started_state_machines({"States": {"S": _start_task(sync, "arn:aws:states:eu-west-1:1:stateMachine:x")}}, {})
    with pytest.raises(ValueError, match="not a state machine arn"):
        started_state_machines({"States": {"S": _start_task(sync, "${OrdersTableName}")}}, substitutions)
    with pytest.raises(ValueError, match="integration pattern"):
        started_state_machines(
            {"States": {"S": _start_task(f"{sync}.later", "${OrderPreparationStateMachineArn}")}}, substitutions
        )


@pytest.mark.usefixtures("node")
def test_only_the_parent_starts_a_state_machine_and_waits_for_it():
    from stacks.constructs.workflow_construct import started_state_machines

    def started(spec: StateMachineSpec) -> set[tuple[str, bool]]:
        return started_state_machines(json.loads(spec.definition_file.read_text()), spec.substitutions)

    assert started(ORDER_PREPARATION) == set()
    assert started(ORDER_WORKFLOW) == {(ORDER_PREPARATION.logical_name, True)}


def _dynamodb_task(operation: str, table: str) -> dict:
    return {"Type": "Task", "Resource": f"arn:aws:states:::dynamodb:{operation}", "Parameters": {"TableName": table}}


def _start_task(resource: str, state_machine_arn: str) -> dict:
    return {"Type": "Task", "Resource": resource, "Parameters": {"StateMachineArn": state_machine_arn}}
