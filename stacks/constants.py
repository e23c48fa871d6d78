"""Names, sizes and thresholds of the deployed stack, in one place so a reviewer finds every number here.

What the Lambda code itself depends on (tables, handlers, environment, ASL placeholders) lives in
``workflows.resources``; this module holds only what CDK adds around it.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn

STACK_NAME = "OrderOrchestration"
STACK_DESCRIPTION = (
    "Order orchestration: Step Functions saga, Lambda tasks, DynamoDB, REST API with Cognito, EventBridge order events."
)
DEFAULT_OUTDIR = "cdk.out"

# Lambda
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_13
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
DEPENDENCIES_LAYER_DIR = "build/lambda-layer"
"""Where ``make lambda-layer`` (make/lambda_layer.py) builds the functions' dependencies layer from uv.lock, relative
to the repository: Powertools, pydantic and the X-Ray SDK at their locked versions, for ``LAMBDA_RUNTIME`` on
``LAMBDA_ARCHITECTURE``. The script reads these three assignments from this file's source, so keep them literal."""

CODE_ASSET_PACKAGES = ("tasks", "workflows")
"""The packages the handlers import; everything else in the repository stays out of the Lambda asset."""

# Step Functions
STATE_MACHINE_LOG_LEVEL = sfn.LogLevel.ALL
"""Every execution event of both state machines goes to its log group. The Express child keeps no execution
history, so its log group is the only record of its events: the console and an operator read them there."""
STATE_MACHINE_LOG_EXECUTION_DATA = False
"""The events are logged without their inputs and outputs: those carry task tokens and shipping addresses."""
SYNC_EXECUTION_EVENTS_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"
"""The EventBridge rule Step Functions manages in the account to learn that a child started with
``startExecution.sync`` (or ``.sync:2``) has ended; the parent's role may put and describe this rule only."""

# API Gateway
API_STAGE_NAME = "prod"
CORS_ORIGINS_CONTEXT_KEY = "corsOrigins"
"""``cdk deploy -c corsOrigins=https://shop.example.com,https://m.example.com``: the storefronts browsers call from."""
CORS_ALLOWED_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key")
"""The request headers a storefront sends: the ID token, the JSON body's type, the order's idempotency key."""
CORS_MAX_AGE = Duration.minutes(10)
"""How long a browser may reuse a preflight answer; the local API Gateway emulation answers with the same."""

SHOPPER_ORDER_LIMIT_CONTEXT_KEY = "shopperOrderLimit"
"""``cdk deploy -c shopperOrderLimit=1000/100000``: new orders per shopper a minute / a day, for a stack the
integration suite runs against (its shoppers place far more than a person); without it, ``SHOPPER_ORDER_LIMIT``."""

# WAF (the stage's throttle and the shoppers' order limit are in workflows.resources: the local runtime enforces them)
PUBLIC_ROUTES_PER_IP_LIMIT = 600
"""Requests one IP address may send to the public routes (catalog, docs) per evaluation window: two a second on
average, far more than a person browses and about 4% of the stage's 50 a second, so no one address can take the
stage's capacity with anonymous reads (docs/decisions.md)."""
PUBLIC_ROUTES_EVALUATION_WINDOW_SECONDS = 300
"""WAF counts the last five minutes (its default; 60, 120, 300 or 600 are allowed)."""
COMMON_RULE_SET = "AWSManagedRulesCommonRuleSet"
"""AWS's baseline managed rule group (OWASP-style bad inputs, oversized bodies, no User-Agent); no extra fee."""
COMMON_RULE_SET_COUNTED_RULE = "SizeRestrictions_BODY"
"""The one rule of the group that counts instead of blocking: bodies over 8 KB reach the API, which refuses any over
64 KB with 413 (its documented answer); the largest valid order is about 5.5 KB (ASCII)."""

# Cognito
PASSWORD_MIN_LENGTH = 12
ID_TOKEN_VALIDITY = Duration.hours(1)
REFRESH_TOKEN_VALIDITY = Duration.days(30)

# Metrics and alarms
METRICS_NAMESPACE = "OrderOrchestration"
"""Must equal ``POWERTOOLS_METRICS_NAMESPACE`` from ``workflows.resources.function_environment`` (tested)."""
COMPENSATION_FAILURES_METRIC = "CompensationFailures"
"""Emitted by ``tasks/handlers/record_failure.py`` (tested), with Powertools' ``service`` dimension."""
ALARM_PERIOD = Duration.minutes(5)
FAILED_EXECUTIONS_THRESHOLD = 10
"""Declined payments and out-of-stock orders end their executions FAILED by design; only a surge is alarming."""
FAILED_PREPARATIONS_THRESHOLD = 10
"""The Express child fails by design with the error that decides the order's status (a refused order, a decline, a
stock-out) and the parent routes on it; only a surge is alarming, as for the parent."""
TASK_ERRORS_THRESHOLD = 5
"""Task handlers raise business outcomes (declines, invalid orders) for the ASL to catch; a burst is alarming."""
API_ERRORS_THRESHOLD = 1
"""The API handler answers bad input with 4xx responses, so any Lambda error there is a bug."""
API_LATENCY_P95_THRESHOLD_MS = 2000
API_LATENCY_EVALUATION_PERIODS = 3
STREAM_ERRORS_THRESHOLD = 1
"""A stream function's invocation fails only when a whole batch does: EventBridge refused its first record's events
after every in-process attempt, so one error is alarming (partial failures show in the DLQ and the iterator age)."""
STREAM_ITERATOR_AGE_THRESHOLD_MS = 60_000
"""Lambda reads the stream about four times a second; a record a minute old means the publisher is failing, retrying
or throttled, and consumers see order events late."""
DEAD_LETTER_QUEUE_DEPTH_THRESHOLD = 1
"""Every message is a stream batch that was given up on: its records leave the stream 24 hours after their write."""

# The reconciler of stranded orders (its rate, age and attempts are in workflows.resources: the local runtime runs them)
SCHEDULE_GROUP = "default"
RECONCILER_SCHEDULE_NAME = "reconcile-orders"
"""The schedule is named ``<stack name>-reconcile-orders``, so its role's trust policy can name the schedule's ARN."""
RECONCILER_EVENT_AGE = Duration.minutes(1)
"""EventBridge Scheduler's and Lambda's shortest: a run not delivered or not done within a minute is replaced by the
next one, which does the same work; so Lambda does not retry a failed run either."""
RECONCILER_DELIVERY_RETRIES = 2
"""Scheduler retries a delivery Lambda refused (throttled) with backoff, within ``RECONCILER_EVENT_AGE``."""
RECONCILER_ERRORS_THRESHOLD = 3
"""A run fails only when DynamoDB or Step Functions fails it as a whole (a failed start is counted, not raised); three
in five minutes means the reconciler is not healing anything."""
STRANDED_ORDERS_FAILED_METRIC = "StrandedOrdersFailed"
"""Emitted by ``tasks/handlers/reconcile_orders.py`` (tested): orders the reconciler failed because they could not be
started; each one is a shopper told so, and one alarms."""
STRANDED_ORDERS_STARTED_METRIC = "StrandedOrdersStarted"
"""Emitted by the same handler: orders the reconciler started (an API request died between its two calls)."""
RECONCILER_SILENT_PERIODS = 3
"""Periods of ``ALARM_PERIOD`` without one run of the reconciler before its alarm: the schedule no longer invokes it."""

# Order events
ORDER_EVENTS_DLQ_RETENTION = Duration.days(14)
"""SQS's maximum: a batch's pointers stay readable long after its alarm, though its records live 24 h in the stream."""
STREAM_MAX_RECORD_AGE = Duration.hours(1)
"""A batch the publisher could not even be invoked for (throttling) goes to the DLQ after an hour instead of
blocking the shard until the stream drops it unrecorded at 24 hours; that leaves 23 hours to replay it."""
STREAM_PARALLELIZATION_FACTOR = 1
"""One batch per shard at a time: the stream orders an order's records within its shard, and so must the publisher."""
