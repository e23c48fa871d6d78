"""The order service's one stack, composed from its constructs in the order their references require."""

from __future__ import annotations

import dataclasses
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks import constants
from stacks.constructs.api_construct import ApiConstruct, cors_origins
from stacks.constructs.data_construct import DataConstruct
from stacks.constructs.events_construct import EventsConstruct
from stacks.constructs.firewall_construct import FirewallConstruct
from stacks.constructs.functions_construct import FunctionsConstruct
from stacks.constructs.monitoring_construct import MonitoringConstruct
from stacks.constructs.schedules_construct import SchedulesConstruct
from stacks.constructs.websocket_construct import WebSocketConstruct
from stacks.constructs.workflow_construct import WorkflowConstruct
from workflows.resources import (
    API,
    CORS_ALLOWED_ORIGINS_ENV,
    ORDER_PREPARATION,
    ORDERS_TABLE,
    PUBLISH_ORDER_EVENTS,
    RECONCILE_ORDERS,
    SHOPPER_ORDER_LIMIT,
    WORKFLOW_FUNCTIONS,
    OrderRateLimit,
)


def shopper_order_limit(scope: Construct) -> OrderRateLimit:
    """The order limit of the ``shopperOrderLimit`` context value (``<per minute>/<per day>``), or the default.

    Example
    -------
    >>> from aws_cdk import App
    >>> shopper_order_limit(App(context={"shopperOrderLimit": "1000/100000"}))
    OrderRateLimit(per_minute=1000, per_day=100000)
    """
    value = scope.node.try_get_context(constants.SHOPPER_ORDER_LIMIT_CONTEXT_KEY)
    if value is None:
        return SHOPPER_ORDER_LIMIT
    per_minute, _, per_day = str(value).partition("/")
    try:
        return OrderRateLimit(per_minute=int(per_minute), per_day=int(per_day))
    except ValueError as error:
        raise ValueError(
            f"{constants.SHOPPER_ORDER_LIMIT_CONTEXT_KEY}: expected '<per minute>/<per day>' with "
            f"1 <= per minute <= per day, got {value!r}"
        ) from error


class OrderServiceStack(Stack):
    """Tables, task functions, the two state machines, the API function and API with its web ACL, the reconciler of
    stranded orders on its schedule, the order events, the WebSocket API that pushes them to shoppers, and their
    monitoring.

    The state machines need the task functions' ARNs (and the parent its Express child's), and the API function
    needs the parent's ARN; the API function is no task of either, so building them in that order leaves no cycle.
    The storefront origins of the ``corsOrigins`` context reach both the API's preflights and the API function's
    environment; the ``shopperOrderLimit`` context, if given, replaces the API function's order limit.
    The order events hang off the orders table's stream only, so they come last, before the alarms that watch them.

    Example
    -------
    >>> from aws_cdk import App
    >>> stack = OrderServiceStack(App(), "Example")
    >>> sorted(stack.functions.functions)[:2]
    ['AuthorizePayment', 'CapturePayment']
    """

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description=constants.STACK_DESCRIPTION, **kwargs)
        self.data = DataConstruct(self, "Data")
        self.functions = FunctionsConstruct(self, "Functions", tables=self.data.tables)
        for spec in WORKFLOW_FUNCTIONS:
            self.functions.add(spec)
        self.workflow = WorkflowConstruct(self, "Workflow", functions=self.functions.functions, tables=self.data.tables)
        origins = cors_origins(self)
        limit = shopper_order_limit(self)
        api_function = self.functions.add(
            dataclasses.replace(API, environment={**API.environment, **limit.environment()}),
            state_machine=self.workflow.state_machine,
            deploy_environment={CORS_ALLOWED_ORIGINS_ENV: ",".join(origins)},
        )
        self.api = ApiConstruct(self, "Api", handler=api_function, cors_origins=origins)
        self.firewall = FirewallConstruct(self, "Firewall", stage=self.api.rest_api.deployment_stage)
        self.schedules = SchedulesConstruct(
            self,
            "Schedules",
            reconciler=self.functions.add(RECONCILE_ORDERS, state_machine=self.workflow.state_machine),
        )
        self.order_events = EventsConstruct(
            self,
            "Events",
            table=self.data.tables[ORDERS_TABLE.logical_name],
            publisher=self.functions.add(PUBLISH_ORDER_EVENTS),
        )
        self.live_status = WebSocketConstruct(
            self,
            "LiveStatus",
            functions=self.functions,
            event_bus=self.order_events.event_bus,
            user_pool=self.api.user_pool,
            user_pool_client=self.api.user_pool_client,
        )
        self.monitoring = MonitoringConstruct(
            self,
            "Monitoring",
            functions=self.functions.functions,
            state_machine=self.workflow.state_machine,
            preparation_state_machine=self.workflow.state_machines[ORDER_PREPARATION.logical_name],
            rest_api=self.api.rest_api,
            order_events_dead_letter_queue=self.order_events.dead_letter_queue,
        )
        self._add_outputs()

    def _add_outputs(self) -> None:
        """What a deployer needs next: the API's URL, and the names the integration suite, subscribers and ops use."""
        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url, description="Base URL of the orders API")
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
        CfnOutput(
            self,
            "PreparationStateMachineArn",
            value=self.workflow.state_machines[ORDER_PREPARATION.logical_name].state_machine_arn,
            description="The Express child that validates, authorizes and reserves; the parent starts it",
        )
        CfnOutput(
            self,
            "PreparationLogGroupName",
            value=self.workflow.log_groups[ORDER_PREPARATION.logical_name].log_group_name,
            description="The child's execution events: Express executions keep no history, their log group does",
        )
        for name, table in self.data.tables.items():
            CfnOutput(self, f"{name}TableName", value=table.table_name)
        CfnOutput(self, "UserPoolId", value=self.api.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.api.user_pool_client.user_pool_client_id)
        CfnOutput(
            self,
            "WarehouseRoleArn",
            value=self.api.warehouse_role.role_arn,
            description="The role the warehouse assumes to call POST /orders/{orderId}/shipment",
        )
        CfnOutput(
            self,
            "OrderEventsBusName",
            value=self.order_events.event_bus.event_bus_name,
            description="The EventBridge bus of the OrderStatusChanged events; subscribe with a rule on it",
        )
        CfnOutput(
            self,
            "WebSocketUrl",
            value=self.live_status.stage.url,
            description="Live order status: connect with ?token=<Cognito ID token> (docs/storefront.md)",
        )
        CfnOutput(
            self,
            "OrderEventsDeadLetterQueueUrl",
            value=self.order_events.dead_letter_queue.queue_url,
            description="Stream batches the publisher gave up on (shard and sequence numbers, replayable for 24 h)",
        )
