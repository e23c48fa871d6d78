"""The order workflow's state machines, each from its one ASL file, its placeholders filled by CloudFormation, with
logging, tracing, and a role that allows what its ASL calls and nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import constants
from stacks.nag import arn_with_suffix, suppress
from workflows.resources import (
    ORDER_WORKFLOW,
    PLACEHOLDER_PATTERN,
    STATE_MACHINES,
    StateMachineSpec,
    Substitution,
    SubstitutionKind,
    WorkflowType,
    state_machine,
)

DYNAMODB_INTEGRATION_PREFIX = "arn:aws:states:::dynamodb:"
START_EXECUTION_INTEGRATION = "arn:aws:states:::states:startExecution"
START_EXECUTION_PATTERNS = {"": False, ".sync": True, ".sync:2": True, ".waitForTaskToken": False}
"""The integration patterns of ``startExecution``, to whether the parent waits for the child's end (Run a Job)."""
NESTED_WORKFLOWS_IAM_POLICY = "https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html"
"""AWS's IAM policy for a state machine that starts another one, with and without ``.sync``."""
STATE_MACHINE_TYPES = {
    WorkflowType.STANDARD: sfn.StateMachineType.STANDARD,
    WorkflowType.EXPRESS: sfn.StateMachineType.EXPRESS,
}
EXECUTION_RESOURCE_TYPES = {WorkflowType.STANDARD: ("execution",), WorkflowType.EXPRESS: ("execution", "express")}
"""The ARN resource types of a child's executions that a waiting parent may describe and stop. AWS's policy for
``.sync`` names ``execution:<child>:*``; an Express child's executions are ``express:<child>:<name>:<id>``, so an
Express child gets both forms, each limited to that one child's executions."""
WATCH_EXECUTION_ACTIONS = ("states:DescribeExecution", "states:StopExecution")
SYNC_RULE_ACTIONS = ("events:DescribeRule", "events:PutRule", "events:PutTargets")


class WorkflowConstruct(Construct):
    """The state machines of ``workflows.resources.STATE_MACHINES``: the Express child ``OrderPreparation`` and the
    Standard parent ``OrderWorkflow``, the one the API starts.

    Each is built from its own ASL file by ``_build_state_machine``, children first, so the parent's
    ``${OrderPreparationStateMachineArn}`` resolves to the child's ARN. Each role may invoke the functions its ASL
    names, make the DynamoDB calls its direct integrations make on the tables they name, and start the state
    machines its ASL starts (for ``.sync``, also describe and stop their executions and keep Step Functions'
    managed EventBridge rule); nothing else.

    Example
    -------
    With the tables and the task functions (see ``FunctionsConstruct``):

    >>> workflow = WorkflowConstruct(stack, "Workflow", functions=functions.functions, tables=data.tables)
    >>> sorted(workflow.state_machines)
    ['OrderPreparation', 'OrderWorkflow']
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
        self.state_machines: dict[str, sfn.StateMachine] = {}
        self.log_groups: dict[str, logs.LogGroup] = {}
        for spec in STATE_MACHINES:
            self.state_machines[spec.logical_name] = self._build_state_machine(spec)
        self.state_machine = self.state_machines[ORDER_WORKFLOW.logical_name]
        """The parent: the API function starts it and answers its task tokens."""

    def _build_state_machine(self, spec: StateMachineSpec) -> sfn.StateMachine:
        """The state machine of ``spec``: its file as the definition, its logs, its tracing and its role's grants."""
        placeholders = spec.placeholders_in_definition()
        if placeholders != set(spec.substitutions):
            raise ValueError(
                f"{spec.logical_name}: the ASL's placeholders {sorted(placeholders)} differ from its substitutions "
                f"{sorted(spec.substitutions)}"
            )
        log_group = self._build_log_group(spec)
        machine = sfn.StateMachine(
            self,
            spec.logical_name,
            definition_body=sfn.DefinitionBody.from_file(str(spec.definition_file)),
            definition_substitutions={
                placeholder: self._resolve(substitution) for placeholder, substitution in spec.substitutions.items()
            },
            state_machine_type=STATE_MACHINE_TYPES[spec.workflow_type],
            logs=sfn.LogOptions(
                destination=log_group,
                level=constants.STATE_MACHINE_LOG_LEVEL,
                include_execution_data=constants.STATE_MACHINE_LOG_EXECUTION_DATA,
            ),
            tracing_enabled=True,
        )
        self.log_groups[spec.logical_name] = log_group
        definition = json.loads(spec.definition_file.read_text())
        self._grant_invoke(spec, machine)
        self._grant_direct_dynamodb_calls(spec, definition, machine)
        waited_for = []
        for child, waits in sorted(started_state_machines(definition, spec.substitutions)):
            self._grant_nested_execution(machine, child, waits)
            if waits:
                waited_for.append(child)
        self._suppress_wildcards(machine, waited_for)
        return machine

    def _build_log_group(self, spec: StateMachineSpec) -> logs.LogGroup:
        """Every event is logged, without its data: inputs and outputs carry task tokens and shipping addresses.

        The parent's log group keeps the construct id it was first deployed with (``ExecutionLogs``): a new id
        would replace it, and CloudFormation creates the replacement, of the same name, before deleting the old one.
        """
        construct_id = "ExecutionLogs" if spec is ORDER_WORKFLOW else f"{spec.logical_name}ExecutionLogs"
        return logs.LogGroup(
            self,
            construct_id,
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-{spec.local_name}",
            retention=constants.LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _resolve(self, substitution: Substitution) -> str:
        if substitution.kind is SubstitutionKind.FUNCTION_ARN:
            return self._functions[substitution.target].function_arn
        if substitution.kind is SubstitutionKind.STATE_MACHINE_ARN:
            return self._state_machine(substitution.target).state_machine_arn
        return self._tables[substitution.target].table_name

    def _state_machine(self, logical_name: str) -> sfn.StateMachine:
        if logical_name not in self.state_machines:
            raise KeyError(f"{logical_name} is not built yet: list a child before its parent in STATE_MACHINES")
        return self.state_machines[logical_name]

    def _grant_invoke(self, spec: StateMachineSpec, machine: sfn.StateMachine) -> None:
        """Allow invoking exactly the functions the ASL names (each with its versions and aliases)."""
        for substitution in spec.substitutions.values():
            if substitution.kind is SubstitutionKind.FUNCTION_ARN:
                self._functions[substitution.target].grant_invoke(machine)

    def _grant_direct_dynamodb_calls(
        self, spec: StateMachineSpec, definition: Mapping[str, Any], machine: sfn.StateMachine
    ) -> None:
        """Allow exactly the DynamoDB actions the ASL's direct integrations call, on the tables they name."""
        for action, table_name in sorted(direct_dynamodb_calls(definition, spec.substitutions)):
            machine.add_to_role_policy(
                iam.PolicyStatement(actions=[action], resources=[self._tables[table_name].table_arn])
            )

    def _grant_nested_execution(self, parent: sfn.StateMachine, child_name: str, waits: bool) -> None:
        """Let ``parent`` start ``child_name`` and, when it waits for it (``.sync``), follow it as AWS documents.

        The policy is AWS's for nested workflows (https://docs.aws.amazon.com/step-functions/latest/dg/
        stepfunctions-iam.html): ``states:StartExecution`` on the child state machine; for the synchronous
        patterns also ``states:DescribeExecution`` and ``states:StopExecution`` on the child's executions, and
        ``events:PutTargets``, ``events:PutRule`` and ``events:DescribeRule`` on the managed rule
        ``StepFunctionsGetEventsForStepFunctionsExecutionRule``, through which Step Functions learns of the child's
        end. Every resource names that one child or that one rule.
        """
        child = self._state_machine(child_name)
        child.grant_start_execution(parent)
        if not waits:
            return
        stack = Stack.of(self)
        parent.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(WATCH_EXECUTION_ACTIONS),
                resources=[
                    stack.format_arn(
                        service="states",
                        resource=resource_type,
                        resource_name=f"{child.state_machine_name}:*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for resource_type in EXECUTION_RESOURCE_TYPES[state_machine(child_name).workflow_type]
                ],
            )
        )
        parent.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(SYNC_RULE_ACTIONS),
                resources=[
                    stack.format_arn(
                        service="events", resource="rule", resource_name=constants.SYNC_EXECUTION_EVENTS_RULE
                    )
                ],
            )
        )

    def _suppress_wildcards(self, machine: sfn.StateMachine, waited_for: list[str]) -> None:
        """Accept exactly the IAM5 findings the grants above cannot avoid, each named."""
        applies_to: list[Any] = ["Resource::*", arn_with_suffix(":*")]
        reason = (
            "Resource '*': X-Ray tracing and CloudWatch Logs delivery (CreateLogDelivery and friends) support no "
            "resource-level permissions. '<function>.Arn:*': grant_invoke also allows the function's versions and "
            "aliases, still only of the functions the ASL names."
        )
        for child_name in waited_for:
            child = self._state_machine(child_name)
            logical_id = Stack.of(self).get_logical_id(child.node.default_child)
            applies_to.extend(
                f"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:{resource_type}:"
                f"<{logical_id}.Name>:*"
                for resource_type in EXECUTION_RESOURCE_TYPES[state_machine(child_name).workflow_type]
            )
            reason += (
                f" '<{child_name}.Name>:*': DescribeExecution and StopExecution on the executions of the child it "
                f"starts with .sync, and of no other state machine, as AWS's policy for nested workflows has it "
                f"({NESTED_WORKFLOWS_IAM_POLICY})."
            )
        suppress(machine, "IAM5", reason, applies_to=applies_to)


def direct_dynamodb_calls(
    definition: Mapping[str, Any], substitutions: Mapping[str, Substitution]
) -> set[tuple[str, str]]:
    """The ``(IAM action, logical table name)`` pairs of the ASL's DynamoDB service integrations.

    Parameters
    ----------
    definition:
        The parsed ASL, with its ``${...}`` placeholders still in place.
    substitutions:
        What each placeholder of that ASL stands for (its ``StateMachineSpec.substitutions``).

    Example
    -------
    >>> definition = json.loads(ORDER_WORKFLOW.definition_file.read_text())
    >>> direct_dynamodb_calls(definition, ORDER_WORKFLOW.substitutions)
    {('dynamodb:UpdateItem', 'Orders')}
    """
    calls = set()
    for state in _task_states(definition):
        resource = state["Resource"]
        if not resource.startswith(DYNAMODB_INTEGRATION_PREFIX):
            continue
        operation = resource.removeprefix(DYNAMODB_INTEGRATION_PREFIX)
        table = _placeholder_target(
            resource, state["Parameters"]["TableName"], substitutions, SubstitutionKind.TABLE_NAME
        )
        calls.add((f"dynamodb:{operation[0].upper()}{operation[1:]}", table))
    return calls


def started_state_machines(
    definition: Mapping[str, Any], substitutions: Mapping[str, Substitution]
) -> set[tuple[str, bool]]:
    """The ``(logical state machine name, waits for its end)`` pairs of the ASL's ``startExecution`` tasks.

    Parameters
    ----------
    definition:
        The parsed ASL, with its ``${...}`` placeholders still in place.
    substitutions:
        What each placeholder of that ASL stands for; a started state machine must be a ``STATE_MACHINE_ARN``.

    Example
    -------
    >>> definition = json.loads(ORDER_WORKFLOW.definition_file.read_text())
    >>> started_state_machines(definition, ORDER_WORKFLOW.substitutions)
    {('OrderPreparation', True)}
    """
    started = set()
    for state in _task_states(definition):
        resource = state["Resource"]
        if not resource.startswith(START_EXECUTION_INTEGRATION):
            continue
        pattern = resource.removeprefix(START_EXECUTION_INTEGRATION)
        if pattern not in START_EXECUTION_PATTERNS:
            raise ValueError(f"{resource}: not a startExecution integration pattern")
        child = _placeholder_target(
            resource, state["Parameters"]["StateMachineArn"], substitutions, SubstitutionKind.STATE_MACHINE_ARN
        )
        started.add((child, START_EXECUTION_PATTERNS[pattern]))
    return started


def _placeholder_target(
    resource: str, value: str, substitutions: Mapping[str, Substitution], kind: SubstitutionKind
) -> str:
    """The logical name a task's parameter names through its ``${...}`` placeholder, which must be of ``kind``."""
    placeholder = PLACEHOLDER_PATTERN.fullmatch(value)
    if placeholder is None:
        raise ValueError(f"{resource}: {value!r} must be a ${{...}} placeholder, not a literal name")
    substitution = substitutions[placeholder.group(1)]
    if substitution.kind is not kind:
        raise ValueError(f"{resource}: ${{{placeholder.group(1)}}} is not a {kind.value.replace('_', ' ')}")
    return substitution.target


def _task_states(definition: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every Task state, including those inside Parallel branches and Map iterations."""
    for state in definition["States"].values():
        if state["Type"] == "Task":
            yield state
        nested = [*state.get("Branches", ()), *(state[key] for key in ("ItemProcessor", "Iterator") if key in state)]
        for sub_definition in nested:
            yield from _task_states(sub_definition)
