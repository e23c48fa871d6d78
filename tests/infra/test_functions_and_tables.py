"""Every function and table of ``workflows.resources`` is deployed as its spec describes."""

from __future__ import annotations

import pytest

from tests.infra.conftest import CloudAssembly
from workflows.resources import (
    ALL_FUNCTIONS,
    API,
    CORS_ALLOWED_ORIGINS_ENV,
    PUSH_ORDER_STATUS,
    STATE_MACHINE_ARN_ENV,
    TABLES,
    TOKEN_AUDIENCE_ENV,
    TOKEN_ISSUER_ENV,
    WEBSOCKET_AUTHORIZER,
    WEBSOCKET_CALLBACK_URL_ENV,
    FunctionSpec,
    TableSpec,
    function_environment,
)

pytestmark = pytest.mark.infra


def function_properties(assembly: CloudAssembly, spec: FunctionSpec) -> dict:
    return assembly.at(f"Functions/{spec.logical_name}/Function/Resource")["Properties"]


@pytest.mark.parametrize("spec", ALL_FUNCTIONS, ids=lambda spec: spec.logical_name)
def test_each_function_runs_its_handler_on_arm64_python313_with_the_dependencies_layer(assembly, spec):
    properties = function_properties(assembly, spec)
    (layer,) = properties["Layers"]

    assert properties["Handler"] == spec.handler
    assert properties["Runtime"] == "python3.13"
    assert properties["Architectures"] == ["arm64"]
    assert properties["MemorySize"] == spec.memory_mb
    assert properties["Timeout"] == spec.timeout_seconds
    assert layer == {"Ref": assembly.logical_id("Functions/DependenciesLayer/Resource")}


@pytest.mark.parametrize("spec", ALL_FUNCTIONS, ids=lambda spec: spec.logical_name)
def test_each_function_gets_the_environment_the_resource_description_computes(assembly, spec):
    """Plus what only the deployment knows: the API's storefront origins (none without ``corsOrigins``), the
    authorizer's user pool, the push function's WebSocket stage (their values: tests/infra/test_websocket_api.py)."""
    table_names = {table.logical_name: {"Ref": assembly.table_id(table.logical_name)} for table in TABLES}
    state_machine = {"Ref": assembly.state_machine_id()}
    deployment_only = {
        API.logical_name: {CORS_ALLOWED_ORIGINS_ENV},
        WEBSOCKET_AUTHORIZER.logical_name: {TOKEN_ISSUER_ENV, TOKEN_AUDIENCE_ENV},
        PUSH_ORDER_STATUS.logical_name: {WEBSOCKET_CALLBACK_URL_ENV},
    }.get(spec.logical_name, set())
    variables = function_properties(assembly, spec)["Environment"]["Variables"]

    expected = function_environment(spec, table_names, state_machine if spec.uses_workflow else None)

    assert {name: value for name, value in variables.items() if name not in deployment_only} == expected
    assert deployment_only <= variables.keys()
    if spec is API:
        assert variables[CORS_ALLOWED_ORIGINS_ENV] == ""
    assert (STATE_MACHINE_ARN_ENV in expected) is spec.uses_workflow


def test_every_function_is_traced_and_logs_to_a_log_group_with_retention(assembly, cdk_template):
    from aws_cdk.assertions import Match

    cdk_template.all_resources_properties(
        "AWS::Lambda::Function",
        {"TracingConfig": {"Mode": "Active"}, "LoggingConfig": {"LogGroup": Match.any_value()}},
    )
    cdk_template.all_resources_properties("AWS::Logs::LogGroup", {"RetentionInDays": Match.any_value()})
    assert len(assembly.of_type("AWS::Lambda::Function")) == len(ALL_FUNCTIONS)


def test_the_code_asset_holds_only_the_handler_packages(assembly):
    (code_key,) = {function_properties(assembly, spec)["Code"]["S3Key"] for spec in ALL_FUNCTIONS}
    asset = assembly.outdir / f"asset.{code_key.removesuffix('.zip')}"
    files = {path.relative_to(asset).as_posix() for path in asset.rglob("*") if path.is_file()}

    assert {path.split("/", 1)[0] for path in files} == {"tasks", "workflows"}
    assert "workflows/order_workflow.asl.json" in files
    assert {spec.module.replace(".", "/") + ".py" for spec in ALL_FUNCTIONS} <= files
    assert not [path for path in files if "__pycache__" in path or path.endswith(".pyc")]


@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.logical_name)
def test_each_table_is_on_demand_recoverable_encrypted_keyed_and_streamed_as_described(assembly, spec: TableSpec):
    table = assembly.at(f"Data/{spec.logical_name}/Resource")
    properties = table["Properties"]
    indexes = {
        index["IndexName"]: (
            [key["AttributeName"] for key in index["KeySchema"]],
            index["Projection"]["ProjectionType"],
            index["Projection"].get("NonKeyAttributes", []),
        )
        for index in properties.get("GlobalSecondaryIndexes", [])
    }

    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert [key["AttributeName"] for key in properties["KeySchema"]] == [
        key for key in (spec.partition_key, spec.sort_key) if key
    ]
    assert indexes == {
        index.name: (
            [key for key in (index.partition_key, index.sort_key) if key],
            index.projection_type,
            list(index.projection or ()),
        )
        for index in spec.indexes
    }
    assert properties.get("TimeToLiveSpecification") == (
        {"AttributeName": spec.ttl_attribute, "Enabled": True} if spec.ttl_attribute else None
    )
    assert properties.get("StreamSpecification") == (
        {"StreamViewType": spec.stream_view_type} if spec.stream_view_type else None
    )
    assert table["DeletionPolicy"] == "Retain"


def test_the_orders_indexes_keep_only_keys_so_status_changes_write_small_entries(assembly):
    properties = assembly.at("Data/Orders/Resource")["Properties"]

    projections = {index["IndexName"]: index["Projection"] for index in properties["GlobalSecondaryIndexes"]}

    assert projections == {
        "by-status-shard": {"ProjectionType": "KEYS_ONLY"},
        "by-customer": {"ProjectionType": "KEYS_ONLY"},
        "by-customer-status": {"ProjectionType": "KEYS_ONLY"},
        "awaiting-shipment-shard": {"ProjectionType": "KEYS_ONLY"},
    }


def test_no_orders_index_is_keyed_by_the_bare_status(assembly):
    """Six status values for every order would put the whole shop's status writes on a few partitions."""
    properties = assembly.at("Data/Orders/Resource")["Properties"]

    partition_keys = {
        index["IndexName"]: next(key["AttributeName"] for key in index["KeySchema"] if key["KeyType"] == "HASH")
        for index in properties["GlobalSecondaryIndexes"]
    }

    assert "status" not in partition_keys.values()
    assert partition_keys["by-status-shard"] == partition_keys["awaiting-shipment-shard"] == "statusShard"
