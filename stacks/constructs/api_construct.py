"""The REST API in front of the API handler: Cognito for shoppers, IAM for services, no method open."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks import constants
from stacks.nag import suppress
from workflows.resources import API


class Caller(StrEnum):
    """Who calls a route, which decides how API Gateway authenticates it."""

    SHOPPER = "shopper"
    """A person signed in to the shoppers' Cognito user pool: ``Authorization: <IdToken>``."""
    SERVICE = "service"
    """Another system or an operator with AWS credentials (the warehouse, a health probe): SigV4, IAM-authorized."""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    caller: Caller

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))


ROUTES = (
    Route("POST", "/orders", Caller.SHOPPER),
    Route("GET", "/orders", Caller.SHOPPER),
    Route("GET", "/orders/{orderId}", Caller.SHOPPER),
    Route("POST", "/orders/{orderId}/cancel", Caller.SHOPPER),
    Route("GET", "/products", Caller.SHOPPER),
    Route("GET", "/openapi.json", Caller.SHOPPER),
    Route("GET", "/docs", Caller.SHOPPER),
    Route("POST", "/orders/{orderId}/shipment", Caller.SERVICE),
    Route("GET", "/health", Caller.SERVICE),
)
"""Every route of ``tasks/handlers/api.py``. The documentation routes describe the shopper API to the frontend
developers, who hold a shopper account; the health probe is for operators and monitors, who hold AWS credentials."""


class ApiConstruct(Construct):
    """The shoppers' user pool and the REST API that proxies every route to the API function.

    Example
    -------
    With the API function built by ``FunctionsConstruct``:

    >>> api = ApiConstruct(stack, "Api", handler=api_function)
    """

    def __init__(self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = self._build_user_pool()
        self.user_pool_client = self._build_user_pool_client()
        self.rest_api = self._build_rest_api()
        self._add_routes(handler)

    def _build_user_pool(self) -> cognito.UserPool:
        user_pool = cognito.UserPool(
            self,
            "Shoppers",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=constants.PASSWORD_MIN_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
        )
        suppress(
            user_pool,
            "COG2",
            "MFA is optional (TOTP), not required: shoppers choose it, and the integration suite and the deploy guide "
            "sign in with USER_PASSWORD_AUTH. Plus-tier threat protection blocks risky and compromised-password "
            "sign-ins.",
        )
        return user_pool

    def _build_user_pool_client(self) -> cognito.UserPoolClient:
        """A public client (no secret) for frontends and the CLI: SRP for apps, USER_PASSWORD_AUTH for scripts."""
        return self.user_pool.add_client(
            "ShopperClient",
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True),
            generate_secret=False,
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=constants.ID_TOKEN_VALIDITY,
            access_token_validity=constants.ID_TOKEN_VALIDITY,
            refresh_token_validity=constants.REFRESH_TOKEN_VALIDITY,
        )

    def _build_rest_api(self) -> apigw.RestApi:
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=constants.LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        rest_api = apigw.RestApi(
            self,
            "OrdersApi",
            rest_api_name=f"{Stack.of(self).stack_name}-orders",
            description=API.description,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=constants.API_STAGE_NAME,
                throttling_rate_limit=constants.API_THROTTLING_RATE_LIMIT,
                throttling_burst_limit=constants.API_THROTTLING_BURST_LIMIT,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        suppress(
            rest_api,
            "IAM4",
            "API Gateway's account-level CloudWatch role uses AmazonAPIGatewayPushToCloudWatchLogs, the policy AWS "
            "maintains for exactly this service role; execution logging cannot work without that role.",
            applies_to=[
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
            ],
        )
        suppress(
            rest_api.deployment_stage,
            "APIG3",
            "No WAF web ACL: every method is authenticated (Cognito or IAM) and the stage is throttled; a web ACL "
            "with managed rules is an account-level cost decision outside this service.",
        )
        return rest_api

    def _add_routes(self, handler: lambda_.IFunction) -> None:
        """One proxy integration for all routes; API Gateway checks who calls, the handler checks what is sent."""
        integration = apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False)
        validator = self.rest_api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "ShopperAuthorizer", cognito_user_pools=[self.user_pool], results_cache_ttl=Duration.minutes(5)
        )
        for route in ROUTES:
            method = self.rest_api.root.resource_for_path(route.path).add_method(
                route.method,
                integration,
                request_validator=validator,
                request_parameters={f"method.request.path.{name}": True for name in route.path_parameters},
                **_authorization(route.caller, authorizer),
            )
            if route.caller is Caller.SERVICE:
                suppress(
                    method,
                    "COG4",
                    f"{route.method} {route.path} is called by services and operators, not shoppers: it requires "
                    "IAM (SigV4) authorization instead of the Cognito authorizer.",
                )


def _authorization(caller: Caller, authorizer: apigw.IAuthorizer) -> dict[str, Any]:
    if caller is Caller.SHOPPER:
        return {"authorization_type": apigw.AuthorizationType.COGNITO, "authorizer": authorizer}
    return {"authorization_type": apigw.AuthorizationType.IAM}
