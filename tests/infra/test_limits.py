"""The limits of the deployed stack: the stage's throttle, the web ACL on the stage, the API function's reserved
concurrency, and the shoppers' order counters the API function may update and nothing more."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import CloudAssembly
from workflows.resources import (
    ALL_FUNCTIONS,
    API,
    ORDER_QUOTAS_TABLE,
    SHOPPER_ORDER_LIMIT,
    STAGE_THROTTLE,
    StageThrottle,
)

pytestmark = pytest.mark.infra

STAGE_PATH = "Api/OrdersApi/DeploymentStage.prod/Resource"


def web_acl(assembly: CloudAssembly) -> dict[str, Any]:
    return assembly.at("Firewall/WebAcl")["Properties"]


def rule(assembly: CloudAssembly, name: str) -> dict[str, Any]:
    (found,) = [rule for rule in web_acl(assembly)["Rules"] if rule["Name"] == name]
    return found


def test_the_stage_throttles_at_the_rate_and_burst_the_local_gateway_enforces(assembly):
    (settings,) = assembly.at(STAGE_PATH)["Properties"]["MethodSettings"]

    deployed = StageThrottle(rate_limit=settings["ThrottlingRateLimit"], burst_limit=settings["ThrottlingBurstLimit"])

    assert deployed == STAGE_THROTTLE
    assert (deployed.rate_limit, deployed.burst_limit) == (50, 100)
    assert (settings["HttpMethod"], settings["ResourcePath"]) == ("*", "/*"), "the whole stage, every method"


def test_a_regional_web_acl_allows_by_default_and_is_associated_with_the_api_stage(assembly):
    association = assembly.at("Firewall/StageAssociation")["Properties"]
    stage_id = assembly.logical_id(STAGE_PATH)
    api_id = assembly.logical_id("Api/OrdersApi/Resource")

    assert web_acl(assembly)["Scope"] == "REGIONAL"
    assert web_acl(assembly)["DefaultAction"] == {"Allow": {}}
    assert association["WebACLArn"] == {"Fn::GetAtt": [assembly.logical_id("Firewall/WebAcl"), "Arn"]}
    arn = association["ResourceArn"]["Fn::Join"][1]
    assert arn[-4:] == ["::/restapis/", {"Ref": api_id}, "/stages/", {"Ref": stage_id}], (
        "the stage's ARN: arn:<partition>:apigateway:<region>::/restapis/<api>/stages/<stage>"
    )
    assert ":apigateway:" in arn


def test_each_ip_may_send_600_requests_in_5_minutes_to_the_public_routes_then_gets_429(assembly):
    limited = rule(assembly, "PublicRoutesPerIp")
    statement = limited["Statement"]["RateBasedStatement"]
    scoped = statement["ScopeDownStatement"]["OrStatement"]["Statements"]

    assert (statement["AggregateKeyType"], statement["Limit"], statement["EvaluationWindowSec"]) == ("IP", 600, 300)
    assert {match["ByteMatchStatement"]["SearchString"] for match in scoped} == {"/products", "/openapi.json", "/docs"}
    assert {match["ByteMatchStatement"]["PositionalConstraint"] for match in scoped} == {"ENDS_WITH"}
    assert {next(iter(match["ByteMatchStatement"]["FieldToMatch"])) for match in scoped} == {"UriPath"}
    response = limited["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    body = web_acl(assembly)["CustomResponseBodies"][response["CustomResponseBodyKey"]]
    assert body == {"ContentType": "APPLICATION_JSON", "Content": '{"message":"Too Many Requests"}'}
    assert limited["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True


def test_aws_common_rule_set_blocks_what_it_matches_after_the_rate_rule_but_leaves_big_bodies_to_the_api(assembly):
    common = rule(assembly, "AwsCommonRuleSet")

    assert common["Statement"] == {
        "ManagedRuleGroupStatement": {
            "VendorName": "AWS",
            "Name": "AWSManagedRulesCommonRuleSet",
            "RuleActionOverrides": [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}],
        }
    }
    assert common["OverrideAction"] == {"None": {}}, "the group's own Block actions apply, but for the body size"
    assert [rule["Name"] for rule in sorted(web_acl(assembly)["Rules"], key=lambda rule: rule["Priority"])] == [
        "PublicRoutesPerIp",
        "AwsCommonRuleSet",
    ]


def test_the_api_function_reserves_100_concurrent_executions_and_no_other_function_reserves_any(assembly):
    reserved = {
        spec.logical_name: assembly.resources[assembly.function_id(spec.logical_name)]["Properties"].get(
            "ReservedConcurrentExecutions"
        )
        for spec in ALL_FUNCTIONS
    }

    assert reserved[API.logical_name] == API.reserved_concurrency == 100
    assert {name: value for name, value in reserved.items() if name != API.logical_name} == dict.fromkeys(
        [spec.logical_name for spec in ALL_FUNCTIONS if spec is not API]
    )


def test_the_api_function_gets_the_order_limit_in_its_environment_and_the_counters_expire(assembly):
    function = assembly.resources[assembly.function_id(API.logical_name)]["Properties"]
    table = assembly.at(f"Data/{ORDER_QUOTAS_TABLE.logical_name}/Resource")["Properties"]

    assert function["Environment"]["Variables"]["SHOPPER_ORDERS_PER_MINUTE"] == str(SHOPPER_ORDER_LIMIT.per_minute)
    assert function["Environment"]["Variables"]["SHOPPER_ORDERS_PER_DAY"] == str(SHOPPER_ORDER_LIMIT.per_day)
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_a_stack_for_the_integration_suite_raises_the_order_limit_by_context_and_a_bad_value_is_refused(
    storefronts_assembly,
):
    from aws_cdk import App

    from stacks.order_stack import shopper_order_limit

    variables = storefronts_assembly.resources[storefronts_assembly.function_id(API.logical_name)]["Properties"][
        "Environment"
    ]["Variables"]

    assert (variables["SHOPPER_ORDERS_PER_MINUTE"], variables["SHOPPER_ORDERS_PER_DAY"]) == ("1000", "100000")
    assert shopper_order_limit(App()) == SHOPPER_ORDER_LIMIT
    with pytest.raises(ValueError, match="shopperOrderLimit: expected '<per minute>/<per day>'"):
        shopper_order_limit(App(context={"shopperOrderLimit": "100/10"}))
