"""The EventBridge Scheduler schedule that runs the reconciler of stranded orders, and the role it invokes it with."""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from stacks import constants
from workflows.resources import STRANDED_ORDER_SCHEDULE

INVOKE_FUNCTION = "lambda:InvokeFunction"


class SchedulesConstruct(Construct):
    """Every minute, EventBridge Scheduler invokes ReconcileOrders with ``STRANDED_ORDER_SCHEDULE.event()``.

    The schedule's role may invoke that one function (its unqualified ARN, which the target names), and only this
    schedule may assume it. A run that cannot be delivered within a minute, or that fails, is not retried past the
    next one: the next run does the same work (``constants.RECONCILER_EVENT_AGE``).

    Example
    -------
    With the reconciler as ``FunctionsConstruct`` builds it:

    >>> from workflows.resources import RECONCILE_ORDERS
    >>> schedules = SchedulesConstruct(stack, "Schedules", reconciler=functions.add(RECONCILE_ORDERS, workflow))
    """

    def __init__(self, scope: Construct, construct_id: str, *, reconciler: lambda_.Function) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.schedule_name = f"{stack.stack_name}-{constants.RECONCILER_SCHEDULE_NAME}"
        schedule_arn = stack.format_arn(
            service="scheduler",
            resource="schedule",
            resource_name=f"{constants.SCHEDULE_GROUP}/{self.schedule_name}",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        self.role = iam.Role(
            self,
            "ReconcilerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account, "aws:SourceArn": schedule_arn}},
            ),
            description="EventBridge Scheduler invokes the ReconcileOrders function with it",
        )
        self.role.add_to_policy(iam.PolicyStatement(actions=[INVOKE_FUNCTION], resources=[reconciler.function_arn]))
        self.schedule = scheduler.CfnSchedule(
            self,
            "Reconciler",
            name=self.schedule_name,
            group_name=constants.SCHEDULE_GROUP,
            description="Starts orders stranded in RECEIVED without an execution, or fails them past a limit",
            schedule_expression=STRANDED_ORDER_SCHEDULE.rate_expression,
            schedule_expression_timezone="Etc/UTC",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=reconciler.function_arn,
                role_arn=self.role.role_arn,
                input=json.dumps(STRANDED_ORDER_SCHEDULE.event()),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=int(constants.RECONCILER_EVENT_AGE.to_seconds()),
                    maximum_retry_attempts=constants.RECONCILER_DELIVERY_RETRIES,
                ),
            ),
        )
        # the schedule invokes asynchronously; a failed run is followed by the next one a minute later, not retried
        reconciler.configure_async_invoke(retry_attempts=0, max_event_age=constants.RECONCILER_EVENT_AGE)
