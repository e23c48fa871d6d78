"""The order workflow: the one ASL file, its placeholders filled by CloudFormation, with logging and tracing."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import constants
from stacks.nag import arn_with_suffix, suppress
from workflows.resources import ORDER_WORKFLOW, PLACEHOLDER_PATTERN, Substitution, SubstitutionKind

DYNAMODB_INTEGRATION_PREFIX = "arn:aws:states:::dynamodb:"


class WorkflowConstruct(Construct):
    """The STANDARD state machine of ``workflows/order_workflow.asl.json``.

    Its role may invoke the functions the ASL names and make the DynamoDB calls its direct integrations make,
    on the tables they name; nothing else.

    Example
    -------
    With the tables and the task functions (see ``FunctionsConstruct``):

    >>> workflow = WorkflowConstruct(stack, "Workflow", functions=functions.functions, tables=data.tables)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        tables: Mapping[str, dynamodb.ITable],
    ) -> None:
        super().__init__(scope, construct_id)
        self._functions = functions
        self._tables = tables
        self.state_machine = self._build_state_machine()
        self._grant_invoke()
        self._grant_direct_dynamodb_calls()
        suppress(
            self.state_machine,
            "IAM5",
            "Resource '*': X-Ray tracing and CloudWatch Logs delivery (CreateLogDelivery and friends) support no "
            "resource-level permissions. '<function>.Arn:*': grant_invoke also allows the function's versions and "
            "aliases, still only of the functions the ASL names.",
            applies_to=["Resource::*", arn_with_suffix(":*")],
        )

    def _build_state_machine(self) -> sfn.StateMachine:
        """Every event is logged, without its data: inputs and outputs carry task tokens and shipping addresses."""
        stack_name = Stack.of(self).stack_name
        log_group = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"/aws/vendedlogs/states/{stack_name}-{ORDER_WORKFLOW.local_name}",
            retention=constants.LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        return sfn.StateMachine(
            self,
            ORDER_WORKFLOW.logical_name,
            definition_body=sfn.DefinitionBody.from_file(str(ORDER_WORKFLOW.definition_file)),
            definition_substitutions={
                placeholder: self._resolve(substitution)
                for placeholder, substitution in ORDER_WORKFLOW.substitutions.items()
            },
            state_machine_type=sfn.StateMachineType.STANDARD,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )

    def _resolve(self, substitution: Substitution) -> str:
        if substitution.kind is SubstitutionKind.FUNCTION_ARN:
            return self._functions[substitution.target].function_arn
        return self._tables[substitution.target].table_name

    def _grant_invoke(self) -> None:
        for substitution in ORDER_WORKFLOW.substitutions.values():
            if substitution.kind is SubstitutionKind.FUNCTION_ARN:
                self._functions[substitution.target].grant_invoke(self.state_machine)

    def _grant_direct_dynamodb_calls(self) -> None:
        """Allow exactly the DynamoDB actions the ASL's direct integrations call, on the tables they name."""
        for action, table_name in direct_dynamodb_calls(json.loads(ORDER_WORKFLOW.definition_file.read_text())):
            self.state_machine.add_to_role_policy(
                iam.PolicyStatement(actions=[action], resources=[self._tables[table_name].table_arn])
            )


def direct_dynamodb_calls(definition: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The ``(IAM action, logical table name)`` pairs of the ASL's DynamoDB service integrations.

    Parameters
    ----------
    definition:
        The parsed ASL, with its ``${...}`` placeholders still in place.

    Example
    -------
    >>> definition = json.loads(ORDER_WORKFLOW.definition_file.read_text())
    >>> direct_dynamodb_calls(definition)
    {('dynamodb:UpdateItem', 'Orders')}
    """
    calls = set()
    for state in _task_states(definition):
        resource = state["Resource"]
        if not resource.startswith(DYNAMODB_INTEGRATION_PREFIX):
            continue
        operation = resource.removeprefix(DYNAMODB_INTEGRATION_PREFIX)
        placeholder = PLACEHOLDER_PATTERN.fullmatch(state["Parameters"]["TableName"])
        if placeholder is None:
            raise ValueError(f"{resource}: the table must be a ${{...}} placeholder, not a literal name")
        table = ORDER_WORKFLOW.substitutions[placeholder.group(1)]
        if table.kind is not SubstitutionKind.TABLE_NAME:
            raise ValueError(f"{resource}: ${{{placeholder.group(1)}}} is not a table name")
        calls.add((f"dynamodb:{operation[0].upper()}{operation[1:]}", table.target))
    return calls


def _task_states(definition: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every Task state, including those inside Parallel branches and Map iterations."""
    for state in definition["States"].values():
        if state["Type"] == "Task":
            yield state
        nested = [*state.get("Branches", ()), *(state[key] for key in ("ItemProcessor", "Iterator") if key in state)]
        for sub_definition in nested:
            yield from _task_states(sub_definition)
