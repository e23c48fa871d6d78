"""The REST API: every route of the handler, none open, validated, throttled, logged and traced."""

from __future__ import annotations

import pytest

from tests.infra.conftest import CloudAssembly
from workflows.resources import API

pytestmark = pytest.mark.infra

COGNITO, IAM = "COGNITO_USER_POOLS", "AWS_IAM"
EXPECTED_ROUTES = {
    ("POST", "/orders"): COGNITO,
    ("GET", "/orders"): COGNITO,
    ("GET", "/orders/{orderId}"): COGNITO,
    ("POST", "/orders/{orderId}/cancel"): COGNITO,
    ("GET", "/products"): COGNITO,
    ("GET", "/openapi.json"): COGNITO,
    ("GET", "/docs"): COGNITO,
    ("POST", "/orders/{orderId}/shipment"): IAM,
    ("GET", "/health"): IAM,
}
"""Shoppers sign in with Cognito; the warehouse callback and the health probe are for AWS principals (SigV4)."""


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


def test_every_route_of_the_handler_exists_and_none_is_open(assembly):
    authorizer = {"Ref": assembly.logical_id("Api/ShopperAuthorizer/Resource")}

    deployed = methods(assembly)

    assert {route: method["AuthorizationType"] for route, method in deployed.items()} == EXPECTED_ROUTES
    for (http_method, path), method in deployed.items():
        assert method["AuthorizationType"] != "NONE" or http_method == "OPTIONS", path
        if method["AuthorizationType"] == COGNITO:
            assert method["AuthorizerId"] == authorizer, path


def test_every_method_proxies_to_the_api_function_through_the_request_validator(assembly):
    api_function = assembly.function_id(API.logical_name)
    validator_id = assembly.logical_id("Api/OrdersApi/RequestValidator/Resource")
    validator = assembly.at("Api/OrdersApi/RequestValidator/Resource")["Properties"]

    assert validator["ValidateRequestBody"] is True
    assert validator["ValidateRequestParameters"] is True
    for (_, path), method in methods(assembly).items():
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
