"""The order events: the bus and its archive, the stream mapping that feeds the publisher, its DLQ and their alarms.

Each resource is found by what it is attached to (the bus, the publisher, the queue) and checked by its properties.
"""

from __future__ import annotations

import json

import pytest

from tests.infra.conftest import CloudAssembly
from workflows.resources import (
    ORDER_EVENTS,
    ORDERS_TABLE,
    PUBLISH_ORDER_EVENTS,
    STREAM_BATCH_SIZE,
    STREAM_RETRY_ATTEMPTS,
)

pytestmark = pytest.mark.infra

FOURTEEN_DAYS_S = 14 * 24 * 3600
ONE_HOUR_S = 3600


def bus_id(assembly: CloudAssembly) -> str:
    return assembly.logical_id("Events/Bus/Resource")


def queue_id(assembly: CloudAssembly) -> str:
    return assembly.logical_id("Events/DeadLetterQueue/Resource")


def publisher_mapping(assembly: CloudAssembly) -> dict:
    """The event source mapping that invokes the publisher."""
    publisher = {"Ref": assembly.function_id(PUBLISH_ORDER_EVENTS.logical_name)}
    (mapping,) = [
        resource["Properties"]
        for resource in assembly.of_type("AWS::Lambda::EventSourceMapping").values()
        if resource["Properties"]["FunctionName"] == publisher
    ]
    return mapping


def alarm_on(assembly: CloudAssembly, namespace: str, metric: str, dimension: tuple[str, object]) -> dict:
    """The alarm on ``metric`` of the one resource ``dimension`` names."""
    name, value = dimension
    (alarm,) = [
        resource["Properties"]
        for resource in assembly.of_type("AWS::CloudWatch::Alarm").values()
        if resource["Properties"]["Namespace"] == namespace
        and resource["Properties"]["MetricName"] == metric
        and resource["Properties"].get("Dimensions") == [{"Name": name, "Value": value}]
    ]
    return alarm


def test_the_bus_has_the_name_the_publisher_is_given(assembly):
    bus = assembly.at("Events/Bus/Resource")
    publisher = assembly.at(f"Functions/{PUBLISH_ORDER_EVENTS.logical_name}/Function/Resource")

    assert bus["Type"] == "AWS::Events::EventBus"
    assert bus["Properties"]["Name"] == ORDER_EVENTS.name
    assert publisher["Properties"]["Environment"]["Variables"][ORDER_EVENTS.env_var] == ORDER_EVENTS.name


def test_the_archive_keeps_every_event_of_this_service_on_the_bus_for_its_retention(assembly):
    bus_arn = {"Fn::GetAtt": [bus_id(assembly), "Arn"]}
    (archive,) = [
        resource["Properties"]
        for resource in assembly.of_type("AWS::Events::Archive").values()
        if resource["Properties"]["SourceArn"] == bus_arn
    ]

    assert archive["ArchiveName"] == ORDER_EVENTS.archive_name
    assert archive["EventPattern"] == {"source": [ORDER_EVENTS.source]}
    assert archive["RetentionDays"] == ORDER_EVENTS.archive_retention_days == 30


def test_the_bus_denies_order_events_from_anyone_but_the_publishers_role(assembly):
    """Without this, any principal allowed ``events:PutEvents`` on the bus could forge ``source: orders`` events."""
    publisher_role = assembly.logical_id(f"Functions/{PUBLISH_ORDER_EVENTS.logical_name}/Role/Resource")
    statements = [
        resource["Properties"]["Statement"]
        for resource in assembly.of_type("AWS::Events::EventBusPolicy").values()
        if resource["Properties"]["EventBusName"] == {"Ref": bus_id(assembly)}
    ]

    assert {
        "Sid": "cdk-OnlyThePublisherPutsOrderEvents",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "events:PutEvents",
        "Resource": {"Fn::GetAtt": [bus_id(assembly), "Arn"]},
        "Condition": {
            "ForAnyValue:StringEquals": {"events:source": [ORDER_EVENTS.source]},
            "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [publisher_role, "Arn"]}},
        },
    } in statements
    assert not [statement for statement in statements if statement["Effect"] == "Allow"], "the policy grants nothing"


def test_the_orders_table_streams_new_and_old_images(assembly):
    orders = assembly.at(f"Data/{ORDERS_TABLE.logical_name}/Resource")

    assert orders["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_publisher_reads_the_orders_stream_in_order_from_its_start(assembly):
    mapping = publisher_mapping(assembly)

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [assembly.table_id(ORDERS_TABLE.logical_name), "StreamArn"]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["BatchSize"] == STREAM_BATCH_SIZE
    assert mapping["ParallelizationFactor"] == 1
    assert mapping["BisectBatchOnFunctionError"] is False


def test_a_failed_record_is_retried_with_those_after_it_then_recorded_in_the_dead_letter_queue(assembly):
    mapping = publisher_mapping(assembly)

    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumRetryAttempts"] == STREAM_RETRY_ATTEMPTS
    assert mapping["MaximumRecordAgeInSeconds"] == ONE_HOUR_S
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id(assembly), "Arn"]}}}


def test_the_publisher_is_invoked_for_inserts_and_modifications_only(assembly):
    (only,) = publisher_mapping(assembly)["FilterCriteria"]["Filters"]

    assert json.loads(only["Pattern"]) == {"eventName": ["INSERT", "MODIFY"]}


def test_the_dead_letter_queue_is_named_encrypted_kept_14_days_and_refuses_plain_http(assembly):
    queue = assembly.at("Events/DeadLetterQueue/Resource")["Properties"]
    (policy,) = [
        resource["Properties"]["PolicyDocument"]
        for resource in assembly.of_type("AWS::SQS::QueuePolicy").values()
        if resource["Properties"]["Queues"] == [{"Ref": queue_id(assembly)}]
    ]

    assert queue["QueueName"] == ORDER_EVENTS.dead_letter_queue
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == FOURTEEN_DAYS_S
    assert {
        "Action": "sqs:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": {"Fn::GetAtt": [queue_id(assembly), "Arn"]},
    } in policy["Statement"]


def test_a_message_in_the_dead_letter_queue_raises_an_alarm(assembly):
    alarm = alarm_on(
        assembly,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        ("QueueName", {"Fn::GetAtt": [queue_id(assembly), "QueueName"]}),
    )

    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Statistic"] == "Maximum"
    assert alarm["TreatMissingData"] == "notBreaching"


def test_a_publisher_a_minute_behind_the_stream_or_failing_a_batch_raises_an_alarm(assembly):
    publisher = ("FunctionName", {"Ref": assembly.function_id(PUBLISH_ORDER_EVENTS.logical_name)})

    iterator_age = alarm_on(assembly, "AWS/Lambda", "IteratorAge", publisher)
    errors = alarm_on(assembly, "AWS/Lambda", "Errors", publisher)

    assert (iterator_age["Statistic"], iterator_age["Threshold"]) == ("Maximum", 60_000)
    assert (errors["Statistic"], errors["Threshold"]) == ("Sum", 1)
    assert {iterator_age["ComparisonOperator"], errors["ComparisonOperator"]} == {"GreaterThanOrEqualToThreshold"}


def test_the_outputs_name_the_bus_and_the_dead_letter_queue(assembly):
    outputs = assembly.template["Outputs"]

    assert outputs["OrderEventsBusName"]["Value"] == {"Ref": bus_id(assembly)}
    assert outputs["OrderEventsDeadLetterQueueUrl"]["Value"] == {"Ref": queue_id(assembly)}
