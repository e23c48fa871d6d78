"""CORS for storefronts: preflights for exactly the configured origins (context ``corsOrigins``), or none at all."""

from __future__ import annotations

import pytest

from tests.infra.conftest import CloudAssembly
from tests.infra.test_api_stack import methods
from workflows.resources import API, CORS_ALLOWED_ORIGINS_ENV, ROUTES

pytestmark = pytest.mark.infra

SHOP, MOBILE = "https://shop.example.com", "https://m.example.com"
HEADER = "method.response.header."


def preflights(assembly: CloudAssembly) -> dict[str, dict]:
    return {path: method for (http_method, path), method in methods(assembly).items() if http_method == "OPTIONS"}


def api_environment(assembly: CloudAssembly) -> dict[str, str]:
    return assembly.at(f"Functions/{API.logical_name}/Function/Resource")["Properties"]["Environment"]["Variables"]


def allowed_to_anyone(assembly: CloudAssembly) -> list[str]:
    (allow, _) = assembly.at("Api/OrdersApi/Resource")["Properties"]["Policy"]["Statement"]
    return allow["Resource"]


def test_without_origins_there_is_no_preflight_and_the_function_allows_no_origin(assembly):
    assert preflights(assembly) == {}
    assert api_environment(assembly)[CORS_ALLOWED_ORIGINS_ENV] == ""
    assert "execute-api:/prod/OPTIONS/*" not in allowed_to_anyone(assembly)
    assert assembly.of_type("AWS::ApiGateway::GatewayResponse") == {}


def test_each_resource_answers_preflights_for_exactly_the_configured_origins(storefronts_assembly):
    methods_by_path: dict[str, set[str]] = {}
    for route in ROUTES:
        methods_by_path.setdefault(route.path, set()).add(route.method)

    found = preflights(storefronts_assembly)

    assert found.keys() == methods_by_path.keys()
    for path, method in found.items():
        (response,) = method["Integration"]["IntegrationResponses"]
        headers = response["ResponseParameters"]
        assert method["AuthorizationType"] == "NONE", path
        assert method["Integration"]["Type"] == "MOCK", path
        assert headers[f"{HEADER}Access-Control-Allow-Origin"] == f"'{SHOP}'", path
        assert response["ResponseTemplates"]["application/json"].count(f'$origin == "{MOBILE}"') == 1, path
        assert "*" not in response["ResponseTemplates"]["application/json"], path
        assert headers[f"{HEADER}Vary"] == "'Origin'", path
        assert headers[f"{HEADER}Access-Control-Allow-Headers"] == "'Authorization,Content-Type,Idempotency-Key'"
        assert set(headers[f"{HEADER}Access-Control-Allow-Methods"].strip("'").split(",")) == (
            methods_by_path[path] | {"OPTIONS"}
        ), path
        assert f"{HEADER}Access-Control-Allow-Credentials" not in headers, path


def test_with_origins_the_function_knows_them_and_the_resource_policy_lets_preflights_through(storefronts_assembly):
    assert api_environment(storefronts_assembly)[CORS_ALLOWED_ORIGINS_ENV] == f"{SHOP},{MOBILE}"
    assert "execute-api:/prod/OPTIONS/*" in allowed_to_anyone(storefronts_assembly)


def test_with_several_origins_api_gateway_errors_carry_no_cors_header(storefronts_assembly):
    assert storefronts_assembly.of_type("AWS::ApiGateway::GatewayResponse") == {}


def test_with_one_origin_api_gateway_errors_carry_it(storefront_assembly):
    responses = storefront_assembly.of_type("AWS::ApiGateway::GatewayResponse").values()

    assert {
        response["Properties"]["ResponseType"]: response["Properties"]["ResponseParameters"] for response in responses
    } == {
        kind: {
            "gatewayresponse.header.Access-Control-Allow-Origin": f"'{SHOP}'",
            "gatewayresponse.header.Vary": "'Origin'",
        }
        for kind in ("DEFAULT_4XX", "DEFAULT_5XX")
    }
    assert api_environment(storefront_assembly)[CORS_ALLOWED_ORIGINS_ENV] == SHOP


@pytest.mark.usefixtures("node")
@pytest.mark.parametrize(
    ("value", "origins"),
    [
        (None, ()),
        ("", ()),
        (f" {SHOP} ,{MOBILE},{SHOP}", (SHOP, MOBILE)),
        ([SHOP, "http://localhost:5173"], (SHOP, "http://localhost:5173")),
    ],
)
def test_origins_come_as_a_list_or_a_comma_separated_string(value, origins):
    from aws_cdk import App

    from stacks.constructs.api_construct import cors_origins

    assert cors_origins(App(context={} if value is None else {"corsOrigins": value})) == origins


@pytest.mark.usefixtures("node")
@pytest.mark.parametrize(
    "value", ["*", f"{SHOP},*", f"{SHOP}/", "shop.example.com", "https://*.example.com", f"{SHOP}/path", 3]
)
def test_anything_but_origins_is_refused(value):
    from aws_cdk import App

    from stacks.constructs.api_construct import cors_origins

    with pytest.raises(ValueError, match="corsOrigins"):
        cors_origins(App(context={"corsOrigins": value}))
