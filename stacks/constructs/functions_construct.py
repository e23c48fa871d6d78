"""The Lambda functions, each built from its ``FunctionSpec`` by one helper, with only the grants its spec names."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import constants
from stacks.nag import suppress
from workflows.resources import WORKFLOW_DIR, FunctionSpec, TableAccess, function_environment

DESCRIBE_EXECUTION = "states:DescribeExecution"
GET_EXECUTION_HISTORY = "states:GetExecutionHistory"
CODE_ROOT = WORKFLOW_DIR.parent
"""The directory that holds the ``tasks`` and ``workflows`` packages, as the handlers import them."""
DEPENDENCIES_LAYER_ROOT = CODE_ROOT / constants.DEPENDENCIES_LAYER_DIR
"""What ``make lambda-layer`` builds from uv.lock: ``python/`` with the packages, next to its requirements and stamp."""


class FunctionsConstruct(Construct):
    """Builds the service's functions on demand, sharing one code asset and the dependencies layer.

    Functions are added one at a time because their order matters: the task functions exist before the state
    machine (it needs their ARNs), and the API function after it (it needs the state machine's ARN).

    Example
    -------
    >>> from aws_cdk import App, Stack
    >>> from stacks.constructs.data_construct import DataConstruct
    >>> from workflows.resources import VALIDATE_ORDER
    >>> stack = Stack(App(), "Example")
    >>> functions = FunctionsConstruct(stack, "Functions", tables=DataConstruct(stack, "Data").tables)
    >>> validate = functions.add(VALIDATE_ORDER)
    >>> sorted(functions.functions)
    ['ValidateOrder']
    """

    def __init__(self, scope: Construct, construct_id: str, *, tables: Mapping[str, dynamodb.Table]) -> None:
        super().__init__(scope, construct_id)
        self._tables = tables
        self._code = _build_code_asset()
        self._dependencies_layer = self._build_dependencies_layer()
        self.functions: dict[str, lambda_.Function] = {}

    def add(
        self,
        spec: FunctionSpec,
        state_machine: sfn.StateMachine | None = None,
        deploy_environment: Mapping[str, str] | None = None,
    ) -> lambda_.Function:
        """Create the function ``spec`` describes, with its own role, log group and grants.

        Parameters
        ----------
        spec:
            The function's description from ``workflows.resources``.
        state_machine:
            The order workflow, required for functions that call it (``spec.uses_workflow``): they get its ARN in
            their environment; those that drive it may start its executions and answer its task tokens, the
            reconciler may start its executions and describe them, nothing more.
        deploy_environment:
            Variables only the deployment knows (the API's storefront origins, from CDK context), added to the
            environment ``workflows.resources`` computes; they may not replace any of its variables.

        Returns
        -------
        aws_lambda.Function
            The function, also kept in ``functions`` under ``spec.logical_name``.

        Example
        -------
        With ``functions`` and ``workflow`` as the stack builds them:

        >>> from workflows.resources import API
        >>> api = functions.add(API, state_machine=workflow.state_machine)
        """
        scope = Construct(self, spec.logical_name)
        role = self._build_role(scope, spec)
        function = lambda_.Function(
            scope,
            "Function",
            description=spec.description,
            handler=spec.handler,
            code=self._code,
            runtime=constants.LAMBDA_RUNTIME,
            architecture=constants.LAMBDA_ARCHITECTURE,
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_seconds),
            reserved_concurrent_executions=spec.reserved_concurrency,
            environment=self._environment(spec, state_machine, deploy_environment or {}),
            layers=[self._dependencies_layer],
            tracing=lambda_.Tracing.ACTIVE,
            role=role,
            log_group=self._build_log_group(scope, role),
        )
        applies_to = ["Resource::*"]
        reason = (
            "Resource '*' only for actions without resource-level permissions: X-Ray's PutTraceSegments and "
            "PutTelemetryRecords (active tracing) and, on a stream function, dynamodb:ListStreams (its event source "
            "mapping's stream grant, whose other actions name the stream's ARN). Table and index statements name "
            "each table and index ARN."
        )
        if state_machine is not None and spec.reconciles_orders:
            applies_to.append(self._grant_reconciliation(role, state_machine))
            reason += (
                " 'execution:<order workflow>.Name>:*': DescribeExecution on the order workflow's executions, named "
                "after the orders: the reconciler asks whether a stranded order has one."
            )
        if state_machine is not None and spec.drives_workflow:
            applies_to.append(self._grant_on_executions(role, state_machine, GET_EXECUTION_HISTORY))
            reason += (
                " 'execution:<order workflow>.Name>:*': GetExecutionHistory on the order workflow's executions, named "
                "after the orders: a refused shipment callback is accepted when the history shows it was taken."
            )
        # after the function: a suppression reaches only existing resources, and the tracing and log grants are what
        # create the role's default policy when the spec names no table
        suppress(role, "IAM5", reason, applies_to=applies_to)
        suppress(
            function,
            "L1",
            "python3.13 is the runtime the team chose (docs/decisions.md) and a supported Lambda runtime; L1 asks "
            "for python3.14. Moving is one constant in stacks/constants.py (make lambda-layer builds the "
            "dependencies layer for it) once the handlers and their dependencies are checked on 3.14.",
        )
        if state_machine is not None and spec.drives_workflow:
            state_machine.grant_start_execution(role)
            state_machine.grant_task_response(role)
        self.functions[spec.logical_name] = function
        return function

    @classmethod
    def _grant_reconciliation(cls, role: iam.Role, state_machine: sfn.StateMachine) -> str:
        """StartExecution on the order workflow and DescribeExecution on its executions, nothing else of Step Functions;
        returns the cdk-nag finding the executions' wildcard raises."""
        state_machine.grant_start_execution(role)
        return cls._grant_on_executions(role, state_machine, DESCRIBE_EXECUTION)

    @staticmethod
    def _grant_on_executions(role: iam.Role, state_machine: sfn.StateMachine, action: str) -> str:
        """``action`` on the order workflow's executions (named after the orders) only; returns the cdk-nag finding
        the executions' wildcard raises."""
        stack = Stack.of(state_machine)
        executions = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(iam.PolicyStatement(actions=[action], resources=[executions]))
        logical_id = stack.get_logical_id(state_machine.node.default_child)
        return f"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<{logical_id}.Name>:*"

    def _environment(
        self, spec: FunctionSpec, state_machine: sfn.StateMachine | None, deploy_environment: Mapping[str, str]
    ) -> dict[str, str]:
        table_names = {name: table.table_name for name, table in self._tables.items()}
        environment = function_environment(
            spec, table_names, state_machine.state_machine_arn if state_machine else None
        )
        clashes = environment.keys() & deploy_environment.keys()
        if clashes:
            raise ValueError(f"{spec.logical_name}: the deployment may not replace {sorted(clashes)}")
        return {**environment, **deploy_environment}

    def _build_role(self, scope: Construct, spec: FunctionSpec) -> iam.Role:
        """A role per function, without the AWS managed basic-execution policy: logs go to its own log group only."""
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the {spec.logical_name} function",
        )
        for access in spec.table_access:
            for statement in self._table_statements(access):
                role.add_to_policy(statement)
        return role

    def _table_statements(self, access: TableAccess) -> list[iam.PolicyStatement]:
        """The spec's actions on the table's ARN, and Query on the ARN of each index it queries (never ``/index/*``)."""
        table_arn = self._tables[access.table].table_arn
        statements = []
        if access.actions:
            statements.append(iam.PolicyStatement(actions=sorted(access.actions), resources=[table_arn]))
        if access.indexes:
            statements.append(
                iam.PolicyStatement(
                    actions=list(access.index_actions),
                    resources=[f"{table_arn}/index/{index}" for index in access.indexes],
                )
            )
        return statements

    @staticmethod
    def _build_log_group(scope: Construct, role: iam.Role) -> logs.LogGroup:
        log_group = logs.LogGroup(
            scope, "Logs", retention=constants.LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        log_group.grant_write(role)
        return log_group

    def _build_dependencies_layer(self) -> lambda_.LayerVersion:
        """Powertools, pydantic and the X-Ray SDK at the versions uv.lock pins, as the suite ran them.

        The wheels were installed for the Lambda platform by ``make lambda-layer``; synth only zips the directory, so
        it needs no network and no Docker. boto3 is not in it: the runtime provides it.
        """
        site = DEPENDENCIES_LAYER_ROOT / "python"
        if not site.is_dir():
            raise FileNotFoundError(
                f"{site} is missing: run 'make lambda-layer' to build the functions' dependencies layer from uv.lock "
                "(make synth and make test build it first)"
            )
        return lambda_.LayerVersion(
            self,
            "DependenciesLayer",
            code=lambda_.Code.from_asset(str(DEPENDENCIES_LAYER_ROOT), exclude=["*", ".*", "!python", "!python/**"]),
            compatible_runtimes=[constants.LAMBDA_RUNTIME],
            compatible_architectures=[constants.LAMBDA_ARCHITECTURE],
            description=(
                "Powertools (parser, tracer), pydantic and aws-xray-sdk at the versions of uv.lock's lambda group, "
                f"for {constants.LAMBDA_RUNTIME.name} on {constants.LAMBDA_ARCHITECTURE.name} (make lambda-layer)"
            ),
        )


def _build_code_asset() -> lambda_.Code:
    """Only the handler packages go into the asset: no tests, local runtime, virtualenv or cdk.out."""
    keep = [pattern for package in constants.CODE_ASSET_PACKAGES for pattern in (f"!{package}", f"!{package}/**")]
    return lambda_.Code.from_asset(str(CODE_ROOT), exclude=["*", ".*", *keep, "**/__pycache__", "**/*.pyc"])
