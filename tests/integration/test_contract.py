"""The OpenAPI contract, as a frontend team meets it: a client generated from the served /openapi.json works.

openapi-python-client (a test-only dependency) generates the client into a temporary directory; the tests then
submit, read, list page by page and cancel orders with it, and get the typed error model back for a 404 and a 409.
openapi-spec-validator checks the document itself.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate

from local.testkit.fixtures import sample_order
from tests.integration.service import OrdersService

GENERATOR_TIMEOUT_SECONDS = 120
PACKAGE = "orders_contract_client"
OPERATIONS = {"submitOrder", "getOrder", "listOrders", "cancelOrder", "recordShipment", "listProducts", "getHealth"}
ERROR_STATUSES = {"400", "401", "403", "404", "409", "413", "415", "422", "429", "503"}


@pytest.fixture(scope="module")
def document(service: OrdersService) -> dict[str, Any]:
    answer = service.anonymous().request("GET", "/openapi.json")
    assert answer.status == 200
    return answer.body


@pytest.fixture(scope="module")
def generated(document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package, generated from the served document and importable for this module's tests."""
    folder = tmp_path_factory.mktemp("contract")
    spec = folder / "openapi.json"
    spec.write_text(json.dumps(document))
    tools, target = str(Path(sys.executable).parent), str(folder / PACKAGE)
    result = subprocess.run(
        [f"{tools}/openapi-python-client", "generate", "--meta", "none", "--path", str(spec), "--output-path", target],
        capture_output=True,
        text=True,
        timeout=GENERATOR_TIMEOUT_SECONDS,
        env={"PATH": tools, "HOME": str(folder)},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
            del sys.modules[name]


def client_for(generated: ModuleType, service: OrdersService) -> Any:
    """A client that sends the user's ID token as it is, as the document's ``cognito`` scheme says."""
    token = service.tokens.token(service.user)
    return generated.AuthenticatedClient(base_url=service.api_url, token=token, prefix="")


def api(generated: ModuleType, operation: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.api.default.{operation}")


def models(generated: ModuleType) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.models")


def test_the_document_is_valid_openapi_with_named_operations_and_declared_errors(document, service):
    validate(document)
    operations = {op["operationId"]: op for path in document["paths"].values() for op in path.values()}

    assert set(operations) == OPERATIONS
    assert document["servers"] == [{"url": urlsplit(service.api_url).path.rstrip("/") or "/"}], "reaches the API"
    assert set(document["components"]["securitySchemes"]) == {"cognito", "sigv4"}
    assert operations["getOrder"]["security"] == [{"cognito": []}]
    assert operations["recordShipment"]["security"] == [{"sigv4": []}]
    assert "security" not in operations["listProducts"]
    assert set(operations["submitOrder"]["responses"]) == {"202"} | (ERROR_STATUSES - {"404"})
    for operation in operations.values():
        for status, answer in operation["responses"].items():
            if status in ERROR_STATUSES:
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorAnswer"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert all("{orderId}" in path for path in document["paths"] if path.startswith("/orders/"))


def test_order_view_has_named_schemas_for_every_nested_field(document):
    view = document["components"]["schemas"]["OrderView"]["properties"]

    def referenced(field: str) -> set[str]:
        return {ref.rsplit("/", 1)[1] for ref in _refs(view[field])}

    assert referenced("items") == {"OrderItem"}
    assert referenced("lines") == {"PricedLine"}
    assert referenced("timeline") == {"TimelineEntry"}
    assert referenced("shippingAddress") == {"Address"}
    assert referenced("failure") == {"FailureView"}
    assert referenced("compensations") == {"Compensations"}
    assert referenced("compensationFailures") == {"CompensationFailures"}


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        return ([schema["$ref"]] if "$ref" in schema else []) + [r for value in schema.values() for r in _refs(value)]
    if isinstance(schema, list):
        return [ref for item in schema for ref in _refs(item)]
    return []


def test_a_generated_client_submits_reads_lists_by_page_and_cancels(generated, service):
    shopper = service.as_user(service.users.other_shopper)
    client = client_for(generated, shopper)
    typed = models(generated)
    request = typed.OrderRequest.from_dict(sample_order())

    accepted = [api(generated, "submit_order").sync(client=client, body=request) for _ in range(3)]
    order = api(generated, "get_order").sync(accepted[-1].order_id, client=client)
    first = api(generated, "list_orders").sync(client=client, limit=2)
    second = api(generated, "list_orders").sync(client=client, limit=2, next_token=first.next_token)
    shopper.wait_for_status(accepted[0].order_id, "AWAITING_SHIPMENT")
    cancelled = api(generated, "cancel_order").sync(
        accepted[0].order_id, client=client, body=typed.CancelRequest(reason="changed my mind")
    )

    assert all(isinstance(answer, typed.OrderAccepted) for answer in accepted)
    assert isinstance(order, typed.OrderView)
    assert isinstance(order.shipping_address, typed.Address)
    assert isinstance(order.items[0], typed.OrderItem)
    listed = [view.order_id for view in first.orders + second.orders]
    assert listed[:3] == [answer.order_id for answer in reversed(accepted)]
    assert isinstance(cancelled, typed.CallbackAccepted)
    assert shopper.wait_for_status(accepted[0].order_id, "CANCELLED")["status"] == "CANCELLED"


def test_a_404_and_a_409_come_back_as_the_typed_error_model(generated, service):
    owner = service.as_user(service.users.shopper)
    stranger = client_for(generated, service.as_user(service.users.other_shopper))
    typed = models(generated)
    placed = api(generated, "submit_order").sync(
        client=client_for(generated, owner), body=typed.OrderRequest.from_dict(sample_order())
    )
    owner.wait_for_status(placed.order_id, "AWAITING_SHIPMENT")
    api(generated, "cancel_order").sync(placed.order_id, client=client_for(generated, owner))
    owner.wait_for_status(placed.order_id, "CANCELLED")

    not_found = api(generated, "get_order").sync_detailed(placed.order_id, client=stranger)
    conflict = api(generated, "cancel_order").sync_detailed(
        placed.order_id, client=client_for(generated, owner), body=typed.CancelRequest(reason="another reason")
    )

    assert not_found.status_code == 404 and isinstance(not_found.parsed, typed.ErrorAnswer)
    assert not_found.parsed.message == f"order {placed.order_id} does not exist"
    assert conflict.status_code == 409 and isinstance(conflict.parsed, typed.ErrorAnswer)
    assert "CANCELLED" in conflict.parsed.message
