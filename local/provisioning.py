"""Creates the service's resources on an AWS endpoint from ``workflows.resources``: tables, catalog, state machine.

The workflow tests, the pytest fixtures and the local stack all provision through here, so they run the same ASL
file with the same substitutions that CDK deploys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from local.lambda_runner import LOCAL_ACCOUNT_ID, LOCAL_REGION, function_arn, merged_environment
from tasks.adapters.dynamodb import to_item
from workflows.resources import (
    ORDER_WORKFLOW,
    TABLES,
    WORKFLOW_FUNCTIONS,
    FunctionSpec,
    StateMachineSpec,
    Substitution,
    SubstitutionKind,
    TableSpec,
    function_environment,
    table,
)

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
    table_names: Mapping[str, str]


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
    return table(substitution.target).local_name


def create_table(dynamodb: Any, spec: TableSpec) -> None:
    """Create one table the way CDK declares it: on-demand, same keys, same indexes, same TTL."""
    key_names = [spec.partition_key, *([spec.sort_key] if spec.sort_key else [])]
    for index in spec.indexes:
        key_names += [index.partition_key, *([index.sort_key] if index.sort_key else [])]
    request: dict[str, Any] = {
        "TableName": spec.local_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in dict.fromkeys(key_names)],
        "KeySchema": _key_schema(spec.partition_key, spec.sort_key),
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.partition_key, index.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    dynamodb.create_table(**request)
    if spec.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=spec.local_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )


def _key_schema(partition_key: str, sort_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    if sort_key:
        schema.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    return schema


def seed_catalog(dynamodb: Any, products: Iterable[Mapping[str, Any]]) -> None:
    name = table("Products").local_name
    for product in products:
        dynamodb.put_item(TableName=name, Item=to_item(product))


def create_state_machine(stepfunctions: Any, spec: StateMachineSpec = ORDER_WORKFLOW) -> str:
    """Create the STANDARD state machine from the ASL file, with placeholders filled in for this machine."""
    definition = spec.render(resolve_locally)
    response = stepfunctions.create_state_machine(
        name=spec.local_name, definition=definition, roleArn=LOCAL_ROLE_ARN, type="STANDARD"
    )
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
    return LocalDeployment(state_machine_arn=create_state_machine(stepfunctions), table_names=local_table_names())
