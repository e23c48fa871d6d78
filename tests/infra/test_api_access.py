"""Who may reach the API: its resource policy, and the warehouse's role with its one permission."""

from __future__ import annotations

import pytest

from tests.infra.conftest import CloudAssembly

pytestmark = pytest.mark.infra

WAREHOUSE_ROLE = "Api/WarehouseRole/Resource"
COGNITO_AND_PUBLIC_METHODS = [
    "execute-api:/prod/GET/docs",
    "execute-api:/prod/GET/openapi.json",
    "execute-api:/prod/GET/orders",
    "execute-api:/prod/GET/orders/*",
    "execute-api:/prod/GET/products",
    "execute-api:/prod/POST/orders",
    "execute-api:/prod/POST/orders/*/cancel",
]
"""With a resource policy, API Gateway serves Cognito and unauthenticated methods only if the policy allows them.
The IAM methods (health, shipment) are not listed: the caller's own policy decides, and only in this account."""


def resource_policy(assembly: CloudAssembly) -> list[dict]:
    return assembly.at("Api/OrdersApi/Resource")["Properties"]["Policy"]["Statement"]


def test_the_resource_policy_lets_anyone_reach_the_cognito_and_public_methods_and_only_the_warehouse_ship(assembly):
    warehouse_role = {"Fn::GetAtt": [assembly.logical_id(WAREHOUSE_ROLE), "Arn"]}

    assert resource_policy(assembly) == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Principal": "*",
            "Resource": COGNITO_AND_PUBLIC_METHODS,
        },
        {
            "Action": "execute-api:Invoke",
            "Effect": "Deny",
            "Principal": "*",
            "Resource": "execute-api:/prod/POST/orders/*/shipment",
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": warehouse_role}},
        },
    ]


def test_the_warehouse_role_is_assumed_from_this_account_and_may_only_call_back_on_shipments(assembly):
    role = assembly.at(WAREHOUSE_ROLE)["Properties"]
    policy = assembly.at("Api/WarehouseRole/DefaultPolicy/Resource")["Properties"]
    rest_api = {"Ref": assembly.logical_id("Api/OrdersApi/Resource")}

    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {
                "AWS": {
                    "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]
                }
            },
        }
    ]
    assert "warehouse" in role["Description"]
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert policy["Roles"] == [{"Ref": assembly.logical_id(WAREHOUSE_ROLE)}]
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":execute-api:",
                        {"Ref": "AWS::Region"},
                        ":",
                        {"Ref": "AWS::AccountId"},
                        ":",
                        rest_api,
                        "/prod/POST/orders/*/shipment",
                    ],
                ]
            },
        }
    ]


def test_no_other_policy_names_the_warehouse_role(assembly):
    role = {"Ref": assembly.logical_id(WAREHOUSE_ROLE)}

    attached = [
        key for key, value in assembly.of_type("AWS::IAM::Policy").items() if role in value["Properties"]["Roles"]
    ]

    assert attached == [assembly.logical_id("Api/WarehouseRole/DefaultPolicy/Resource")]
