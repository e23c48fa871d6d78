"""Shared fixtures: moto's DynamoDB with the service's real tables, the repositories over it, and the fakes.

Repositories get an explicit client: ``tasks.adapters.dynamodb.dynamodb_client()`` is cached for the whole process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench.dynamodb_units import CapacityMeter
from local.aws.awslambda.runner import LOCAL_REGION
from local.provisioning import create_table
from local.simulators.catalog import catalog_items
from tasks.adapters.dynamodb import from_item, to_item
from tasks.adapters.idempotency_keys import DynamoDBIdempotencyKeys
from tasks.adapters.inventory_repository import DynamoDBInventoryRepository
from tasks.adapters.orders_repository import DynamoDBOrderRepository
from tasks.adapters.payments_ledger import DynamoDBPaymentsLedger
from tasks.models.order import OrderStatus
from workflows.resources import IDEMPOTENCY_TABLE, ORDERS_TABLE, PAYMENTS_TABLE, PRODUCTS_TABLE, TABLES

from .support import NOW, ORDER_ID, FakeOrderWorkflow, RecordingPaymentProvider, placed_order


@pytest.fixture(scope="session")
def dynamodb_client() -> Any:
    """One client for the session: creating one costs more than a whole test, and moto intercepts it either way."""
    return boto3.client("dynamodb", region_name=LOCAL_REGION)


@pytest.fixture
def dynamodb(dynamodb_client: Any) -> Iterator[Any]:
    """A DynamoDB client on a fresh moto, with nothing in it yet."""
    with mock_aws():
        yield dynamodb_client


@pytest.fixture
def tables(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every table of ``workflows.resources`` under its local name, the seed catalog, and the table variables set.

    One BatchWriteItem seeds the catalog: a put per product would be a third of the fixture's time.
    """
    for spec in TABLES:
        create_table(dynamodb, spec)
        monkeypatch.setenv(spec.env_var, spec.local_name)
    puts = [{"PutRequest": {"Item": to_item(product)}} for product in catalog_items()]
    dynamodb.batch_write_item(RequestItems={PRODUCTS_TABLE.local_name: puts})
    return dynamodb


@pytest.fixture
def orders(tables: Any) -> DynamoDBOrderRepository:
    return DynamoDBOrderRepository(ORDERS_TABLE.local_name, client=tables)


@pytest.fixture
def inventory(tables: Any) -> DynamoDBInventoryRepository:
    return DynamoDBInventoryRepository(PRODUCTS_TABLE.local_name, ORDERS_TABLE.local_name, client=tables)


@pytest.fixture
def ledger(tables: Any) -> DynamoDBPaymentsLedger:
    return DynamoDBPaymentsLedger(PAYMENTS_TABLE.local_name, client=tables, orders_table=ORDERS_TABLE.local_name)


@pytest.fixture
def keys(tables: Any) -> DynamoDBIdempotencyKeys:
    return DynamoDBIdempotencyKeys(IDEMPOTENCY_TABLE.local_name, client=tables)


@pytest.fixture
def provider() -> RecordingPaymentProvider:
    return RecordingPaymentProvider()


@pytest.fixture
def capacity_meter() -> CapacityMeter:
    """A meter to enter around the requests whose number or units a test counts (``bench.dynamodb_units``)."""
    return CapacityMeter()


@pytest.fixture
def workflow() -> FakeOrderWorkflow:
    return FakeOrderWorkflow()


@pytest.fixture
def order_at(orders: DynamoDBOrderRepository) -> Callable[..., dict[str, Any]]:
    """``order_at(status, order_id=..., payment_token=..., **fields)`` stores an order, moves it straight to
    ``status``, returns it."""

    def store(
        status: OrderStatus, order_id: str = ORDER_ID, payment_token: str = "tok_ok", **fields: Any
    ) -> dict[str, Any]:
        orders.create(placed_order(order_id, paymentToken=payment_token), NOW)
        if status is not OrderStatus.RECEIVED:
            orders.advance(order_id, status, NOW, fields=fields)
        return orders.get(order_id)

    return store


@pytest.fixture
def stock_of(tables: Any) -> Callable[[str], int]:
    def stock(sku: str) -> int:
        item = tables.get_item(TableName=PRODUCTS_TABLE.local_name, Key=to_item({"sku": sku}), ConsistentRead=True)
        return int(from_item(item["Item"])["stock"])

    return stock


@pytest.fixture
def table_contents(tables: Any) -> Callable[[], dict[str, list[dict[str, Any]]]]:
    """Everything stored in every table, to show that a refused call wrote nothing."""

    def contents() -> dict[str, list[dict[str, Any]]]:
        return {
            spec.local_name: sorted(
                (from_item(item) for item in tables.scan(TableName=spec.local_name, ConsistentRead=True)["Items"]),
                key=repr,
            )
            for spec in TABLES
        }

    return contents
