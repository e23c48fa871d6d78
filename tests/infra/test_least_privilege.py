"""Least privilege: each function's role allows exactly the DynamoDB actions its code calls, table by table.

The expected access is written out here, action by action, from reading the adapters and the handlers that use
them; it is not derived from ``workflows.resources``, so an action added there fails this test until it is added
here too, with a reason. The publisher of the order events calls no DynamoDB item action at all: its event source
mapping reads the orders table's stream, and it puts events on the bus.
"""

from __future__ import annotations

import pytest

from tests.infra.conftest import CloudAssembly
from workflows.resources import (
    ALL_FUNCTIONS,
    PUBLISH_ORDER_EVENTS,
    PUSH_ORDER_STATUS,
    TABLES,
    FunctionSpec,
    TableAccess,
    function_environment,
)

pytestmark = pytest.mark.infra

GET, PUT, UPDATE, DELETE = "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
QUERY, SCAN, BATCH_GET = "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem"
ORDER_MOVES = {UPDATE}
"""OrderRepository.advance and set_fields (update_item); a refused move returns the order (ALL_OLD), no get_item."""
STREAM_READ = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}
"""What the event source mapping calls on the stream, in the function's name; plus ListStreams, which names no ARN."""
LIST_STREAMS = "dynamodb:ListStreams"
PUT_EVENTS, SEND_MESSAGE = "events:PutEvents", "sqs:SendMessage"

EXPECTED_DYNAMODB_ACCESS: dict[str, dict[str, set[str]]] = {
    "ValidateOrder": {
        "Orders": ORDER_MOVES,
        "Products": {BATCH_GET},  # InventoryRepository.products
    },
    "AuthorizePayment": {
        "Orders": {BATCH_GET} | ORDER_MOVES,  # entries_and_order (the payment token), the payment and the move
        "PaymentsLedger": {BATCH_GET, PUT, UPDATE},  # entries_and_order, record, the simulator's attempt counter
    },
    "ReserveInventory": {
        "Orders": {GET} | ORDER_MOVES,  # the transaction's Update, the read for the payment, the move
        "Products": {BATCH_GET, UPDATE},  # the transaction's stock Updates, products() naming the short SKUs
    },
    "RequestShipment": {"Orders": ORDER_MOVES},
    "CapturePayment": {
        "Orders": {BATCH_GET} | ORDER_MOVES,  # entries_and_order (the status), the SHIPPED and COMPLETED write
        "PaymentsLedger": {BATCH_GET, PUT},  # entries_and_order, record
    },
    "VoidOrRefundPayment": {
        "PaymentsLedger": {PUT, QUERY},  # entries, record
    },
    "ReleaseInventory": {
        "Orders": {GET, UPDATE},  # the reservation read, the tombstone update, the transaction's Update of the order
        "Products": {UPDATE},  # the transaction's restock Updates
    },
    "RecordFailure": {"Orders": ORDER_MOVES},
    "OrderApi": {
        # create, get (also /health and the shipment callbacks), delete_if_received, and the listings' batch get
        "Orders": {BATCH_GET, GET, PUT, DELETE},
        "Orders/index/by-status-shard": {QUERY},
        "Orders/index/by-customer": {QUERY},
        "Orders/index/by-customer-status": {QUERY},
        "Products": {BATCH_GET, SCAN},  # refuse_unknown_skus (InventoryRepository.products), the catalog
        "Idempotency": {PUT},  # the caller's Idempotency-Key records; a taken key's record comes back (ALL_OLD)
        "OrderQuotas": {UPDATE},  # count (a refusal returns the counters: ALL_OLD) and give back a shopper's order
    },
    "PublishOrderEvents": {},  # the stream records carry the order's old and new images
    "ReconcileOrders": {
        "Orders": {BATCH_GET, UPDATE},  # received_before's batch get, the attempt count and the FAILED write
        "Orders/index/by-status-shard": {QUERY},  # its RECEIVED shards
    },
    "WebSocketAuthorizer": {},  # verifies the token against the pool's JWKS, a public HTTPS document
    "WebSocketConnections": {"WebSocketConnections": {PUT, DELETE}},  # record at $connect, forget at $disconnect
    "PushOrderStatus": {
        "WebSocketConnections": {DELETE},  # a gone connection (410)
        "WebSocketConnections/index/by-subscriber": {QUERY},  # the owner's and the operators' connection ids
    },
}
"""Function to ``<table>`` or ``<table>/index/<name>`` to the DynamoDB item actions allowed there, and nowhere else."""

MANAGE_CONNECTIONS = "execute-api:ManageConnections"
EXPECTED_OTHER_ACCESS: dict[str, set[str]] = {
    "PublishOrderEvents": STREAM_READ | {LIST_STREAMS, PUT_EVENTS, SEND_MESSAGE},
    "PushOrderStatus": {MANAGE_CONNECTIONS},
}
"""Function to what else its role allows, beyond logs, traces and the workflow: the publisher's stream, bus and DLQ,
the push function's posts to WebSocket connections."""

START_EXECUTION, DESCRIBE_EXECUTION = "states:StartExecution", "states:DescribeExecution"
GET_EXECUTION_HISTORY = "states:GetExecutionHistory"
ON_THE_STATE_MACHINE = {
    START_EXECUTION,
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
}
WORKFLOW_DRIVING_ACTIONS = ON_THE_STATE_MACHINE | {GET_EXECUTION_HISTORY}
"""The API starts executions and answers task tokens; it reads an execution's history to tell whether a refused
callback was the one the workflow took."""
RECONCILING_ACTIONS = {START_EXECUTION, DESCRIBE_EXECUTION}
"""The reconciler starts a stranded order's execution and asks whether one exists; it answers no task."""
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
TRACING_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
WITHOUT_RESOURCE_LEVEL_PERMISSIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    LIST_STREAMS,
}
"""The only actions a statement may grant on Resource "*": AWS offers no narrower resource for them."""


def all_statements(assembly: CloudAssembly) -> list[dict]:
    policies = [resource["Properties"]["PolicyDocument"] for resource in assembly.of_type("AWS::IAM::Policy").values()]
    inline = [
        policy["PolicyDocument"]
        for role in assembly.of_type("AWS::IAM::Role").values()
        for policy in role["Properties"].get("Policies", [])
    ]
    return [statement for document in policies + inline for statement in document["Statement"]]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def role_statements(assembly: CloudAssembly, spec: FunctionSpec) -> list[dict]:
    policy = assembly.at(f"Functions/{spec.logical_name}/Role/DefaultPolicy/Resource")
    return policy["Properties"]["PolicyDocument"]["Statement"]


def resource_name(assembly: CloudAssembly, resource) -> str:
    """``Orders`` for the orders table's ARN, ``Orders/index/by-status-shard`` for one of its indexes, ``Orders/stream``
    for its stream; else the raw value."""
    table_by_id = {assembly.table_id(table.logical_name): table.logical_name for table in TABLES}
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        if logical_id not in table_by_id:
            return str(resource)
        return table_by_id[logical_id] + {"Arn": "", "StreamArn": "/stream"}[attribute]
    if isinstance(resource, dict) and "Fn::Join" in resource:
        delimiter, parts = resource["Fn::Join"]
        if delimiter == "" and len(parts) == 2 and "Fn::GetAtt" in parts[0] and isinstance(parts[1], str):
            return resource_name(assembly, parts[0]) + parts[1]
    return str(resource)


def statements_with(assembly: CloudAssembly, spec: FunctionSpec, actions: set[str]) -> list[dict]:
    return [statement for statement in role_statements(assembly, spec) if set(as_list(statement["Action"])) & actions]


def dynamodb_access(assembly: CloudAssembly, spec: FunctionSpec) -> dict[str, set[str]]:
    """Resource name to the DynamoDB item actions the function's role allows on it, however CDK merged the
    statements; the stream's actions are checked on their own."""
    granted: dict[str, set[str]] = {}
    for statement in role_statements(assembly, spec):
        actions = {
            action
            for action in as_list(statement["Action"])
            if action.startswith("dynamodb:") and action not in STREAM_READ | {LIST_STREAMS}
        }
        if not actions:
            continue
        assert statement["Effect"] == "Allow" and "Condition" not in statement, statement
        for resource in as_list(statement["Resource"]):
            granted.setdefault(resource_name(assembly, resource), set()).update(actions)
    return granted


def test_the_expected_table_names_every_function():
    assert EXPECTED_DYNAMODB_ACCESS.keys() == {spec.logical_name for spec in ALL_FUNCTIONS}


def test_no_iam_statement_has_a_wildcard_action(assembly):
    statements = all_statements(assembly)

    wildcards = [statement for statement in statements if any("*" in a for a in as_list(statement["Action"]))]

    assert statements
    assert wildcards == []


def test_only_actions_without_resource_level_permissions_are_granted_on_every_resource(assembly):
    on_everything = {
        action
        for statement in all_statements(assembly)
        if "*" in as_list(statement["Resource"])
        for action in as_list(statement["Action"])
    }

    assert on_everything <= WITHOUT_RESOURCE_LEVEL_PERMISSIONS


@pytest.mark.parametrize("spec", ALL_FUNCTIONS, ids=lambda spec: spec.logical_name)
def test_each_function_may_call_exactly_the_dynamodb_actions_its_code_calls_on_exactly_its_tables(assembly, spec):
    assert dynamodb_access(assembly, spec) == EXPECTED_DYNAMODB_ACCESS[spec.logical_name]


@pytest.mark.parametrize("spec", ALL_FUNCTIONS, ids=lambda spec: spec.logical_name)
def test_each_function_role_allows_nothing_beyond_its_tables_logs_traces_and_workflow(assembly, spec):
    expected_dynamodb = set().union(*EXPECTED_DYNAMODB_ACCESS[spec.logical_name].values())
    allowed = LOG_ACTIONS | TRACING_ACTIONS | expected_dynamodb | EXPECTED_OTHER_ACCESS.get(spec.logical_name, set())
    if spec.drives_workflow:
        allowed |= WORKFLOW_DRIVING_ACTIONS
    if spec.reconciles_orders:
        allowed |= RECONCILING_ACTIONS

    granted = {action for statement in role_statements(assembly, spec) for action in as_list(statement["Action"])}

    assert granted == allowed


@pytest.mark.parametrize("spec", ALL_FUNCTIONS, ids=lambda spec: spec.logical_name)
def test_each_function_gets_the_table_names_of_exactly_the_tables_it_may_use(spec):
    tables = {name.split("/", 1)[0] for name in EXPECTED_DYNAMODB_ACCESS[spec.logical_name]}
    environment = function_environment(spec, {table.logical_name: table.local_name for table in TABLES}, "arn")

    assert set(spec.tables) == tables
    assert {name for name in environment if name.endswith("_TABLE_NAME")} == {
        table.env_var for table in TABLES if table.logical_name in tables
    }


@pytest.mark.parametrize("spec", ALL_FUNCTIONS, ids=lambda spec: spec.logical_name)
def test_only_functions_that_drive_the_workflow_may_start_and_answer_it(assembly, spec):
    state_machine = {"Ref": assembly.state_machine_id()}
    workflow_statements = [
        statement
        for statement in role_statements(assembly, spec)
        if any(action.startswith("states:") for action in as_list(statement["Action"]))
    ]

    if spec.reconciles_orders:
        assert workflow_statements == reconciler_statements(assembly)
        return
    if not spec.drives_workflow:
        assert workflow_statements == []
        return
    on_executions = [statement for statement in workflow_statements if statement["Resource"] != state_machine]
    on_state_machine = [statement for statement in workflow_statements if statement["Resource"] == state_machine]
    assert {action for statement in on_state_machine for action in as_list(statement["Action"])} == (
        ON_THE_STATE_MACHINE
    )
    assert on_executions == [{"Action": GET_EXECUTION_HISTORY, "Effect": "Allow", "Resource": executions_of(assembly)}]


def executions_of(assembly: CloudAssembly) -> dict:
    """The order workflow's executions, named after the orders: ``execution:<its name>:*``."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":states:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":execution:",
                {"Fn::GetAtt": [assembly.state_machine_id(), "Name"]},
                ":*",
            ],
        ]
    }


def reconciler_statements(assembly: CloudAssembly) -> list[dict]:
    """StartExecution on the order workflow, DescribeExecution on its executions (named after the orders) only."""
    return [
        {"Action": START_EXECUTION, "Effect": "Allow", "Resource": {"Ref": assembly.state_machine_id()}},
        {"Action": DESCRIBE_EXECUTION, "Effect": "Allow", "Resource": executions_of(assembly)},
    ]


@pytest.mark.parametrize("spec", ALL_FUNCTIONS, ids=lambda spec: spec.logical_name)
def test_function_roles_log_only_to_their_own_log_group_and_use_no_managed_policy(assembly, spec):
    role = assembly.at(f"Functions/{spec.logical_name}/Role/Resource")
    log_group = assembly.logical_id(f"Functions/{spec.logical_name}/Logs/Resource")
    log_statements = [
        statement
        for statement in role_statements(assembly, spec)
        if any(action.startswith("logs:") for action in as_list(statement["Action"]))
    ]

    assert "ManagedPolicyArns" not in role["Properties"]
    assert log_statements == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [log_group, "Arn"]},
        }
    ]


def test_the_publisher_may_put_events_on_the_order_events_bus_only(assembly):
    bus = {"Fn::GetAtt": [assembly.logical_id("Events/Bus/Resource"), "Arn"]}
    everywhere = [statement for statement in all_statements(assembly) if PUT_EVENTS in as_list(statement["Action"])]

    assert statements_with(assembly, PUBLISH_ORDER_EVENTS, {PUT_EVENTS}) == [
        {"Action": PUT_EVENTS, "Effect": "Allow", "Resource": bus}
    ]
    assert everywhere == statements_with(assembly, PUBLISH_ORDER_EVENTS, {PUT_EVENTS})


def test_the_publisher_reads_the_orders_stream_only_and_lists_streams_without_a_resource(assembly):
    orders_stream = {"Fn::GetAtt": [assembly.table_id("Orders"), "StreamArn"]}

    (read,) = statements_with(assembly, PUBLISH_ORDER_EVENTS, STREAM_READ)
    (listing,) = statements_with(assembly, PUBLISH_ORDER_EVENTS, {LIST_STREAMS})

    assert set(as_list(read["Action"])) == STREAM_READ
    assert read["Resource"] == orders_stream and read["Effect"] == "Allow" and "Condition" not in read
    assert listing["Resource"] == "*"  # merged with X-Ray's statement; only such actions may be there (tested above)


def test_the_publisher_may_send_to_the_order_events_dead_letter_queue_only(assembly):
    queue = {"Fn::GetAtt": [assembly.logical_id("Events/DeadLetterQueue/Resource"), "Arn"]}
    sqs_statements = [
        statement
        for statement in role_statements(assembly, PUBLISH_ORDER_EVENTS)
        if any(action.startswith("sqs:") for action in as_list(statement["Action"]))
    ]

    assert sqs_statements == [{"Action": SEND_MESSAGE, "Effect": "Allow", "Resource": queue}]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ((("dynamodb:*",),), "not a DynamoDB item action"),
        ((("dynamodb:GetItems",),), "not a DynamoDB item action"),
        ((("dynamodb:DescribeTable",),), "not a DynamoDB item action"),
        (((GET, GET),), "listed twice"),
        (((), ("by-status-shard", "by-sku")), "no index 'by-sku'"),
        (((),), "without an action"),
    ],
)
def test_a_table_access_names_item_actions_and_existing_indexes_only(arguments, problem):
    with pytest.raises(ValueError, match=problem):
        TableAccess("Orders", *arguments)


def test_a_table_access_names_an_existing_table_and_a_function_names_each_table_once():
    with pytest.raises(KeyError, match="Shipments"):
        TableAccess("Shipments", (GET,))
    with pytest.raises(ValueError, match="one TableAccess per table"):
        FunctionSpec("Twice", "tasks.handlers.api.handler", "x", (TableAccess("Orders", (GET,)),) * 2)


def test_the_push_function_may_post_to_the_connections_of_its_own_websocket_stage_only(assembly):
    everywhere = [
        statement for statement in all_statements(assembly) if MANAGE_CONNECTIONS in as_list(statement["Action"])
    ]
    api = assembly.logical_id("LiveStatus/Api/Resource")
    stage = assembly.at("LiveStatus/Stage/Resource")["Properties"]["StageName"]

    assert everywhere == statements_with(assembly, PUSH_ORDER_STATUS, {MANAGE_CONNECTIONS})
    assert everywhere == [
        {
            "Action": MANAGE_CONNECTIONS,
            "Effect": "Allow",
            "Resource": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":execute-api:",
                        {"Ref": "AWS::Region"},
                        ":",
                        {"Ref": "AWS::AccountId"},
                        ":",
                        {"Ref": api},
                        f"/{stage}/POST/@connections/*",
                    ],
                ]
            },
        }
    ]
