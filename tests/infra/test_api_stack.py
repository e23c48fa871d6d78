"""The REST API: every route of the shared route table, authorized by its caller, validated, throttled, logged
and traced; the user pool with its operators group."""

from __future__ import annotations

import pytest

from tests.infra.conftest import CloudAssembly
from workflows.resources import API, OPERATORS_GROUP, ROUTES, Caller

pytestmark = pytest.mark.infra

COGNITO, IAM, NONE = "COGNITO_USER_POOLS", "AWS_IAM", "NONE"
EXPECTED_ROUTES = {
    ("POST", "/orders"): COGNITO,
    ("GET", "/orders"): COGNITO,
    ("GET", "/orders/{orderId}"): COGNITO,
    ("POST", "/orders/{orderId}/cancel"): COGNITO,
    ("GET", "/products"): NONE,
    ("GET", "/openapi.json"): NONE,
    ("GET", "/docs"): NONE,
    ("POST", "/orders/{orderId}/shipment"): IAM,
    ("GET", "/health"): IAM,
}
"""Shoppers sign in with Cognito; the warehouse callback and the health probe are for AWS principals (SigV4); the
catalog and the API's documentation are public."""
AUTHORIZATION_OF = {Caller.SHOPPER: COGNITO, Caller.SERVICE: IAM, Caller.PUBLIC: NONE}


def resource_path(assembly: CloudAssembly, resource_id: dict) -> str:
    if "Fn::GetAtt" in resource_id:
        return ""
    resource = assembly.resources[resource_id["Ref"]]["Properties"]
    return f"{resource_path(assembly, resource['ParentId'])}/{resource['PathPart']}"


def methods(assembly: CloudAssembly) -> dict[tuple[str, str], dict]:
    return {
        (method["Properties"]["HttpMethod"], resource_path(assembly, method["Properties"]["ResourceId"])): method[
            "Properties"
        ]
        for method in assembly.of_type("AWS::ApiGateway::Method").values()
    }


def test_the_routes_are_the_shared_route_table():
    assert {(route.method, route.path): AUTHORIZATION_OF[route.caller] for route in ROUTES} == EXPECTED_ROUTES


def test_every_route_exists_authorized_as_its_caller_and_only_the_catalog_and_docs_are_open(assembly):
    authorizer = {"Ref": assembly.logical_id("Api/ShopperAuthorizer/Resource")}

    deployed = methods(assembly)

    assert {route: method["AuthorizationType"] for route, method in deployed.items()} == EXPECTED_ROUTES
    for path_key, method in deployed.items():
        if method["AuthorizationType"] == COGNITO:
            assert method["AuthorizerId"] == authorizer, path_key
        else:
            assert "AuthorizerId" not in method, path_key


def test_every_method_proxies_to_the_api_function_through_the_request_validator(assembly):
    api_function = assembly.function_id(API.logical_name)
    validator_id = assembly.logical_id("Api/OrdersApi/RequestValidator/Resource")
    validator = assembly.at("Api/OrdersApi/RequestValidator/Resource")["Properties"]

    assert validator["ValidateRequestBody"] is True
    assert validator["ValidateRequestParameters"] is True
    for (http_method, path), method in methods(assembly).items():
        if http_method == "OPTIONS":
            continue
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY", path
        assert {"Fn::GetAtt": [api_function, "Arn"]} in integration["Uri"]["Fn::Join"][1], path
        assert method["RequestValidatorId"] == {"Ref": validator_id}, path
        if "{orderId}" in path:
            assert method["RequestParameters"] == {"method.request.path.orderId": True}, path


def test_the_stage_is_throttled_logged_and_traced(assembly, cdk_template):
    from aws_cdk.assertions import Match

    cdk_template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "TracingEnabled": True,
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.string_like_regexp("requestId")},
            "MethodSettings": [
                Match.object_like(
                    {
                        "HttpMethod": "*",
                        "ResourcePath": "/*",
                        "LoggingLevel": "INFO",
                        "DataTraceEnabled": False,
                        "MetricsEnabled": True,
                        "ThrottlingRateLimit": Match.any_value(),
                        "ThrottlingBurstLimit": Match.any_value(),
                    }
                )
            ],
        },
    )
    assert assembly.of_type("AWS::ApiGateway::Account"), "execution logging needs the account's CloudWatch role"


def test_shoppers_sign_in_with_a_strong_password_and_threat_protection(assembly):
    pool = assembly.at("Api/Shoppers/Resource")["Properties"]
    client = assembly.at("Api/Shoppers/ShopperClient/Resource")["Properties"]

    assert pool["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 12,
        "RequireLowercase": True,
        "RequireNumbers": True,
        "RequireSymbols": True,
        "RequireUppercase": True,
    }
    assert pool["UserPoolTier"] == "PLUS"
    assert pool["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    assert "GenerateSecret" not in client or client["GenerateSecret"] is False
    assert "ALLOW_USER_PASSWORD_AUTH" in client["ExplicitAuthFlows"]


def test_the_operators_group_is_on_the_shoppers_user_pool_and_kept_with_it(assembly):
    (group,) = assembly.of_type("AWS::Cognito::UserPoolGroup").values()

    assert group["Properties"]["GroupName"] == OPERATORS_GROUP == "ops"
    assert group["Properties"]["UserPoolId"] == {"Ref": assembly.logical_id("Api/Shoppers/Resource")}
    assert "order" in group["Properties"]["Description"]
    assert group["DeletionPolicy"] == "Retain"
