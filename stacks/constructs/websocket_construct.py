"""Live order status: the WebSocket API, its $connect authorizer, the connections table's functions, and the rule on
the ``orders`` bus that feeds the push function."""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks import constants
from stacks.constructs.functions_construct import FunctionsConstruct
from stacks.nag import suppress
from workflows.resources import (
    ORDER_STATUS_TO_SOCKETS,
    PUSH_ORDER_STATUS,
    STAGE_THROTTLE,
    TOKEN_AUDIENCE_ENV,
    TOKEN_ISSUER_ENV,
    WEBSOCKET_AUTHORIZER,
    WEBSOCKET_CALLBACK_URL_ENV,
    WEBSOCKET_CONNECTIONS,
)

TOKEN_IDENTITY_SOURCE = "route.request.querystring.token"
"""Browsers cannot set headers on a WebSocket: the ID token comes as ``?token=``."""
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "connectionId": "$context.connectionId",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "principalId": "$context.authorizer.principalId",
    "error": "$context.error.message",
}
"""What the stage logs per request. No query string and no header: the query string holds the caller's ID token."""


class WebSocketConstruct(Construct):
    """The WebSocket API of live order status, its stage with access logs, and its three functions.

    The push function's role may post to this stage's connections only (``execute-api:ManageConnections`` on
    ``<api>/<stage>/POST/@connections/*``), query the connections index and delete gone entries.

    Example
    -------
    With the stack's constructs:

    >>> live = WebSocketConstruct(stack, "LiveStatus", functions=functions, event_bus=order_events.event_bus,
    ...                           user_pool=api.user_pool, user_pool_client=api.user_pool_client)  # doctest: +SKIP
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionsConstruct,
        event_bus: events.IEventBus,
        user_pool: cognito.IUserPool,
        user_pool_client: cognito.IUserPoolClient,
    ) -> None:
        super().__init__(scope, construct_id)
        authorizer_function = functions.add(
            WEBSOCKET_AUTHORIZER,
            deploy_environment={
                TOKEN_ISSUER_ENV: user_pool.user_pool_provider_url,
                TOKEN_AUDIENCE_ENV: user_pool_client.user_pool_client_id,
            },
        )
        connections_function = functions.add(WEBSOCKET_CONNECTIONS)
        connections = integrations.WebSocketLambdaIntegration("Connections", connections_function)
        self.web_socket_api = apigwv2.WebSocketApi(
            self,
            "Api",
            api_name=f"{Stack.of(self).stack_name}-order-status",
            description="Live order status: OrderStatusChanged events of the caller's orders",
            connect_route_options=apigwv2.WebSocketRouteOptions(
                integration=connections,
                authorizer=authorizers.WebSocketLambdaAuthorizer(
                    "ShopperTokenAuthorizer", authorizer_function, identity_source=[TOKEN_IDENTITY_SOURCE]
                ),
            ),
            disconnect_route_options=apigwv2.WebSocketRouteOptions(integration=connections),
            default_route_options=apigwv2.WebSocketRouteOptions(integration=connections),
        )
        self.stage = self._build_stage()
        self.push_function = functions.add(
            PUSH_ORDER_STATUS, deploy_environment={WEBSOCKET_CALLBACK_URL_ENV: self.stage.callback_url}
        )
        self.push_function.add_to_role_policy(
            iam.PolicyStatement(actions=["execute-api:ManageConnections"], resources=[self.connections_arn])
        )
        rule = ORDER_STATUS_TO_SOCKETS
        self.rule = events.Rule(
            self,
            rule.logical_name,
            event_bus=event_bus,
            description=rule.description,
            event_pattern=events.EventPattern(
                source=rule.event_pattern["source"], detail_type=rule.event_pattern["detail-type"]
            ),
            targets=[
                targets.LambdaFunction(
                    self.push_function,
                    retry_attempts=rule.retry_attempts,
                    max_event_age=Duration.seconds(rule.max_event_age_seconds),
                )
            ],
        )
        self._suppress_findings()

    @property
    def connections_arn(self) -> str:
        """``PostToConnection`` on this stage's connections, nothing else of API Gateway."""
        return Stack.of(self).format_arn(
            service="execute-api",
            resource=self.web_socket_api.api_id,
            resource_name=f"{self.stage.stage_name}/POST/@connections/*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )

    def _build_stage(self) -> apigwv2.WebSocketStage:
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=constants.LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.web_socket_api,
            stage_name=constants.API_STAGE_NAME,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=STAGE_THROTTLE.rate_limit, burst_limit=STAGE_THROTTLE.burst_limit
            ),
        )
        cfn_stage = stage.node.default_child
        cfn_stage.access_log_settings = apigwv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=access_logs.log_group_arn, format=json.dumps(ACCESS_LOG_FIELDS)
        )
        return stage

    def _suppress_findings(self) -> None:
        api_id = Stack.of(self).get_logical_id(self.web_socket_api.node.default_child)
        suppress(
            self.push_function.role,
            "IAM5",
            "'<api>/<stage>/POST/@connections/*': PostToConnection on any connection of this API's stage only; a "
            "connection's id is known at run time, from the connections table.",
            applies_to=[
                "Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
                f"<{api_id}>/{self.stage.stage_name}/POST/@connections/*"
            ],
        )
        suppress(
            self.web_socket_api,
            "APIG4",
            "API Gateway runs an authorizer on a WebSocket API's $connect route only; $disconnect and $default "
            "belong to a connection $connect already authorized.",
        )
