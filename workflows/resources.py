"""The single plain-Python description of the order service's AWS resources.

Both the CDK stack and the local runtime read this module, so a function, table or ASL placeholder exists in one place
only. It imports nothing from ``aws_cdk``: loading it must never start node.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

WORKFLOW_DIR = Path(__file__).resolve().parent
ORDER_WORKFLOW_ASL = WORKFLOW_DIR / "order_workflow.asl.json"
ORDER_PREPARATION_ASL = WORKFLOW_DIR / "order_preparation.asl.json"

PLACEHOLDER_PATTERN = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")

SERVICE_NAME = "orders"

OPERATORS_GROUP = "ops"
"""The Cognito group whose members may read, list and cancel any customer's order (the ``cognito:groups`` claim)."""


@dataclass(frozen=True)
class Index:
    """A GSI: its keys, and the attributes it copies besides them.

    ``projection`` None copies every attribute (``ALL``), an empty tuple none (``KEYS_ONLY``: the index's and the
    table's keys), names the ones it copies (``INCLUDE``). Every write that changes a projected value writes the
    index too, so an index projects only what its readers use.

    Example
    -------
    >>> Index("by-customer", "customerId", "createdAt", projection=()).projection_type
    'KEYS_ONLY'
    >>> Index("by-status-shard", "statusShard", "createdAt", projection=(), write_shards=4).shard_values("RECEIVED")
    ('RECEIVED#0', 'RECEIVED#1', 'RECEIVED#2', 'RECEIVED#3')
    """

    name: str
    partition_key: str
    sort_key: str | None = None
    projection: tuple[str, ...] | None = None
    write_shards: int = 1
    """How many partition key values one logical value is spread over (``<value>#<n>``, n below this): a reader
    queries every shard and merges. 1: the partition key is not sharded."""

    @property
    def projection_type(self) -> str:
        if self.projection is None:
            return "ALL"
        return "INCLUDE" if self.projection else "KEYS_ONLY"

    def shard_values(self, value: str) -> tuple[str, ...]:
        """Every partition key value that holds entries of the logical ``value``."""
        if self.write_shards == 1:
            return (value,)
        return tuple(f"{value}#{shard}" for shard in range(self.write_shards))


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table: its keys, its indexes, and the variable its table name reaches the code through."""

    logical_name: str
    local_name: str
    partition_key: str
    env_var: str
    sort_key: str | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    stream_view_type: str | None = None
    """A DynamoDB stream of every change (``NEW_AND_OLD_IMAGES``), read by a stream function; None: no stream."""


DYNAMODB_ITEM_ACTIONS = frozenset(
    {
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
    }
)
"""The data-plane actions a function may be granted on a table. A typo or a wildcard fails at import, not at deploy."""

INDEX_QUERY_ACTION = "dynamodb:Query"
"""The one action granted on an index: the code reads GSIs only by querying them."""


@dataclass(frozen=True)
class TableAccess:
    """Exactly what a function calls on one table, so its role allows that and nothing more.

    ``actions`` are allowed on the table itself, ``indexes`` names the GSIs it queries (``dynamodb:Query`` on each
    index's ARN, and on no other index). ``TransactWriteItems`` has no IAM action of its own: each of its items
    needs the action it performs (``Update``: ``dynamodb:UpdateItem``, ``Put``: ``dynamodb:PutItem``,
    ``ConditionCheck``: ``dynamodb:ConditionCheckItem``) on that item's table.

    Example
    -------
    >>> access = TableAccess("Orders", ("dynamodb:GetItem",), indexes=("by-customer",))
    >>> access.env_var, access.index_actions
    ('ORDERS_TABLE_NAME', ('dynamodb:Query',))
    >>> TableAccess("Orders", ("dynamodb:*",))
    Traceback (most recent call last):
    ...
    ValueError: Orders: 'dynamodb:*' is not a DynamoDB item action
    """

    table: str
    actions: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        spec = table(self.table)
        unknown = [action for action in self.actions if action not in DYNAMODB_ITEM_ACTIONS]
        if unknown:
            raise ValueError(f"{self.table}: {unknown[0]!r} is not a DynamoDB item action")
        missing = set(self.indexes) - {index.name for index in spec.indexes}
        if missing:
            raise ValueError(f"{self.table} has no index {sorted(missing)[0]!r}")
        if len(set(self.actions)) != len(self.actions) or len(set(self.indexes)) != len(self.indexes):
            raise ValueError(f"{self.table}: an action or index is listed twice")
        if not self.actions and not self.indexes:
            raise ValueError(f"{self.table}: access without an action; leave the table out instead")

    @property
    def env_var(self) -> str:
        return table(self.table).env_var

    @property
    def index_actions(self) -> tuple[str, ...]:
        return (INDEX_QUERY_ACTION,) if self.indexes else ()


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function: its handler, size, exactly what it calls on which tables, and its own environment."""

    logical_name: str
    handler: str
    description: str
    table_access: tuple[TableAccess, ...] = ()
    memory_mb: int = 256
    timeout_seconds: int = 15
    environment: Mapping[str, str] = field(default_factory=dict)
    drives_workflow: bool = False
    """Starts executions and answers task tokens: gets ``ORDER_WORKFLOW_ARN`` and the matching ``states:`` grants,
    and ``states:GetExecutionHistory`` on the order workflow's executions (a refused callback checks whether the
    workflow took it)."""
    reconciles_orders: bool = False
    """Starts the executions of stranded orders and asks whether one exists: gets ``ORDER_WORKFLOW_ARN``,
    ``states:StartExecution`` on the order workflow and ``states:DescribeExecution`` on its executions, no more."""
    reserved_concurrency: int | None = None
    """Concurrent executions set aside for this function, and its ceiling: past it Lambda throttles the function,
    and no other function can take them. None: it shares the account's unreserved pool."""

    def __post_init__(self) -> None:
        names = [access.table for access in self.table_access]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.logical_name}: one TableAccess per table")
        if self.reserved_concurrency is not None and self.reserved_concurrency < 1:
            raise ValueError(f"{self.logical_name}: reserved concurrency must be at least 1")

    @property
    def uses_workflow(self) -> bool:
        """It calls the order workflow, so its environment names it (``ORDER_WORKFLOW_ARN``)."""
        return self.drives_workflow or self.reconciles_orders

    @property
    def tables(self) -> Mapping[str, TableAccess]:
        """Logical name of each table the function uses, to what it calls there; iterating gives the names."""
        return {access.table: access for access in self.table_access}

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


class SubstitutionKind(StrEnum):
    FUNCTION_ARN = "function_arn"
    TABLE_NAME = "table_name"
    STATE_MACHINE_ARN = "state_machine_arn"


class WorkflowType(StrEnum):
    """Standard executions are durable and billed per state transition; Express ones run at most five minutes and are
    billed per request and duration."""

    STANDARD = "STANDARD"
    EXPRESS = "EXPRESS"


@dataclass(frozen=True)
class Substitution:
    """What one ``${Placeholder}`` of the ASL stands for: a function's ARN, a table's name or a state machine's ARN."""

    kind: SubstitutionKind
    target: str


@dataclass(frozen=True)
class StateMachineSpec:
    """One state machine: its ASL file (the only copy), its type, and what each placeholder of the file stands for."""

    logical_name: str
    local_name: str
    definition_file: Path
    substitutions: Mapping[str, Substitution]
    workflow_type: WorkflowType = WorkflowType.STANDARD

    def placeholders_in_definition(self) -> set[str]:
        return set(PLACEHOLDER_PATTERN.findall(self.definition_file.read_text()))

    def render(self, resolve: Callable[[Substitution], str]) -> str:
        """Fill every placeholder of the ASL file with ``resolve(substitution)``.

        Parameters
        ----------
        resolve:
            Maps a substitution to its concrete value (a local ARN, a table name).

        Returns
        -------
        str
            The definition, as Step Functions would receive it after CDK's ``definition_substitutions``.

        Example
        -------
        >>> rendered = ORDER_WORKFLOW.render(lambda s: f"<{s.target}>")
        >>> "${" in rendered
        False
        """
        missing = self.placeholders_in_definition() - set(self.substitutions)
        if missing:
            raise KeyError(f"ASL placeholders without a substitution: {sorted(missing)}")
        text = self.definition_file.read_text()
        rendered = PLACEHOLDER_PATTERN.sub(lambda m: resolve(self.substitutions[m.group(1)]), text)
        json.loads(rendered)
        return rendered


STATUS_SHARDS = 4
"""Each status is written under this many partition key values (``statusShard`` = ``<STATUS>#<n>``). Every order
puts and later deletes one entry per status it passes, 2 write units a status: at the 1,000 orders/s the indexes are
sized for, 2,000 units/s a status, 500 a shard, half of the 1,000 one partition takes (``bench.cost``,
docs/decisions.md 2026-12-06)."""

ORDERS_TABLE = TableSpec(
    logical_name="Orders",
    local_name="orders",
    partition_key="orderId",
    env_var="ORDERS_TABLE_NAME",
    indexes=(
        # keys only: a status change then writes 2 small entries instead of 2 whole orders; listings batch-get.
        # Sharded: an unsharded status would take every order's writes on one partition; readers merge the shards
        Index(
            name="by-status-shard",
            partition_key="statusShard",
            sort_key="createdAt",
            projection=(),
            write_shards=STATUS_SHARDS,
        ),
        # keys only, and none of them ever changes: an order writes it once, when it is created
        Index(name="by-customer", partition_key="customerId", sort_key="createdAt", projection=()),
        # keys only: a shopper's orders of one status, newest into it first (statusAt = <STATUS>#<when>, which
        # every status write sets: a write that knows the order id, the status and the time, nothing else)
        Index(name="by-customer-status", partition_key="customerId", sort_key="statusAt", projection=()),
        # sparse: only orders with awaitingShipmentSince, which the AWAITING_SHIPMENT write sets and every later
        # status write removes; the warehouse's queue, read without touching the orders themselves, over the
        # AWAITING_SHIPMENT shards of statusShard
        Index(
            name="awaiting-shipment-shard",
            partition_key="statusShard",
            sort_key="awaitingShipmentSince",
            projection=(),
            write_shards=STATUS_SHARDS,
        ),
    ),
    stream_view_type="NEW_AND_OLD_IMAGES",
)
PRODUCTS_TABLE = TableSpec(
    logical_name="Products",
    local_name="products",
    partition_key="sku",
    env_var="PRODUCTS_TABLE_NAME",
)
PAYMENTS_TABLE = TableSpec(
    logical_name="PaymentsLedger",
    local_name="payments-ledger",
    partition_key="orderId",
    sort_key="entry",
    env_var="PAYMENTS_TABLE_NAME",
)
IDEMPOTENCY_TABLE = TableSpec(
    logical_name="Idempotency",
    local_name="idempotency",
    partition_key="id",
    env_var="IDEMPOTENCY_TABLE_NAME",
    ttl_attribute="expiration",
)
ORDER_QUOTAS_TABLE = TableSpec(
    logical_name="OrderQuotas",
    local_name="order-quotas",
    partition_key="id",
    env_var="ORDER_QUOTAS_TABLE_NAME",
    ttl_attribute="expiration",
)
"""One counter item per shopper and UTC day (``tasks.adapters.order_quotas``); TTL removes it once its day is over."""
WEBSOCKET_CONNECTION_TTL_SECONDS = 2 * 60 * 60
"""API Gateway ends a WebSocket connection after 2 hours at most, so TTL removes an entry whose $disconnect was lost."""
OPERATOR_SUBSCRIBER_SHARDS = 1
"""Operators' connections (who see every order) are kept under ``operators#<n>``, n below this, and every event queries
each key. One key is enough: ops staff are a handful of connections, and one index partition answers about 6,000
keys-only queries a second, above the 1,800 events a second the service's StartExecution quota (300/s) can make. Each
extra key is one more Query per event, which was 70 % of the push function's work at 4 keys (docs/decisions.md)."""
CONNECTIONS_TABLE = TableSpec(
    logical_name="WebSocketConnections",
    local_name="websocket-connections",
    partition_key="connectionId",
    env_var="CONNECTIONS_TABLE_NAME",
    # keys only: the push function needs the connection ids of one subscriber key (a shopper's, or an operator shard)
    indexes=(Index(name="by-subscriber", partition_key="subscriber", projection=()),),
    ttl_attribute="expiration",
)
"""Who is connected to the WebSocket API of live order status (``tasks.adapters.connections_repository``)."""
TABLES: tuple[TableSpec, ...] = (
    ORDERS_TABLE,
    PRODUCTS_TABLE,
    PAYMENTS_TABLE,
    IDEMPOTENCY_TABLE,
    ORDER_QUOTAS_TABLE,
    CONNECTIONS_TABLE,
)


def table(logical_name: str) -> TableSpec:
    """Look up a table by its logical name."""
    for spec in TABLES:
        if spec.logical_name == logical_name:
            return spec
    raise KeyError(f"unknown table {logical_name!r}")


_HANDLERS = "tasks.handlers"

ORDER_MOVES = TableAccess("Orders", ("dynamodb:UpdateItem",))
"""A task's conditional writes of its order (``advance``, ``set_fields``). A refused write returns the order as it
was (``ReturnValuesOnConditionCheckFailure``), so explaining it reads nothing."""

VALIDATE_ORDER = FunctionSpec(
    logical_name="ValidateOrder",
    handler=f"{_HANDLERS}.validate_order.handler",
    description="Prices the order from the catalog and checks quantities and the address.",
    table_access=(ORDER_MOVES, TableAccess("Products", ("dynamodb:BatchGetItem",))),
)
AUTHORIZE_PAYMENT = FunctionSpec(
    logical_name="AuthorizePayment",
    handler=f"{_HANDLERS}.authorize_payment.handler",
    description="Authorizes the order total with the payment provider, once per order.",
    table_access=(
        # one BatchGetItem of the order (its payment token) and its ledger authorization, then the payment and the
        # AUTHORIZED move; the entry's conditional put, and the simulator's attempt counter
        TableAccess("Orders", ("dynamodb:BatchGetItem", "dynamodb:UpdateItem")),
        TableAccess("PaymentsLedger", ("dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")),
    ),
)
RESERVE_INVENTORY = FunctionSpec(
    logical_name="ReserveInventory",
    handler=f"{_HANDLERS}.reserve_inventory.handler",
    description="Reserves every line's stock in one DynamoDB transaction.",
    table_access=(
        # the transaction's Update of the order, the read that says whether the payment is there too, the move
        TableAccess("Orders", ("dynamodb:GetItem", "dynamodb:UpdateItem")),
        # the transaction's stock updates, and the lookup that names the short SKUs when it is cancelled
        TableAccess("Products", ("dynamodb:BatchGetItem", "dynamodb:UpdateItem")),
    ),
)
REQUEST_SHIPMENT = FunctionSpec(
    logical_name="RequestShipment",
    handler=f"{_HANDLERS}.request_shipment.handler",
    description="Stores the callback task token and asks the warehouse to ship.",
    table_access=(ORDER_MOVES,),
)
CAPTURE_PAYMENT = FunctionSpec(
    logical_name="CapturePayment",
    handler=f"{_HANDLERS}.capture_payment.handler",
    description="Captures the authorized payment once, then records the shipment and completes the order.",
    table_access=(
        # one BatchGetItem of the order (its status) and its ledger entries, the capture's conditional put, and the
        # write of SHIPPED and COMPLETED
        TableAccess("Orders", ("dynamodb:BatchGetItem", "dynamodb:UpdateItem")),
        TableAccess("PaymentsLedger", ("dynamodb:BatchGetItem", "dynamodb:PutItem")),
    ),
)
VOID_OR_REFUND_PAYMENT = FunctionSpec(
    logical_name="VoidOrRefundPayment",
    handler=f"{_HANDLERS}.void_or_refund_payment.handler",
    description="Compensation: voids an open authorization or refunds a capture.",
    table_access=(TableAccess("PaymentsLedger", ("dynamodb:PutItem", "dynamodb:Query")),),
)
RELEASE_INVENTORY = FunctionSpec(
    logical_name="ReleaseInventory",
    handler=f"{_HANDLERS}.release_inventory.handler",
    description="Compensation: returns reserved stock, or blocks a late reservation.",
    table_access=(
        # the reservation read, the tombstone update, the transaction's Update of the order
        TableAccess("Orders", ("dynamodb:GetItem", "dynamodb:UpdateItem")),
        TableAccess("Products", ("dynamodb:UpdateItem",)),
    ),
)
RECORD_FAILURE = FunctionSpec(
    logical_name="RecordFailure",
    handler=f"{_HANDLERS}.record_failure.handler",
    description="Records the terminal failure status, its error and any failed compensation.",
    table_access=(ORDER_MOVES,),
)

WORKFLOW_FUNCTIONS: tuple[FunctionSpec, ...] = (
    VALIDATE_ORDER,
    AUTHORIZE_PAYMENT,
    RESERVE_INVENTORY,
    REQUEST_SHIPMENT,
    CAPTURE_PAYMENT,
    VOID_OR_REFUND_PAYMENT,
    RELEASE_INVENTORY,
    RECORD_FAILURE,
)

SHOPPER_ORDERS_PER_MINUTE_ENV = "SHOPPER_ORDERS_PER_MINUTE"
SHOPPER_ORDERS_PER_DAY_ENV = "SHOPPER_ORDERS_PER_DAY"


@dataclass(frozen=True)
class OrderRateLimit:
    """How many new orders one shopper may place: in a clock minute, and in a UTC day.

    Each order starts a paid Standard execution, so one signed-in account must not start thousands. A repeat with an
    Idempotency-Key that already placed its order is no new order and counts nothing (``tasks.logic.quotas``). The
    API function reads the limit from its environment, which ``environment()`` writes.

    Example
    -------
    >>> limit = OrderRateLimit(per_minute=10, per_day=200)
    >>> OrderRateLimit.from_environment(limit.environment()) == limit
    True
    """

    per_minute: int
    per_day: int

    def __post_init__(self) -> None:
        if not 1 <= self.per_minute <= self.per_day:
            raise ValueError(f"an order limit needs 1 <= per_minute <= per_day, got {self.per_minute}/{self.per_day}")

    def environment(self) -> dict[str, str]:
        return {SHOPPER_ORDERS_PER_MINUTE_ENV: str(self.per_minute), SHOPPER_ORDERS_PER_DAY_ENV: str(self.per_day)}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> OrderRateLimit:
        """The limit the function was deployed with; a function without one is misconfigured, never unlimited."""
        try:
            return cls(int(environ[SHOPPER_ORDERS_PER_MINUTE_ENV]), int(environ[SHOPPER_ORDERS_PER_DAY_ENV]))
        except KeyError as missing:
            raise RuntimeError(f"{missing.args[0]} is not set: the function was deployed without its limit") from None


SHOPPER_ORDER_LIMIT = OrderRateLimit(per_minute=10, per_day=200)
"""Deployed stacks and ``orders up``: ten orders a minute is more than a person checks out by hand, and 200 a day
bounds what one stolen or scripted account can start (docs/decisions.md)."""


@dataclass(frozen=True)
class StageThrottle:
    """API Gateway's token bucket for the whole stage: ``rate_limit`` requests a second, bursts of ``burst_limit``.

    CDK sets it on the stage; the local API Gateway emulation enforces it the same way, with the same 429.
    """

    rate_limit: int
    burst_limit: int

    def __post_init__(self) -> None:
        if self.rate_limit < 1 or self.burst_limit < 1:
            raise ValueError(f"a stage throttle needs a positive rate and burst, got {self}")


STAGE_THROTTLE = StageThrottle(rate_limit=50, burst_limit=100)
"""Every caller of the stage shares it: a storefront's normal load is far below it, and what a flood of anonymous
catalog reads costs is bounded by it (and, deployed, by the web ACL's per-IP rule first)."""

API_RESERVED_CONCURRENCY = 100
"""The API function's concurrency, set aside and capped: the stage's burst of 100 can run at once however slowly
DynamoDB answers, and a flood never takes more than 100 of the account's (default) 1,000, so the task and stream
functions keep the rest (docs/decisions.md)."""

API = FunctionSpec(
    logical_name="OrderApi",
    handler=f"{_HANDLERS}.api.handler",
    description="The order HTTP API behind API Gateway: submit, read, list, cancel, shipment callback.",
    table_access=(
        # create, read, and delete again when the execution cannot start; list through the three keys-only
        # listing GSIs, then batch-get the orders they name
        TableAccess(
            "Orders",
            ("dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"),
            indexes=("by-status-shard", "by-customer", "by-customer-status"),
        ),
        # the catalog is one scan; an order's SKUs are checked with one batch get before it is accepted
        TableAccess("Products", ("dynamodb:BatchGetItem", "dynamodb:Scan")),
        # the caller's Idempotency-Key records: a conditional put, which returns the record when the key is taken
        TableAccess("Idempotency", ("dynamodb:PutItem",)),
        # the shopper's order counters: one conditional update counts an order (or gives it back), returning the
        # counters when they refuse it
        TableAccess("OrderQuotas", ("dynamodb:UpdateItem",)),
    ),
    memory_mb=512,
    timeout_seconds=10,
    environment=SHOPPER_ORDER_LIMIT.environment(),
    drives_workflow=True,
    reserved_concurrency=API_RESERVED_CONCURRENCY,
)


@dataclass(frozen=True)
class EventBusSpec:
    """The EventBridge bus other systems subscribe to, and what its order events are called."""

    name: str
    source: str
    detail_type: str
    archive_name: str
    archive_retention_days: int
    dead_letter_queue: str
    """Where stream batches that still fail after their retries are recorded (an SQS queue, with an alarm)."""
    env_var: str = "ORDER_EVENTS_BUS_NAME"


ORDER_EVENTS = EventBusSpec(
    name="orders",
    source="orders",
    detail_type="OrderStatusChanged",
    archive_name="orders-archive",
    archive_retention_days=30,
    dead_letter_queue="orders-events-dlq",
)

STREAM_BATCH_SIZE = 100
STREAM_RETRY_ATTEMPTS = 3
"""A failing stream batch is retried this often (from its first failed record) before it goes to the DLQ."""

PUBLISH_ORDER_EVENTS = FunctionSpec(
    logical_name="PublishOrderEvents",
    handler=f"{_HANDLERS}.publish_order_events.handler",
    description="Publishes one OrderStatusChanged event per new timeline entry, from the orders table's stream.",
    environment={ORDER_EVENTS.env_var: ORDER_EVENTS.name},
)
"""Reads nothing from DynamoDB itself: the stream records carry the old and new images of the order."""

STREAM_FUNCTIONS: tuple[FunctionSpec, ...] = (PUBLISH_ORDER_EVENTS,)


@dataclass(frozen=True)
class StrandedOrderSchedule:
    """When the reconciler of stranded orders runs, and what it takes for stranded (``tasks.logic.reconciliation``).

    An order is stranded when the API wrote it and died before StartExecution (a timeout, an out-of-memory kill).
    Every ``every_minutes`` the reconciler starts each order that has been RECEIVED for ``stranded_after_seconds``
    (the execution name is the order id, so a start is idempotent), and fails one it has tried to start
    ``max_start_attempts`` times if no execution of it runs. The age must exceed the API function's timeout: by then
    the request that wrote the order has answered or been ended by Lambda, so the reconciler never races it (a
    request whose start failed deletes its order again).

    The schedule sends ``event()`` to the function; the local runtime sends the age divided by its time scale, as it
    divides the engine's waits (never below the API's timeout where the API runs: locally, Lambda timeouts are real
    seconds).

    Example
    -------
    >>> schedule = StrandedOrderSchedule(every_minutes=1, stranded_after_seconds=120, max_start_attempts=5)
    >>> schedule.event()
    {'strandedAfterSeconds': 120.0, 'maxStartAttempts': 5}
    >>> schedule.event(time_scale=1000)["strandedAfterSeconds"], schedule.event(1000, at_least_seconds=10)
    (0.12, {'strandedAfterSeconds': 10.0, 'maxStartAttempts': 5})
    """

    every_minutes: int
    stranded_after_seconds: int
    max_start_attempts: int

    def __post_init__(self) -> None:
        if min(self.every_minutes, self.stranded_after_seconds, self.max_start_attempts) < 1:
            raise ValueError(f"a stranded-order schedule needs positive numbers, got {self}")

    @property
    def every_seconds(self) -> int:
        return self.every_minutes * 60

    @property
    def rate_expression(self) -> str:
        """EventBridge Scheduler's expression for the rate, such as ``rate(1 minute)``."""
        return f"rate({self.every_minutes} minute{'' if self.every_minutes == 1 else 's'})"

    def event(self, time_scale: float = 1.0, at_least_seconds: float = 0.0) -> dict[str, float | int]:
        """The function's input: the age in (scaled) seconds, at least ``at_least_seconds``, and the attempts."""
        return {
            "strandedAfterSeconds": float(max(self.stranded_after_seconds / time_scale, at_least_seconds)),
            "maxStartAttempts": self.max_start_attempts,
        }


STRANDED_ORDER_SCHEDULE = StrandedOrderSchedule(every_minutes=1, stranded_after_seconds=120, max_start_attempts=5)
"""Every minute, EventBridge Scheduler's finest rate: a stranded order starts two to three minutes after the
shopper's request, for about 44,000 short invocations a month. Two minutes is twelve times the API's timeout; five
attempts a minute apart ride out a few minutes of Step Functions trouble before the shopper is told (docs/decisions.md).
"""
RECONCILE_ORDERS = FunctionSpec(
    logical_name="ReconcileOrders",
    handler=f"{_HANDLERS}.reconcile_orders.handler",
    description="On a schedule: starts orders stranded in RECEIVED without an execution, or fails them past a limit.",
    table_access=(
        # the RECEIVED shards of by-status-shard (keys only), a batch get of the orders they name, the attempt count
        # and the FAILED write, both conditional on RECEIVED
        TableAccess("Orders", ("dynamodb:BatchGetItem", "dynamodb:UpdateItem"), indexes=("by-status-shard",)),
    ),
    timeout_seconds=50,
    reconciles_orders=True,
)
"""Its timeout is under the schedule's minute, so one run ends before the next begins."""

SCHEDULED_FUNCTIONS: tuple[FunctionSpec, ...] = (RECONCILE_ORDERS,)

TOKEN_ISSUER_ENV = "COGNITO_TOKEN_ISSUER"
"""The user pool's issuer URL; its keys are at ``<issuer>/.well-known/jwks.json``."""
TOKEN_AUDIENCE_ENV = "COGNITO_APP_CLIENT_ID"
"""The app client an ID token must be issued to (its ``aud`` claim)."""
WEBSOCKET_CALLBACK_URL_ENV = "WEBSOCKET_CALLBACK_URL"
"""The stage's ``@connections`` endpoint (``https://<api>.execute-api.<region>.amazonaws.com/<stage>``)."""

WEBSOCKET_AUTHORIZER = FunctionSpec(
    logical_name="WebSocketAuthorizer",
    handler=f"{_HANDLERS}.websocket_authorizer.handler",
    description="Authorizes a WebSocket $connect by the shopper's Cognito ID token in the query string.",
    memory_mb=256,
    timeout_seconds=5,
)
"""Reads no table: it verifies the token against the pool's JWKS (fetched once per container)."""
WEBSOCKET_CONNECTIONS = FunctionSpec(
    logical_name="WebSocketConnections",
    handler=f"{_HANDLERS}.websocket_connections.handler",
    description="Records a WebSocket connection at $connect, forgets it at $disconnect, refuses other messages.",
    table_access=(TableAccess("WebSocketConnections", ("dynamodb:DeleteItem", "dynamodb:PutItem")),),
    timeout_seconds=5,
)
PUSH_ORDER_STATUS = FunctionSpec(
    logical_name="PushOrderStatus",
    handler=f"{_HANDLERS}.push_order_status.handler",
    description="Posts each OrderStatusChanged event to its owner's and the operators' WebSocket connections.",
    # the subscribers' connection ids through the keys-only index; a gone connection (410) is deleted
    table_access=(TableAccess("WebSocketConnections", ("dynamodb:DeleteItem",), indexes=("by-subscriber",)),),
    timeout_seconds=30,
)
WEBSOCKET_FUNCTIONS: tuple[FunctionSpec, ...] = (WEBSOCKET_AUTHORIZER, WEBSOCKET_CONNECTIONS, PUSH_ORDER_STATUS)
"""The live order status API's functions; locally ``local.aws.apigatewayv2`` calls them as API Gateway does."""
TOKEN_KEYS_URL_ENV = "COGNITO_JWKS_URL"
"""Where the authorizer reads the pool's public keys when not at ``<issuer>/.well-known/jwks.json``: set locally only,
where the issuer names AWS but the local AWS endpoint serves the keys."""


@dataclass(frozen=True)
class LambdaRuleSpec:
    """A rule on the ``orders`` bus whose target is a function, with the target's retry policy."""

    logical_name: str
    description: str
    target: FunctionSpec
    retry_attempts: int
    max_event_age_seconds: int

    @property
    def event_pattern(self) -> dict[str, list[str]]:
        """Every ``OrderStatusChanged`` event of the service (EventBridge's pattern syntax)."""
        return {"source": [ORDER_EVENTS.source], "detail-type": [ORDER_EVENTS.detail_type]}


ORDER_STATUS_TO_SOCKETS = LambdaRuleSpec(
    logical_name="OrderStatusToSockets",
    description="Every OrderStatusChanged event, to the function that pushes it to its WebSocket subscribers",
    target=PUSH_ORDER_STATUS,
    retry_attempts=2,
    max_event_age_seconds=5 * 60,
)
"""A status change older than five minutes is not worth pushing: a page that missed it reads the order."""
LAMBDA_RULES: tuple[LambdaRuleSpec, ...] = (ORDER_STATUS_TO_SOCKETS,)
"""The rules on the ``orders`` bus that invoke the service's own functions (other consumers subscribe their own)."""

ALL_FUNCTIONS: tuple[FunctionSpec, ...] = (
    *WORKFLOW_FUNCTIONS,
    API,
    *STREAM_FUNCTIONS,
    *SCHEDULED_FUNCTIONS,
    *WEBSOCKET_FUNCTIONS,
)

STATE_MACHINE_ARN_ENV = "ORDER_WORKFLOW_ARN"
CORS_ALLOWED_ORIGINS_ENV = "CORS_ALLOWED_ORIGINS"
"""The API function's storefront origins, comma-separated (CDK context ``corsOrigins``); empty allows none."""

PREPARATION_FUNCTIONS: tuple[FunctionSpec, ...] = (VALIDATE_ORDER, AUTHORIZE_PAYMENT, RESERVE_INVENTORY)
"""The tasks of the synchronous part, which the Express child runs; the parent runs the others."""


def _function_arns(functions: tuple[FunctionSpec, ...]) -> dict[str, Substitution]:
    return {
        f"{spec.logical_name}FunctionArn": Substitution(SubstitutionKind.FUNCTION_ARN, spec.logical_name)
        for spec in functions
    }


ORDER_PREPARATION = StateMachineSpec(
    logical_name="OrderPreparation",
    local_name="order-preparation",
    definition_file=ORDER_PREPARATION_ASL,
    substitutions=_function_arns(PREPARATION_FUNCTIONS),
    workflow_type=WorkflowType.EXPRESS,
)
"""The Express child: validate, then authorize payment and reserve stock in parallel; seconds, not days."""

ORDER_WORKFLOW = StateMachineSpec(
    logical_name="OrderWorkflow",
    local_name="order-workflow",
    definition_file=ORDER_WORKFLOW_ASL,
    substitutions={
        **_function_arns(tuple(spec for spec in WORKFLOW_FUNCTIONS if spec not in PREPARATION_FUNCTIONS)),
        "OrderPreparationStateMachineArn": Substitution(
            SubstitutionKind.STATE_MACHINE_ARN, ORDER_PREPARATION.logical_name
        ),
        "OrdersTableName": Substitution(SubstitutionKind.TABLE_NAME, ORDERS_TABLE.logical_name),
    },
)
"""The Standard parent, the one the API starts: it starts its child, waits for the warehouse, captures, compensates."""

STATE_MACHINES: tuple[StateMachineSpec, ...] = (ORDER_PREPARATION, ORDER_WORKFLOW)
"""Children first: a parent's definition names its child's ARN."""


def state_machine(logical_name: str) -> StateMachineSpec:
    """Look up a state machine by its logical name."""
    for spec in STATE_MACHINES:
        if spec.logical_name == logical_name:
            return spec
    raise KeyError(f"unknown state machine {logical_name!r}")


class Caller(StrEnum):
    """Who calls a route, which decides how API Gateway (or the local emulation) authenticates it."""

    SHOPPER = "shopper"
    """A person signed in to the shoppers' Cognito user pool: ``Authorization: <IdToken>``; operators are shoppers
    in the ``ops`` group."""
    SERVICE = "service"
    """Another system with AWS credentials (the warehouse, a health probe): SigV4, IAM-authorized."""
    PUBLIC = "public"
    """Anyone: the catalog anonymous visitors browse, and the API's own documentation."""


@dataclass(frozen=True)
class Route:
    """One method of the REST API, as API Gateway declares it in front of the API function."""

    method: str
    path: str
    caller: Caller
    warehouse_only: bool = False
    """Only the warehouse role may call it: the API's resource policy says so in AWS, the emulation locally."""

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))

    def matches(self, method: str, path: str) -> bool:
        """True when a request for ``method path`` is this route, as API Gateway matches resources.

        Example
        -------
        >>> Route("GET", "/orders/{orderId}", Caller.SHOPPER).matches("GET", "/orders/ord-1")
        True
        >>> Route("GET", "/orders/{orderId}", Caller.SHOPPER).matches("GET", "/orders/ord-1/cancel")
        False
        """
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(self.path))
        return method == self.method and re.fullmatch(pattern, path.rstrip("/") or "/") is not None


ROUTES: tuple[Route, ...] = (
    Route("POST", "/orders", Caller.SHOPPER),
    Route("GET", "/orders", Caller.SHOPPER),
    Route("GET", "/orders/{orderId}", Caller.SHOPPER),
    Route("POST", "/orders/{orderId}/cancel", Caller.SHOPPER),
    Route("GET", "/products", Caller.PUBLIC),
    Route("GET", "/openapi.json", Caller.PUBLIC),
    Route("GET", "/docs", Caller.PUBLIC),
    Route("POST", "/orders/{orderId}/shipment", Caller.SERVICE, warehouse_only=True),
    Route("GET", "/health", Caller.SERVICE),
)
"""Every route of ``tasks/handlers/api.py``. CDK declares each one on API Gateway; the local emulation
authenticates requests by the same table. The catalog and the API's documentation are public (docs/decisions.md)."""


def route_for(method: str, path: str) -> Route | None:
    """The route a request is for, or None (API Gateway then answers 403 Missing Authentication Token)."""
    return next((route for route in ROUTES if route.matches(method, path)), None)


def function_environment(
    spec: FunctionSpec, table_names: Mapping[str, str], state_machine_arn: str | None = None
) -> dict[str, str]:
    """The environment a function runs with, given the concrete name of each table.

    Parameters
    ----------
    spec:
        The function.
    table_names:
        Logical table name to deployed (or local) table name.
    state_machine_arn:
        The order workflow's ARN, for functions that call it (``uses_workflow``).

    Example
    -------
    >>> env = function_environment(VALIDATE_ORDER, {"Orders": "o", "Products": "p"})
    >>> env["ORDERS_TABLE_NAME"], env["POWERTOOLS_SERVICE_NAME"]
    ('o', 'orders')
    """
    env = {
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": "OrderOrchestration",
    }
    env.update({access.env_var: table_names[access.table] for access in spec.table_access})
    if spec.uses_workflow:
        if state_machine_arn is None:
            raise ValueError(f"{spec.logical_name} calls the workflow and needs the state machine's ARN")
        env[STATE_MACHINE_ARN_ENV] = state_machine_arn
    env.update(spec.environment)
    return env
