"""Alarms watch the metrics that matter, found by metric rather than counted; the outputs a deployer needs exist."""

from __future__ import annotations

import pytest

from tasks.handlers.record_failure import COMPENSATION_FAILURES_METRIC
from tests.infra.conftest import CloudAssembly
from workflows.resources import ALL_FUNCTIONS, RECORD_FAILURE, SERVICE_NAME, TABLES, function_environment

pytestmark = pytest.mark.infra


def alarmed_metrics(assembly: CloudAssembly) -> set[tuple[str, str, tuple]]:
    """``(namespace, metric, dimensions)`` of every alarm, dimensions as sorted ``(name, value)`` pairs."""
    return {
        (
            alarm["Properties"]["Namespace"],
            alarm["Properties"]["MetricName"],
            tuple(sorted((d["Name"], str(d["Value"])) for d in alarm["Properties"].get("Dimensions", []))),
        )
        for alarm in assembly.of_type("AWS::CloudWatch::Alarm").values()
    }


def test_the_workflow_alarms_on_failed_and_timed_out_executions_and_on_failed_compensations(assembly):
    state_machine = (("StateMachineArn", str({"Ref": assembly.state_machine_id()})),)

    alarms = alarmed_metrics(assembly)

    assert ("AWS/States", "ExecutionsFailed", state_machine) in alarms
    assert ("AWS/States", "ExecutionsTimedOut", state_machine) in alarms
    assert ("OrderOrchestration", COMPENSATION_FAILURES_METRIC, (("service", SERVICE_NAME),)) in alarms


def test_the_express_child_alarms_on_its_own_failed_and_timed_out_executions(assembly):
    child_arn = {"Ref": assembly.state_machine_id("OrderPreparation")}
    child = (("StateMachineArn", str(child_arn)),)
    alarms = {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in assembly.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Dimensions") == [{"Name": "StateMachineArn", "Value": child_arn}]
    }

    assert ("AWS/States", "ExecutionsFailed", child) in alarmed_metrics(assembly)
    assert ("AWS/States", "ExecutionsTimedOut", child) in alarmed_metrics(assembly)
    assert alarms["ExecutionsTimedOut"]["Threshold"] == 1
    assert alarms["ExecutionsFailed"]["Threshold"] > 1  # refused orders, declines and stock-outs fail it by design


@pytest.mark.usefixtures("node")
def test_the_compensation_alarm_watches_the_namespace_the_functions_publish_to():
    from stacks import constants

    environment = function_environment(RECORD_FAILURE, {"Orders": "orders"})

    assert constants.METRICS_NAMESPACE == environment["POWERTOOLS_METRICS_NAMESPACE"] == "OrderOrchestration"
    assert constants.COMPENSATION_FAILURES_METRIC == COMPENSATION_FAILURES_METRIC
    assert environment["POWERTOOLS_SERVICE_NAME"] == SERVICE_NAME


@pytest.mark.parametrize("spec", ALL_FUNCTIONS, ids=lambda spec: spec.logical_name)
def test_each_function_has_error_and_throttle_alarms(assembly, spec):
    function = (("FunctionName", str({"Ref": assembly.function_id(spec.logical_name)})),)

    alarms = alarmed_metrics(assembly)

    assert ("AWS/Lambda", "Errors", function) in alarms
    assert ("AWS/Lambda", "Throttles", function) in alarms


def test_the_api_alarms_on_5xx_and_latency(assembly):
    api_metrics = {
        (metric, dimensions)
        for namespace, metric, dimensions in alarmed_metrics(assembly)
        if namespace == "AWS/ApiGateway"
    }

    assert {metric for metric, _ in api_metrics} == {"5XXError", "Latency"}
    assert all(dict(dimensions).keys() == {"ApiName"} for _, dimensions in api_metrics)


def test_a_dashboard_shows_the_service(assembly):
    assert len(assembly.of_type("AWS::CloudWatch::Dashboard")) == 1


def test_the_outputs_name_the_api_state_machines_child_log_group_tables_user_pool_and_warehouse_role(assembly):
    outputs = assembly.template["Outputs"]

    assert {"ApiUrl", "StateMachineArn", "UserPoolId", "UserPoolClientId", "WarehouseRoleArn"} <= outputs.keys()
    assert {f"{table.logical_name}TableName" for table in TABLES} <= outputs.keys()
    assert outputs["StateMachineArn"]["Value"] == {"Ref": assembly.state_machine_id()}
    assert outputs["PreparationStateMachineArn"]["Value"] == {"Ref": assembly.state_machine_id("OrderPreparation")}
    assert outputs["PreparationLogGroupName"]["Value"] == {
        "Ref": assembly.logical_id("Workflow/OrderPreparationExecutionLogs/Resource")
    }
    assert outputs["WarehouseRoleArn"]["Value"] == {
        "Fn::GetAtt": [assembly.logical_id("Api/WarehouseRole/Resource"), "Arn"]
    }
