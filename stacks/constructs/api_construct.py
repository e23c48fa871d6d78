"""The REST API in front of the API handler: Cognito for shoppers, IAM for services, the catalog and docs public."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import RegexAppliesTo
from constructs import Construct

from stacks import constants
from stacks.nag import suppress
from workflows.resources import API, OPERATORS_GROUP, ROUTES, STAGE_THROTTLE, Caller, Route

INVOKE = "execute-api:Invoke"
ORIGIN = re.compile(r"https?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?")
"""An origin as browsers send it: scheme, host and optional port; no path, no trailing slash, no wildcard."""
PATH_PARAMETER = re.compile(r"\{\w+\}")


def cors_origins(scope: Construct) -> tuple[str, ...]:
    """The storefront origins of the ``corsOrigins`` context value: a list, or one comma-separated string.

    Parameters
    ----------
    scope:
        Any construct of the app; the value is read from its context (``cdk.json`` or ``-c corsOrigins=...``).

    Returns
    -------
    tuple of str
        The origins in the order given, without duplicates; empty when the value is unset or empty.

    Raises
    ------
    ValueError
        An entry is not ``scheme://host[:port]``; ``*`` is refused, so no other site can read the API's answers.

    Example
    -------
    >>> from aws_cdk import App
    >>> cors_origins(App(context={"corsOrigins": "https://shop.example.com, https://m.example.com"}))
    ('https://shop.example.com', 'https://m.example.com')
    """
    value = scope.node.try_get_context(constants.CORS_ORIGINS_CONTEXT_KEY)
    if value is None:
        return ()
    entries = value.split(",") if isinstance(value, str) else value
    if not isinstance(entries, list | tuple):
        raise ValueError(f"{constants.CORS_ORIGINS_CONTEXT_KEY}: expected a list or a comma-separated string")
    origins = tuple(dict.fromkeys(str(entry).strip() for entry in entries if str(entry).strip()))
    for origin in origins:
        if ORIGIN.fullmatch(origin) is None:
            raise ValueError(
                f"{constants.CORS_ORIGINS_CONTEXT_KEY}: {origin!r} is not an origin (scheme://host[:port], no '*')"
            )
    return origins


def method_path(route: Route) -> str:
    """The route as an execute-api ARN names it, below the stage: path parameters become ``*``.

    Example
    -------
    >>> method_path(Route("POST", "/orders/{orderId}/shipment", Caller.SERVICE))
    'POST/orders/*/shipment'
    """
    return route.method + PATH_PARAMETER.sub("*", route.path)


class ApiConstruct(Construct):
    """The shoppers' user pool with its operators group, the warehouse's role, and the REST API.

    Every route of ``workflows.resources.ROUTES`` proxies to the API function, authorized as its caller says. The
    API's resource policy lets anyone reach the Cognito and public methods (API Gateway requires that Allow once a
    policy exists), leaves the IAM methods to the callers' own policies, and denies the warehouse-only method to
    every principal but the warehouse role. With ``cors_origins``, the API answers preflights for those origins.

    Example
    -------
    With the API function built by ``FunctionsConstruct``:

    >>> api = ApiConstruct(stack, "Api", handler=api_function, cors_origins=("https://shop.example.com",))
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction, cors_origins: Sequence[str] = ()
    ) -> None:
        super().__init__(scope, construct_id)
        self.cors_origins = tuple(cors_origins)
        self.user_pool = self._build_user_pool()
        self.operators_group = self._build_operators_group()
        self.user_pool_client = self._build_user_pool_client()
        self.warehouse_role = self._build_warehouse_role()
        self.rest_api = self._build_rest_api()
        self._allow_the_warehouse_its_routes()
        self._add_routes(handler)
        self._add_cors()

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

    def _build_operators_group(self) -> cognito.CfnUserPoolGroup:
        """Membership is what makes a shopper account an operator; it is kept with the pool when the stack goes."""
        group = cognito.CfnUserPoolGroup(
            self,
            "Operators",
            user_pool_id=self.user_pool.user_pool_id,
            group_name=OPERATORS_GROUP,
            description="Operators: may read, list and cancel any customer's order, and place none.",
        )
        group.apply_removal_policy(RemovalPolicy.RETAIN)
        return group

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

    def _build_warehouse_role(self) -> iam.Role:
        """Assumable by principals of this account that may ``sts:AssumeRole`` it; it may call back, nothing more."""
        return iam.Role(
            self,
            "WarehouseRole",
            assumed_by=iam.AccountRootPrincipal(),
            description="The warehouse system assumes it to answer shipment requests: "
            "POST /orders/{orderId}/shipment on the orders API, nothing else.",
        )

    def _build_rest_api(self) -> apigw.RestApi:
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=constants.LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        policy = self._resource_policy()
        rest_api = apigw.RestApi(
            self,
            "OrdersApi",
            rest_api_name=f"{Stack.of(self).stack_name}-orders",
            description=API.description,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            policy=policy,
            deploy_options=apigw.StageOptions(
                stage_name=constants.API_STAGE_NAME,
                throttling_rate_limit=STAGE_THROTTLE.rate_limit,
                throttling_burst_limit=STAGE_THROTTLE.burst_limit,
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
        rest_api.latest_deployment.add_to_logical_id({"resourcePolicy": policy.to_json()})
        suppress(
            rest_api,
            "IAM4",
            "API Gateway's account-level CloudWatch role uses AmazonAPIGatewayPushToCloudWatchLogs, the policy AWS "
            "maintains for exactly this service role; execution logging cannot work without that role.",
            applies_to=[
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
            ],
        )
        return rest_api

    def _resource_policy(self) -> iam.PolicyDocument:
        """Who may reach which method, evaluated together with each method's authorization type.

        ``execute-api:/<stage>/<method path>`` is how a REST API's own policy names its methods; it cannot refer to
        the API's ARN, which depends on the policy. For Cognito and unauthenticated methods API Gateway needs an
        explicit Allow here, so those routes (and the CORS preflights) are allowed to anyone. IAM methods are not
        listed: in this account the caller's own IAM policy decides, and other accounts are refused. The
        warehouse-only methods are denied to every principal but the warehouse role, whatever their policies say.

        A changed policy takes effect with the next deployment of the stage, so it is part of the deployment's
        logical id: changing it redeploys.
        """
        stage = constants.API_STAGE_NAME
        reachable = [
            f"execute-api:/{stage}/{method_path(route)}" for route in ROUTES if route.caller is not Caller.SERVICE
        ]
        if self.cors_origins:
            reachable.append(f"execute-api:/{stage}/OPTIONS/*")
        warehouse_only = [f"execute-api:/{stage}/{method_path(route)}" for route in ROUTES if route.warehouse_only]
        statements = [
            iam.PolicyStatement(principals=[iam.StarPrincipal()], actions=[INVOKE], resources=reachable),
        ]
        if warehouse_only:
            statements.append(
                iam.PolicyStatement(
                    effect=iam.Effect.DENY,
                    principals=[iam.StarPrincipal()],
                    actions=[INVOKE],
                    resources=warehouse_only,
                    conditions={"ArnNotEquals": {"aws:PrincipalArn": self.warehouse_role.role_arn}},
                )
            )
        return iam.PolicyDocument(statements=statements)

    def _allow_the_warehouse_its_routes(self) -> None:
        """The role's one permission, in its own policy resource: the role itself must not depend on the API."""
        resources = [
            self.rest_api.arn_for_execute_api(
                route.method, PATH_PARAMETER.sub("*", route.path), constants.API_STAGE_NAME
            )
            for route in ROUTES
            if route.warehouse_only
        ]
        self.warehouse_role.add_to_policy(iam.PolicyStatement(actions=[INVOKE], resources=resources))
        suppress(
            self.warehouse_role,
            "IAM5",
            "The '*' in '.../POST/orders/*/shipment' is the orderId path parameter: execute-api ARNs name the request "
            "path, so the callback for every order is one method ARN with a wildcard segment, and no other method.",
            applies_to=[RegexAppliesTo(regex=r"/^Resource::arn:<AWS::Partition>:execute-api:.+/orders/\*/shipment$/")],
        )

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
            elif route.caller is Caller.PUBLIC:
                reason = (
                    f"{route.method} {route.path} is public on purpose: the catalog is what anonymous visitors browse "
                    "(names, prices, stock; no customer data) and the documentation describes the API and holds no "
                    "data. The web ACL limits each IP address on these routes, and the stage's throttling bounds "
                    "what all anonymous callers together cost."
                )
                suppress(method, "APIG4", reason)
                suppress(method, "COG4", reason)

    def _add_cors(self) -> None:
        """Preflights for the configured storefront origins only, on every resource with a route; none without."""
        if not self.cors_origins:
            return
        methods_by_path: dict[str, list[str]] = {}
        for route in ROUTES:
            methods_by_path.setdefault(route.path, []).append(route.method)
        reason = (
            "CORS preflight (OPTIONS): browsers send it without credentials, so it cannot be authorized. API Gateway "
            "answers it with a mock integration, for the configured storefront origins only, and never calls the "
            "function."
        )
        for path, methods in methods_by_path.items():
            preflight = self.rest_api.root.resource_for_path(path).add_cors_preflight(
                allow_origins=list(self.cors_origins),
                allow_headers=list(constants.CORS_ALLOWED_HEADERS),
                allow_methods=[*methods, "OPTIONS"],
                max_age=constants.CORS_MAX_AGE,
            )
            suppress(preflight, "APIG4", reason)
            suppress(preflight, "COG4", reason)
        if len(self.cors_origins) == 1:
            self._add_cors_to_gateway_errors(self.cors_origins[0])

    def _add_cors_to_gateway_errors(self, origin: str) -> None:
        """API Gateway's own 4xx/5xx answers (a refused token, throttling) carry the one origin, so the storefront
        can read them. Header values are static here, so with several origins these answers carry none."""
        for construct_id, response_type in (
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX),
        ):
            self.rest_api.add_gateway_response(
                construct_id,
                type=response_type,
                response_headers={"Access-Control-Allow-Origin": f"'{origin}'", "Vary": "'Origin'"},
            )


def _authorization(caller: Caller, authorizer: apigw.IAuthorizer) -> dict[str, Any]:
    if caller is Caller.SHOPPER:
        return {"authorization_type": apigw.AuthorizationType.COGNITO, "authorizer": authorizer}
    if caller is Caller.SERVICE:
        return {"authorization_type": apigw.AuthorizationType.IAM}
    return {"authorization_type": apigw.AuthorizationType.NONE}
