"""Alarms on what goes wrong (failed workflows, failed order preparations and compensations, function and API errors,
order events that are late or given up on, stranded orders the reconciler failed or stopped healing) and one
dashboard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import constants
from workflows.resources import API, PUSH_ORDER_STATUS, RECONCILE_ORDERS, SERVICE_NAME, STREAM_FUNCTIONS

SUM = cloudwatch.Stats.SUM
MAX = cloudwatch.Stats.MAXIMUM
STREAM_FUNCTION_NAMES = frozenset(spec.logical_name for spec in STREAM_FUNCTIONS)
PER_FUNCTION_GRAPHS = (
    ("Function errors", "Errors", SUM),
    ("Function throttles", "Throttles", SUM),
    ("Function duration p95", "Duration", cloudwatch.Stats.percentile(95)),
)
"""Dashboard graphs with one line per function: title, AWS/Lambda metric, statistic."""


class MonitoringConstruct(Construct):
    """CloudWatch alarms and the service dashboard; the alarms carry no action, subscribe one per environment.

    Example
    -------
    With the resources the other constructs build:

    >>> monitoring = MonitoringConstruct(
    ...     stack, "Monitoring", functions=functions.functions, state_machine=workflow.state_machine,
    ...     preparation_state_machine=workflow.state_machines["OrderPreparation"],
    ...     rest_api=api.rest_api, order_events_dead_letter_queue=order_events.dead_letter_queue,
    ... )
    >>> len(monitoring.alarms) > 0
    True
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        state_machine: sfn.StateMachine,
        preparation_state_machine: sfn.StateMachine,
        rest_api: apigw.RestApi,
        order_events_dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[cloudwatch.Alarm] = []
        compensation_failures = cloudwatch.Metric(
            namespace=constants.METRICS_NAMESPACE,
            metric_name=constants.COMPENSATION_FAILURES_METRIC,
            dimensions_map={"service": SERVICE_NAME},
            statistic=SUM,
            period=constants.ALARM_PERIOD,
        )
        stranded = {
            name: cloudwatch.Metric(
                namespace=constants.METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": SERVICE_NAME},
                statistic=SUM,
                period=constants.ALARM_PERIOD,
            )
            for name in (constants.STRANDED_ORDERS_STARTED_METRIC, constants.STRANDED_ORDERS_FAILED_METRIC)
        }
        self._build_workflow_alarms(state_machine, compensation_failures)
        self._build_reconciler_alarms(functions[RECONCILE_ORDERS.logical_name], stranded)
        self._build_preparation_alarms(preparation_state_machine)
        self._build_function_alarms(functions)
        self._build_api_alarms(rest_api)
        iterator_ages = {
            name: function.metric("IteratorAge", period=constants.ALARM_PERIOD, statistic=MAX)
            for name, function in functions.items()
            if name in STREAM_FUNCTION_NAMES
        }
        dead_letters = order_events_dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=constants.ALARM_PERIOD, statistic=MAX
        )
        self._build_order_event_alarms(iterator_ages, dead_letters)
        self._build_dashboard(
            functions,
            state_machine,
            preparation_state_machine,
            rest_api,
            compensation_failures,
            list(iterator_ages.values()),
            dead_letters,
            list(stranded.values()),
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str, periods: int = 1
    ) -> None:
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                construct_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
        )

    def _build_workflow_alarms(self, state_machine: sfn.StateMachine, compensation_failures: cloudwatch.Metric) -> None:
        self._alarm(
            "ExecutionsFailed",
            state_machine.metric_failed(period=constants.ALARM_PERIOD, statistic=SUM),
            constants.FAILED_EXECUTIONS_THRESHOLD,
            "Many order executions failed in five minutes: more than declines and stock-outs explain.",
        )
        self._alarm(
            "ExecutionsTimedOut",
            state_machine.metric_timed_out(period=constants.ALARM_PERIOD, statistic=SUM),
            1,
            "An order execution timed out as a whole.",
        )
        self._alarm(
            "CompensationFailures",
            compensation_failures,
            1,
            "A compensation (void/refund or stock release) failed after its retries: money or stock needs a person.",
        )

    def _build_reconciler_alarms(
        self, reconciler: lambda_.IFunction, stranded: Mapping[str, cloudwatch.Metric]
    ) -> None:
        """An order the reconciler had to fail, and a reconciler that no longer runs (its errors: per function)."""
        self._alarm(
            "StrandedOrdersFailed",
            stranded[constants.STRANDED_ORDERS_FAILED_METRIC],
            1,
            "The reconciler failed an order it could not start (OrderNotStartedError): StartExecution kept failing "
            "for it, or its execution ended before it moved. Its log names the order and each failed start's error.",
        )
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                "ReconcilerNotRunning",
                metric=reconciler.metric_invocations(period=constants.ALARM_PERIOD, statistic=SUM),
                threshold=1,
                evaluation_periods=constants.RECONCILER_SILENT_PERIODS,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
                alarm_description="ReconcileOrders has not run for "
                f"{constants.RECONCILER_SILENT_PERIODS * int(constants.ALARM_PERIOD.to_minutes())} minutes: its "
                "schedule is disabled or cannot invoke it, and stranded orders stay RECEIVED.",
            )
        )

    def _build_preparation_alarms(self, preparation: sfn.StateMachine) -> None:
        """The Express child's own metrics: it keeps no history, so they and its log group are what show it failing."""
        self._alarm(
            "PreparationExecutionsFailed",
            preparation.metric_failed(period=constants.ALARM_PERIOD, statistic=SUM),
            constants.FAILED_PREPARATIONS_THRESHOLD,
            "Many order preparations (validate, authorize, reserve) failed in five minutes: more than refused "
            "orders, declines and stock-outs explain. Their events are in the PreparationLogGroupName log group.",
        )
        self._alarm(
            "PreparationExecutionsTimedOut",
            preparation.metric_timed_out(period=constants.ALARM_PERIOD, statistic=SUM),
            1,
            "An order preparation ran into its five-minute timeout: a task hung; the parent compensates the order.",
        )

    def _build_function_alarms(self, functions: Mapping[str, lambda_.IFunction]) -> None:
        for name, function in functions.items():
            threshold, description = _errors_alarm(name)
            self._alarm(
                f"{name}Errors",
                function.metric_errors(period=constants.ALARM_PERIOD, statistic=SUM),
                threshold,
                description,
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=constants.ALARM_PERIOD, statistic=SUM),
                1,
                f"{name} was throttled: the account's concurrency is exhausted.",
            )

    def _build_api_alarms(self, rest_api: apigw.RestApi) -> None:
        self._alarm(
            "Api5xx",
            rest_api.metric_server_error(period=constants.ALARM_PERIOD, statistic=SUM),
            1,
            "The API answered with a 5xx.",
        )
        self._alarm(
            "ApiLatencyP95",
            rest_api.metric_latency(period=constants.ALARM_PERIOD, statistic=cloudwatch.Stats.percentile(95)),
            constants.API_LATENCY_P95_THRESHOLD_MS,
            f"The API's p95 latency stayed above {constants.API_LATENCY_P95_THRESHOLD_MS} ms.",
            periods=constants.API_LATENCY_EVALUATION_PERIODS,
        )

    def _build_order_event_alarms(
        self, iterator_ages: Mapping[str, cloudwatch.IMetric], dead_letters: cloudwatch.IMetric
    ) -> None:
        for name, iterator_age in iterator_ages.items():
            self._alarm(
                f"{name}IteratorAge",
                iterator_age,
                constants.STREAM_ITERATOR_AGE_THRESHOLD_MS,
                f"{name} is more than {constants.STREAM_ITERATOR_AGE_THRESHOLD_MS // 1000} s behind the orders "
                "table's stream: it is failing, retrying or throttled, and order events are late.",
            )
        self._alarm(
            "OrderEventsDeadLetters",
            dead_letters,
            constants.DEAD_LETTER_QUEUE_DEPTH_THRESHOLD,
            "A stream batch was given up on after its retries: its order events are not on the bus. The message "
            "names the shard and sequence numbers; replay them within 24 hours of the write, while the stream "
            "still holds the records.",
        )

    def _build_dashboard(
        self,
        functions: Mapping[str, lambda_.IFunction],
        state_machine: sfn.StateMachine,
        preparation: sfn.StateMachine,
        rest_api: apigw.RestApi,
        compensation_failures: cloudwatch.Metric,
        stream_lag: Sequence[cloudwatch.IMetric],
        dead_letters: cloudwatch.IMetric,
        stranded: Sequence[cloudwatch.IMetric],
    ) -> None:
        period = constants.ALARM_PERIOD
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{Stack.of(self).stack_name}-orders")
        dashboard.add_widgets(
            _executions_graph("Order executions", state_machine),
            _executions_graph("Order preparations (Express child)", preparation),
            cloudwatch.GraphWidget(title="Compensation failures", left=[compensation_failures]),
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[
                    rest_api.metric_count(period=period, statistic=SUM),
                    rest_api.metric_client_error(period=period, statistic=SUM),
                    rest_api.metric_server_error(period=period, statistic=SUM),
                ],
                right=[rest_api.metric_latency(period=period, statistic=cloudwatch.Stats.percentile(95))],
            ),
            cloudwatch.GraphWidget(
                title="Order events: stream lag (ms), dead letters", left=list(stream_lag), right=[dead_letters]
            ),
            cloudwatch.GraphWidget(title="Stranded orders: started, failed by the reconciler", left=list(stranded)),
        )
        dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=title,
                    left=[
                        function.metric(metric_name, period=period, statistic=statistic, label=name)
                        for name, function in functions.items()
                    ],
                )
                for title, metric_name, statistic in PER_FUNCTION_GRAPHS
            )
        )
        dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24))


def _errors_alarm(name: str) -> tuple[float, str]:
    """A function's Errors threshold and why: only task functions raise errors the design expects."""
    if name == API.logical_name:
        return constants.API_ERRORS_THRESHOLD, f"{name} raised errors."
    if name == RECONCILE_ORDERS.logical_name:
        return (
            constants.RECONCILER_ERRORS_THRESHOLD,
            f"{name} failed whole runs: DynamoDB or Step Functions refused its reads or writes; stranded orders wait.",
        )
    if name in STREAM_FUNCTION_NAMES:
        return (
            constants.STREAM_ERRORS_THRESHOLD,
            f"{name} failed a whole batch: EventBridge refused its events; the stream retries it, then the DLQ.",
        )
    if name == PUSH_ORDER_STATUS.logical_name:
        return (
            constants.TASK_ERRORS_THRESHOLD,
            f"{name} failed to push order events to WebSocket connections: DynamoDB or API Gateway refused it; "
            "EventBridge retries, then connected shoppers miss that status until they read the order.",
        )
    return constants.TASK_ERRORS_THRESHOLD, f"{name} raised errors beyond the business outcomes the workflow catches."


def _executions_graph(title: str, machine: sfn.IStateMachine) -> cloudwatch.GraphWidget:
    """Started, succeeded, failed and timed-out executions of one state machine, per alarm period."""
    period = constants.ALARM_PERIOD
    return cloudwatch.GraphWidget(
        title=title,
        left=[
            machine.metric_started(period=period, statistic=SUM),
            machine.metric_succeeded(period=period, statistic=SUM),
            machine.metric_failed(period=period, statistic=SUM),
            machine.metric_timed_out(period=period, statistic=SUM),
        ],
    )
