"""The capacity meter prices requests as DynamoDB on-demand bills them: item sizes by the documented rules, writes per
started KB of the larger image, reads per started 4 KB, transactions twice, and each GSI by what changed in it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench.dynamodb_units import CapacityMeter, IndexSchema, item_size, read_units, value_size, write_units
from tasks.adapters.dynamodb import to_item

TABLE = "metered"
"""Keyed on ``id``; GSIs: ``everything`` (ALL on ``kind``), ``keys`` (KEYS_ONLY on ``kind``), ``some`` (INCLUDE
``note`` on ``group``), ``sparse`` (KEYS_ONLY on ``flag``, which most items lack)."""


@pytest.fixture
def table(dynamodb: Any) -> Any:
    def index(name: str, key: str, projection: dict[str, Any]) -> dict[str, Any]:
        return {"IndexName": name, "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}], "Projection": projection}

    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("id", "kind", "group", "flag")
        ],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            index("everything", "kind", {"ProjectionType": "ALL"}),
            index("keys", "kind", {"ProjectionType": "KEYS_ONLY"}),
            index("some", "group", {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]}),
            index("sparse", "flag", {"ProjectionType": "KEYS_ONLY"}),
        ],
    )
    return dynamodb


def put(client: Any, **attributes: Any) -> None:
    client.put_item(TableName=TABLE, Item=to_item(attributes))


def update(client: Any, item_id: str, expression: str, **values: Any) -> None:
    request = {"TableName": TABLE, "Key": to_item({"id": item_id}), "UpdateExpression": expression}
    if values:
        request["ExpressionAttributeValues"] = {f":{name}": value for name, value in to_item(values).items()}
    client.update_item(**request)


def metered(meter: CapacityMeter, action: Any) -> tuple[float, float, dict[str, int]]:
    """WRU, RRU and GSI WRU of the requests ``action`` sends."""
    meter.clear()
    with meter:
        action()
    return meter.wru, meter.rru, dict(meter.index_wru)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "héllo"}, 6),
        ({"S": ""}, 0),
        ({"N": "8999"}, 3),
        ({"N": "-0.00150"}, 2),
        ({"N": "100"}, 2),
        ({"N": "12345678901"}, 7),
        ({"B": "AAEC"}, 3),
        ({"BOOL": False}, 1),
        ({"NULL": True}, 1),
        ({"SS": ["ab", "c"]}, 3),
        ({"NS": ["1", "22"]}, 4),
        ({"L": []}, 3),
        ({"L": [{"S": "ab"}, {"N": "7"}]}, 3 + (1 + 2) + (1 + 2)),
        ({"M": {"sku": {"S": "KB"}}}, 3 + 1 + 3 + 2),
    ],
)
def test_a_value_counts_as_the_developer_guide_says(value, size):
    assert value_size(value) == size


def test_an_item_counts_its_attribute_names_too():
    item = {"orderId": {"S": "o-1"}, "lines": {"L": [{"M": {"qty": {"N": "2"}}}]}}

    assert item_size(item) == (7 + 3) + (5 + 3 + 1 + (3 + 1 + 3 + 2))


@pytest.mark.parametrize(("size", "units"), [(0, 1), (1, 1), (1024, 1), (1025, 2), (4096, 4)])
def test_a_write_costs_one_unit_per_started_kilobyte(size, units):
    assert write_units(size) == units


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [(0, True, 1), (4096, True, 1), (4097, True, 2), (4097, False, 1), (10, False, 0.5)],
)
def test_a_read_costs_one_unit_per_started_four_kilobytes_and_half_when_eventually_consistent(size, consistent, units):
    assert read_units(size, consistent) == units


def test_a_put_and_an_update_cost_the_larger_of_the_item_before_and_after(table):
    meter = CapacityMeter()

    assert metered(meter, lambda: put(table, id="a", note="x" * 1500))[0] == 2
    assert metered(meter, lambda: update(table, "a", "SET note = :note", note="short"))[0] == 2
    assert metered(meter, lambda: update(table, "a", "SET extra = :extra", extra="y"))[0] == 1


def test_a_delete_costs_the_item_it_removed(table):
    put(table, id="a", note="x" * 2100)
    meter = CapacityMeter()

    assert metered(meter, lambda: table.delete_item(TableName=TABLE, Key=to_item({"id": "a"})))[0] == 3


def test_a_refused_conditional_write_still_costs_the_existing_item(table):
    put(table, id="a", note="x" * 1500)
    meter = CapacityMeter()

    def refused(key: str) -> Any:
        def write() -> None:
            with pytest.raises(ClientError, match="ConditionalCheckFailed"):
                table.put_item(TableName=TABLE, Item=to_item({"id": key}), ConditionExpression="attribute_exists(x)")

        return write

    assert metered(meter, refused("a"))[0] == 2
    assert metered(meter, refused("missing"))[0] == 1, "a refused write of no item costs the minimum"
    assert [request.operation for request in meter.requests] == ["PutItem"]


def test_a_transaction_costs_twice_per_item(table):
    meter = CapacityMeter()

    def transaction() -> None:
        table.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": to_item({"id": "a", "note": "x" * 1500})}},
                {"Put": {"TableName": TABLE, "Item": to_item({"id": "b"})}},
            ]
        )

    assert metered(meter, transaction)[0] == 2 * 2 + 2 * 1


def test_reads_are_rounded_per_item_for_batches_and_once_for_a_query(table):
    for item_id in ("a", "b", "c"):
        put(table, id=item_id, kind="k", note="x" * 1500)
    meter = CapacityMeter()
    keys = [to_item({"id": item_id}) for item_id in ("a", "b", "c")]

    got = metered(meter, lambda: table.get_item(TableName=TABLE, Key=keys[0], ConsistentRead=True))
    batch = metered(meter, lambda: table.batch_get_item(RequestItems={TABLE: {"Keys": keys, "ConsistentRead": True}}))
    queried = metered(
        meter,
        lambda: table.query(
            TableName=TABLE,
            IndexName="everything",
            KeyConditionExpression="kind = :k",
            ExpressionAttributeValues={":k": {"S": "k"}},
        ),
    )
    transactional = metered(
        meter, lambda: table.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": keys[0]}}])
    )

    assert (got[1], batch[1], queried[1], transactional[1]) == (1, 3, 1.0, 2), "4.5 KB are two 4 KB units, halved"


def test_an_index_key_change_deletes_and_puts_the_projected_entry(table):
    put(table, id="a", kind="before", note="x" * 1500)
    meter = CapacityMeter()

    _, _, indexes = metered(meter, lambda: update(table, "a", "SET kind = :kind", kind="after"))

    assert indexes == {f"{TABLE}/everything": 2 + 2, f"{TABLE}/keys": 1 + 1}


def test_a_change_of_projected_attributes_only_is_one_update_and_of_others_nothing(table):
    put(table, id="a", kind="k", group="g", note="n", extra="o")
    meter = CapacityMeter()

    note_changed = metered(meter, lambda: update(table, "a", "SET note = :note", note="m"))[2]
    extra_changed = metered(meter, lambda: update(table, "a", "SET extra = :extra", extra="p"))[2]
    unchanged = metered(meter, lambda: update(table, "a", "SET note = :note", note="m"))[2]

    assert note_changed == {f"{TABLE}/everything": 1, f"{TABLE}/some": 1}
    assert extra_changed == {f"{TABLE}/everything": 1}, "a keys-only or include index is not written at all"
    assert unchanged == {}, "a write that changes no value changes no index"


def test_a_sparse_index_entry_appearing_or_disappearing_is_one_write(table):
    put(table, id="a", note="x" * 1500)
    meter = CapacityMeter()

    appeared = metered(meter, lambda: update(table, "a", "SET flag = :flag", flag="on"))[2]
    disappeared = metered(meter, lambda: update(table, "a", "REMOVE flag"))[2]

    assert appeared == disappeared == {f"{TABLE}/sparse": 1}


def test_an_index_entry_is_the_keys_and_the_projected_attributes():
    schema = IndexSchema("some", ("group",), ("id",), projected=("note",))
    item = {"id": {"S": "a"}, "group": {"S": "g"}, "note": {"S": "n"}, "other": {"S": "o"}}

    assert schema.entry(item) == {"id": {"S": "a"}, "group": {"S": "g"}, "note": {"S": "n"}}
    assert schema.entry({"id": {"S": "a"}}) is None


def test_requests_are_labelled_with_their_caller_and_control_plane_requests_are_not_listed(table):
    def invoke(function_name: str, payload: bytes) -> None:
        put(table, id="from-lambda")

    runner = SimpleNamespace(invoke=invoke)
    meter = CapacityMeter(default_caller="Client")

    with meter:
        meter.label_invocations(runner)
        put(table, id="from-client")
        with meter.caller("Api"):
            put(table, id="from-api")
        runner.invoke("arn:aws:lambda:us-east-1:123456789012:function:AuthorizePayment", b"{}")
        table.describe_table(TableName=TABLE)

    assert [(request.caller, request.operation) for request in meter.requests] == [
        ("Client", "PutItem"),
        ("Api", "PutItem"),
        ("AuthorizePayment", "PutItem"),
    ]
    assert {caller: totals.requests for caller, totals in meter.by_caller().items()} == {
        "Client": 1,
        "Api": 1,
        "AuthorizePayment": 1,
    }
    assert runner.invoke is invoke, "the runner is handed back as it was"
