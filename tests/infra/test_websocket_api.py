"""The WebSocket API of live order status: routes, the $connect authorizer, the stage's access log, the connections
table, the rule on the ``orders`` bus and the push function's alarm."""

from __future__ import annotations

import json

import pytest

from tests.infra.conftest import CloudAssembly
from workflows.resources import (
    CONNECTIONS_TABLE,
    PUSH_ORDER_STATUS,
    TOKEN_AUDIENCE_ENV,
    TOKEN_ISSUER_ENV,
    WEBSOCKET_AUTHORIZER,
    WEBSOCKET_CALLBACK_URL_ENV,
    WEBSOCKET_CONNECTIONS,
)

pytestmark = pytest.mark.infra


def routes(assembly: CloudAssembly) -> dict[str, dict]:
    return {
        route["Properties"]["RouteKey"]: route["Properties"]
        for route in assembly.of_type("AWS::ApiGatewayV2::Route").values()
    }


def integration_function(assembly: CloudAssembly, route: dict) -> str:
    integration_id = route["Target"]["Fn::Join"][1][1]["Ref"]
    uri = assembly.resources[integration_id]["Properties"]["IntegrationUri"]
    return uri["Fn::Join"][1][-2]["Fn::GetAtt"][0]


def test_connect_is_authorized_by_the_token_authorizer_and_every_route_runs_the_connections_function(assembly):
    found = routes(assembly)
    authorizer_id = assembly.logical_id("LiveStatus/Api/ShopperTokenAuthorizer/Resource")

    assert found.keys() == {"$connect", "$disconnect", "$default"}
    assert found["$connect"]["AuthorizationType"] == "CUSTOM"
    assert found["$connect"]["AuthorizerId"] == {"Ref": authorizer_id}
    assert {integration_function(assembly, route) for route in found.values()} == {
        assembly.function_id(WEBSOCKET_CONNECTIONS.logical_name)
    }


def test_the_authorizer_reads_the_token_from_the_query_string_and_runs_the_authorizer_function(assembly):
    authorizer = assembly.at("LiveStatus/Api/ShopperTokenAuthorizer/Resource")["Properties"]

    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    assert authorizer["AuthorizerUri"]["Fn::Join"][1][-2] == {
        "Fn::GetAtt": [assembly.function_id(WEBSOCKET_AUTHORIZER.logical_name), "Arn"]
    }


def test_the_authorizer_verifies_against_the_shoppers_pool_and_app_client(assembly):
    variables = assembly.at(f"Functions/{WEBSOCKET_AUTHORIZER.logical_name}/Function/Resource")["Properties"][
        "Environment"
    ]["Variables"]
    pool = assembly.logical_id("Api/Shoppers/Resource")
    client = assembly.logical_id("Api/Shoppers/ShopperClient/Resource")

    assert variables[TOKEN_AUDIENCE_ENV] == {"Ref": client}
    assert {"Fn::GetAtt": [pool, "ProviderURL"]} == variables[TOKEN_ISSUER_ENV]


def test_the_access_log_keeps_no_query_string_and_no_header(assembly):
    stage = assembly.at("LiveStatus/Stage/Resource")["Properties"]
    log_format = json.loads(stage["AccessLogSettings"]["Format"])

    assert stage["AccessLogSettings"]["DestinationArn"] == {
        "Fn::GetAtt": [assembly.logical_id("LiveStatus/AccessLogs/Resource"), "Arn"]
    }
    assert "connectionId" in log_format
    assert not [value for value in log_format.values() if "querystring" in value.lower() or "header" in value.lower()]
    assert "token" not in stage["AccessLogSettings"]["Format"]


def test_the_connections_table_expires_entries_and_is_indexed_by_subscriber(assembly):
    table = assembly.at(f"Data/{CONNECTIONS_TABLE.logical_name}/Resource")["Properties"]

    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["KeySchema"] == [{"AttributeName": "connectionId", "KeyType": "HASH"}]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-subscriber"
    assert index["KeySchema"] == [{"AttributeName": "subscriber", "KeyType": "HASH"}]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_a_rule_on_the_orders_bus_sends_order_status_changes_to_the_push_function(assembly):
    rule = assembly.at("LiveStatus/OrderStatusToSockets/Resource")["Properties"]
    (target,) = rule["Targets"]

    assert rule["EventBusName"] == {"Ref": assembly.logical_id("Events/Bus/Resource")}
    assert rule["EventPattern"] == {"source": ["orders"], "detail-type": ["OrderStatusChanged"]}
    assert target["Arn"] == {"Fn::GetAtt": [assembly.function_id(PUSH_ORDER_STATUS.logical_name), "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1


def test_the_push_function_posts_to_this_stages_callback_url(assembly):
    variables = assembly.at(f"Functions/{PUSH_ORDER_STATUS.logical_name}/Function/Resource")["Properties"][
        "Environment"
    ]["Variables"]
    parts = variables[WEBSOCKET_CALLBACK_URL_ENV]["Fn::Join"][1]

    assert parts[0] == "https://"
    assert {"Ref": assembly.logical_id("LiveStatus/Api/Resource")} in parts
    assert parts[-1].endswith("/prod")


def test_the_push_function_has_an_errors_alarm_and_the_stack_outputs_the_websocket_url(assembly):
    alarm = assembly.at(f"Monitoring/{PUSH_ORDER_STATUS.logical_name}Errors/Resource")["Properties"]
    output = assembly.template["Outputs"]["WebSocketUrl"]

    assert alarm["MetricName"] == "Errors"
    assert alarm["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": assembly.function_id(PUSH_ORDER_STATUS.logical_name)}}
    ]
    assert output["Value"]["Fn::Join"][1][0] == "wss://"
