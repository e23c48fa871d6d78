"""The order service's one stack, composed from its constructs in the order their references require."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks import constants
from stacks.constructs.api_construct import ApiConstruct, cors_origins
from stacks.constructs.data_construct import DataConstruct
from stacks.constructs.functions_construct import FunctionsConstruct
from stacks.constructs.monitoring_construct import MonitoringConstruct
from stacks.constructs.workflow_construct import WorkflowConstruct
from workflows.resources import API, CORS_ALLOWED_ORIGINS_ENV, WORKFLOW_FUNCTIONS


class OrderServiceStack(Stack):
    """Tables, task functions, the state machine, the API function and API, and their monitoring.

    The state machine needs the task functions' ARNs and the API function needs the state machine's ARN; the API
    function is no task of the state machine, so building them in that order leaves no cycle. The storefront
    origins of the ``corsOrigins`` context reach both the API's preflights and the API function's environment.

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
        api_function = self.functions.add(
            API,
            state_machine=self.workflow.state_machine,
            deploy_environment={CORS_ALLOWED_ORIGINS_ENV: ",".join(origins)},
        )
        self.api = ApiConstruct(self, "Api", handler=api_function, cors_origins=origins)
        self.monitoring = MonitoringConstruct(
            self,
            "Monitoring",
            functions=self.functions.functions,
            state_machine=self.workflow.state_machine,
            rest_api=self.api.rest_api,
        )
        self._add_outputs()

    def _add_outputs(self) -> None:
        """What a deployer needs next: where the API is, and the names the integration suite and operators use."""
        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url, description="Base URL of the orders API")
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
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
