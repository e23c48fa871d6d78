"""The reconciler's schedule as deployed: its rate and input from ``workflows.resources``, its target, a role that
may invoke that one function and nothing else, no retry past the next run, and the alarms that watch it."""

from __future__ import annotations

import json

import pytest

from tasks.handlers.reconcile_orders import OUTCOME_METRICS, STRANDED_ORDERS_FAILED_METRIC
from tasks.models.task_io import StrandedOrderOutcome
from tests.infra.conftest import CloudAssembly
from workflows.resources import RECONCILE_ORDERS, SERVICE_NAME, STRANDED_ORDER_SCHEDULE

pytestmark = pytest.mark.infra

SCHEDULE = "Schedules/Reconciler"
ROLE = "Schedules/ReconcilerRole"


def reconciler_arn(assembly: CloudAssembly) -> dict:
    return {"Fn::GetAtt": [assembly.function_id(RECONCILE_ORDERS.logical_name), "Arn"]}


def schedule(assembly: CloudAssembly) -> dict:
    return assembly.at(SCHEDULE)["Properties"]


def test_the_schedule_invokes_the_reconciler_every_minute_with_the_age_and_attempts_of_workflows_resources(assembly):
    properties = schedule(assembly)
    target = properties["Target"]

    assert properties["ScheduleExpression"] == "rate(1 minute)" == STRANDED_ORDER_SCHEDULE.rate_expression
    assert (properties["State"], properties["FlexibleTimeWindow"]) == ("ENABLED", {"Mode": "OFF"})
    assert target["Arn"] == reconciler_arn(assembly)
    assert json.loads(target["Input"]) == {"strandedAfterSeconds": 120, "maxStartAttempts": 5}
    assert json.loads(target["Input"]) == STRANDED_ORDER_SCHEDULE.event()
    assert target["RoleArn"] == {"Fn::GetAtt": [assembly.logical_id(f"{ROLE}/Resource"), "Arn"]}


def test_a_run_is_never_retried_past_the_next_one(assembly):
    """Scheduler retries a refused delivery for a minute at most, Lambda does not retry a failed run: the next run a
    minute later does the same work, and two runs never pile up on the same orders."""
    retry_policy = schedule(assembly)["Target"]["RetryPolicy"]
    (invoke_config,) = [
        resource["Properties"]
        for resource in assembly.of_type("AWS::Lambda::EventInvokeConfig").values()
        if resource["Properties"]["FunctionName"] == {"Ref": assembly.function_id(RECONCILE_ORDERS.logical_name)}
    ]

    assert retry_policy == {"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 2}
    assert (invoke_config["MaximumRetryAttempts"], invoke_config["MaximumEventAgeInSeconds"]) == (0, 60)
    assert RECONCILE_ORDERS.timeout_seconds < STRANDED_ORDER_SCHEDULE.every_seconds


def test_the_schedules_role_may_invoke_the_reconciler_only_and_only_this_schedule_may_assume_it(assembly):
    role = assembly.at(f"{ROLE}/Resource")["Properties"]
    policy = assembly.at(f"{ROLE}/DefaultPolicy/Resource")["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    schedule_arn = trust["Condition"]["StringEquals"]["aws:SourceArn"]
    named_with_the_role = [
        resource
        for resource in assembly.of_type("AWS::IAM::Policy").values()
        if {"Ref": assembly.logical_id(f"{ROLE}/Resource")} in resource["Properties"]["Roles"]
    ]

    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert schedule_arn["Fn::Join"][1][-1] == f":schedule/default/{schedule(assembly)['Name']}"
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert policy["PolicyDocument"]["Statement"] == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": reconciler_arn(assembly)}
    ]
    assert len(named_with_the_role) == 1


def test_an_order_the_reconciler_failed_raises_an_alarm_on_the_metric_its_handler_emits(assembly):
    from stacks import constants

    alarms = {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in assembly.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == constants.METRICS_NAMESPACE
    }
    failed = alarms[STRANDED_ORDERS_FAILED_METRIC]

    assert constants.STRANDED_ORDERS_FAILED_METRIC == STRANDED_ORDERS_FAILED_METRIC
    assert OUTCOME_METRICS[StrandedOrderOutcome.STARTED] == constants.STRANDED_ORDERS_STARTED_METRIC
    assert failed["Dimensions"] == [{"Name": "service", "Value": SERVICE_NAME}]
    assert (failed["Threshold"], failed["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_a_reconciler_that_stopped_running_raises_an_alarm(assembly):
    (silent,) = [
        alarm["Properties"]
        for alarm in assembly.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "Invocations"
    ]

    assert silent["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": assembly.function_id(RECONCILE_ORDERS.logical_name)}}
    ]
    assert (silent["ComparisonOperator"], silent["Threshold"]) == ("LessThanThreshold", 1)
    assert silent["TreatMissingData"] == "breaching", "a schedule that invokes nothing sends no data at all"
