"""Creates the service's resources on an AWS endpoint from ``workflows.resources``: tables, catalog, state machines.

The workflow tests, the pytest fixtures and the local stack all provision through here, so they run the same ASL
files with the same substitutions that CDK deploys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from local.aws.awslambda.runner import LOCAL_ACCOUNT_ID, LOCAL_REGION, function_arn, merged_environment
from tasks.adapters.dynamodb import to_item
from workflows.resources import (
    LAMBDA_RULES,
    ORDER_EVENTS,
    ORDER_PREPARATION,
    ORDER_WORKFLOW,
    ORDERS_TABLE,
    STATE_MACHINES,
    TABLES,
    WORKFLOW_FUNCTIONS,
    FunctionSpec,
    StateMachineSpec,
    Substitution,
    SubstitutionKind,
    TableSpec,
    function_environment,
    state_machine,
    table,
)


def local_state_machine_arn(spec: StateMachineSpec) -> str:
    """The ARN a state machine gets locally, known before it exists, as CDK knows it before deploying."""
    return f"arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stateMachine:{spec.local_name}"


LOCAL_ROLE_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/orders-local-state-machine"

LOCAL_RUNTIME_ENVIRONMENT = {
    "AWS_REGION": LOCAL_REGION,
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
"""Lambda's runtime sets the region for every function, so the runner does too. Locally there is no X-Ray or
CloudWatch to send traces and metrics to; warnings and errors are still logged."""


@dataclass(frozen=True)
class LocalDeployment:
    state_machine_arn: str
    """The order workflow (the Standard parent the API starts)."""
    table_names: Mapping[str, str]
    preparation_state_machine_arn: str = local_state_machine_arn(ORDER_PREPARATION)
    """Its Express child."""


def local_table_names() -> dict[str, str]:
    return {spec.logical_name: spec.local_name for spec in TABLES}


def local_function_environment(
    functions: Iterable[FunctionSpec] = WORKFLOW_FUNCTIONS, state_machine_arn: str | None = None
) -> dict[str, str]:
    """The environment every local function shares, checked for conflicts."""
    names = local_table_names()
    functions = tuple(functions)
    environments = {spec.logical_name: function_environment(spec, names, state_machine_arn) for spec in functions}
    return {**merged_environment(functions, environments), **LOCAL_RUNTIME_ENVIRONMENT}


def resolve_locally(substitution: Substitution) -> str:
    if substitution.kind is SubstitutionKind.FUNCTION_ARN:
        return function_arn(substitution.target)
    if substitution.kind is SubstitutionKind.STATE_MACHINE_ARN:
        return local_state_machine_arn(state_machine(substitution.target))
    return table(substitution.target).local_name


def create_table(dynamodb: Any, spec: TableSpec) -> dict[str, Any]:
    """Create one table the way CDK declares it: on-demand, same keys, same indexes and projections, same TTL.

    Returns its description, as CreateTable does (with the ``LatestStreamArn`` of a table with a stream)."""
    key_names = [spec.partition_key, *([spec.sort_key] if spec.sort_key else [])]
    for index in spec.indexes:
        key_names += [index.partition_key, *([index.sort_key] if index.sort_key else [])]
    request: dict[str, Any] = {
        "TableName": spec.local_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in dict.fromkeys(key_names)],
        "KeySchema": _key_schema(spec.partition_key, spec.sort_key),
    }
    if spec.stream_view_type:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.stream_view_type}
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.partition_key, index.sort_key),
                "Projection": {
                    "ProjectionType": index.projection_type,
                    **({"NonKeyAttributes": list(index.projection)} if index.projection else {}),
                },
            }
            for index in spec.indexes
        ]
    description = dynamodb.create_table(**request)["TableDescription"]
    if spec.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=spec.local_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )
    return description


def _key_schema(partition_key: str, sort_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    if sort_key:
        schema.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    return schema


BATCH_WRITE_LIMIT = 25
"""The most items one BatchWriteItem takes."""


def seed_catalog(dynamodb: Any, products: Iterable[Mapping[str, Any]]) -> None:
    """Store the products, one BatchWriteItem per 25 rather than a PutItem each: a test stack seeds them again after
    every test."""
    name = table("Products").local_name
    puts = [{"PutRequest": {"Item": to_item(product)}} for product in products]
    for start in range(0, len(puts), BATCH_WRITE_LIMIT):
        unprocessed = {name: puts[start : start + BATCH_WRITE_LIMIT]}
        while unprocessed:
            unprocessed = dynamodb.batch_write_item(RequestItems=unprocessed).get("UnprocessedItems")


def recreate_tables(dynamodb: Any, products: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every table empty again, the catalog seeded: deleting and creating a table is cheaper than deleting its items,
    and writes no stream record. Returns the new tables' descriptions by name: a stream is new too."""
    descriptions = {}
    for spec in TABLES:
        dynamodb.delete_table(TableName=spec.local_name)
        descriptions[spec.local_name] = create_table(dynamodb, spec)
    seed_catalog(dynamodb, products)
    return descriptions


def create_state_machine(stepfunctions: Any, spec: StateMachineSpec = ORDER_WORKFLOW) -> str:
    """Create one state machine of its type from its ASL file, with placeholders filled in for this machine."""
    definition = spec.render(resolve_locally)
    response = stepfunctions.create_state_machine(
        name=spec.local_name, definition=definition, roleArn=LOCAL_ROLE_ARN, type=spec.workflow_type.value
    )
    if response["stateMachineArn"] != local_state_machine_arn(spec):
        raise RuntimeError(f"{spec.local_name} was created as {response['stateMachineArn']}")
    return response["stateMachineArn"]


def provision(dynamodb: Any, stepfunctions: Any, products: Iterable[Mapping[str, Any]]) -> LocalDeployment:
    """Create every table, seed the catalog, and create the state machine.

    Parameters
    ----------
    dynamodb, stepfunctions:
        boto3 clients for the AWS endpoint (moto in-process, or moto's server).
    products:
        The catalog to seed, as table items.

    Example
    -------
    >>> deployment = provision(boto3.client("dynamodb"), boto3.client("stepfunctions"), catalog_items())
    ... # doctest: +SKIP
    """
    for spec in TABLES:
        create_table(dynamodb, spec)
    seed_catalog(dynamodb, products)
    arns = {spec.logical_name: create_state_machine(stepfunctions, spec) for spec in STATE_MACHINES}
    return LocalDeployment(
        state_machine_arn=arns[ORDER_WORKFLOW.logical_name],
        table_names=local_table_names(),
        preparation_state_machine_arn=arns[ORDER_PREPARATION.logical_name],
    )


@dataclass(frozen=True)
class OrderEventsDeployment:
    """Where the order events go: the bus, the stream that feeds it, and the dead-letter queue of that feed."""

    bus_arn: str
    stream_arn: str
    dead_letter_queue_url: str


def provision_order_events(dynamodb: Any, events: Any, sqs: Any) -> OrderEventsDeployment:
    """Create the ``orders`` bus with its archive, the stream's dead-letter queue and the rules that invoke functions
    (the live status push), as CDK declares them.

    Example
    -------
    >>> provision_order_events(boto3.client("dynamodb"), boto3.client("events"), boto3.client("sqs"))
    ... # doctest: +SKIP
    """
    bus_arn = events.create_event_bus(Name=ORDER_EVENTS.name)["EventBusArn"]
    events.create_archive(
        ArchiveName=ORDER_EVENTS.archive_name,
        EventSourceArn=bus_arn,
        EventPattern=json.dumps({"source": [ORDER_EVENTS.source]}),
        RetentionDays=ORDER_EVENTS.archive_retention_days,
    )
    dead_letter_queue_url = sqs.create_queue(QueueName=ORDER_EVENTS.dead_letter_queue)["QueueUrl"]
    for rule in LAMBDA_RULES:
        events.put_rule(
            Name=rule.logical_name,
            EventBusName=ORDER_EVENTS.name,
            EventPattern=json.dumps(rule.event_pattern),
            Description=rule.description,
        )
        retry = {"MaximumRetryAttempts": rule.retry_attempts, "MaximumEventAgeInSeconds": rule.max_event_age_seconds}
        target = {"Id": rule.target.logical_name, "Arn": function_arn(rule.target.logical_name), "RetryPolicy": retry}
        events.put_targets(Rule=rule.logical_name, EventBusName=ORDER_EVENTS.name, Targets=[target])
    stream_arn = dynamodb.describe_table(TableName=ORDERS_TABLE.local_name)["Table"]["LatestStreamArn"]
    return OrderEventsDeployment(bus_arn, stream_arn, dead_letter_queue_url)


def recreate_queue(sqs: Any, url: str) -> None:
    """The queue at ``url`` empty again, under the same URL and ARN (so subscriptions still deliver to it), for a
    queue created without attributes, as ``provision_order_events`` and ``subscribe_queue`` create theirs.

    PurgeQueue would refuse a second purge within a minute, as AWS does.
    """
    name = url.rstrip("/").rsplit("/", 1)[-1]
    sqs.delete_queue(QueueUrl=url)
    sqs.create_queue(QueueName=name)


def subscribe_queue(events: Any, sqs: Any, name: str, pattern: Mapping[str, Any] | None = None) -> str:
    """An SQS queue that receives the bus's order events through a rule, as a downstream team subscribes one.

    Returns the queue's URL. ``pattern`` narrows the rule (EventBridge's event pattern); by default every
    ``OrderStatusChanged``.

    Example
    -------
    >>> url = subscribe_queue(boto3.client("events"), boto3.client("sqs"), "fulfilment")  # doctest: +SKIP
    """
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = pattern or {"source": [ORDER_EVENTS.source], "detail-type": [ORDER_EVENTS.detail_type]}
    events.put_rule(Name=name, EventBusName=ORDER_EVENTS.name, EventPattern=json.dumps(rule))
    events.put_targets(Rule=name, EventBusName=ORDER_EVENTS.name, Targets=[{"Id": name, "Arn": arn}])
    return url
