"""The order HTTP API: a Powertools REST resolver behind API Gateway (or the local API Gateway emulation).

Every route is thin: the body and parameters are validated by pydantic through the resolver, the domain logic does
the work, and domain errors map to 4xx answers that say what is wrong. Nothing here returns a 5xx for bad input.
When AWS throttles, fails or does not answer a call the API needs, it answers 503 with ``Retry-After``, never 500
or 502; its SDK settings (``tasks.adapters.aws_sdk.API_CALLS``) make it give up well inside its Lambda timeout.

API Gateway authenticates before this runs (``workflows.resources.ROUTES``): shopper routes carry the claims of a
verified Cognito ID token in ``requestContext.authorizer.claims``, and the caller is whoever they name. Nothing in
a body or a query says who the customer is.
"""

from __future__ import annotations

import json
import os
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.aws_sdk import API_CALLS, calls_as
from tasks.adapters.idempotency_keys import idempotency_keys
from tasks.adapters.inventory_repository import inventory_repository
from tasks.adapters.order_quotas import order_quotas
from tasks.adapters.orders_repository import order_repository
from tasks.adapters.workflow import order_workflow
from tasks.errors import (
    ForbiddenError,
    IdempotencyKeyConflictError,
    InvalidOrderStateError,
    OrderNotFoundError,
    OrderRateLimitedError,
    OrderValidationError,
    StorageTransientError,
    UnauthenticatedError,
    WorkflowTransientError,
    WorkflowUnavailableError,
)
from tasks.handlers import openapi
from tasks.handlers.openapi import documented
from tasks.handlers.runtime import tracer
from tasks.logic import ordering, shipment, validation
from tasks.logic.access import Principal, principal_from_claims
from tasks.logic.clock import now_iso
from tasks.logic.ordering import InvalidPageTokenError
from tasks.logic.quotas import OrderQuota
from tasks.models.api import (
    CallbackAccepted,
    CancelRequest,
    IdempotencyKey,
    OrderAccepted,
    OrderPage,
    OrderView,
    ProductView,
    ShipmentCallback,
)
from tasks.models.order import OrderId, OrderRequest, OrderStatus
from tasks.models.problems import field_path
from workflows.resources import CORS_ALLOWED_ORIGINS_ENV, OrderRateLimit

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
"""An order nests four levels deep; far deeper bodies are refused before anything parses them recursively."""

logger = Logger()
app = APIGatewayRestResolver(enable_validation=True)
app.configure_openapi(
    title="Order orchestration API",
    version="1.0.0",
    description="Orders of signed-in shoppers, run by AWS Step Functions. Errors share one body: ErrorAnswer.",
    security_schemes=openapi.SECURITY_SCHEMES,
)
app.enable_swagger(path="/docs", security_schemes=openapi.SECURITY_SCHEMES)
OK, ACCEPTED = HTTPStatus.OK, HTTPStatus.ACCEPTED
BAD_REQUEST, FORBIDDEN, NOT_FOUND, CONFLICT = (
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.NOT_FOUND,
    HTTPStatus.CONFLICT,
)
UNPROCESSABLE, TOO_MANY, SERVICE_UNAVAILABLE = (
    HTTPStatus.UNPROCESSABLE_ENTITY,
    HTTPStatus.TOO_MANY_REQUESTS,
    HTTPStatus.SERVICE_UNAVAILABLE,
)


def _error(status: HTTPStatus, message: str, **details: Any) -> Response:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body={"error": status.phrase, "message": message, **details},
    )


@app.exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Response:
    problems = [f"{field_path(tuple(issue['loc']))}: {issue['msg']}" for issue in error.errors()]
    return _error(HTTPStatus.UNPROCESSABLE_ENTITY, "the request is invalid", problems=problems)


@app.exception_handler(OrderValidationError)
def _refused_order(error: OrderValidationError) -> Response:
    """The order's problems, named as the body's fields are in every other 422: ``body.items[1].sku: …``."""
    problems = [f"body.{problem}" for problem in error.problems]
    return _error(HTTPStatus.UNPROCESSABLE_ENTITY, "the request is invalid", problems=problems)


@app.exception_handler(UnauthenticatedError)
def _unauthenticated(error: UnauthenticatedError) -> Response:
    return _error(HTTPStatus.UNAUTHORIZED, str(error))


@app.exception_handler(ForbiddenError)
def _forbidden(error: ForbiddenError) -> Response:
    return _error(HTTPStatus.FORBIDDEN, str(error))


@app.exception_handler(OrderNotFoundError)
def _not_found(error: OrderNotFoundError) -> Response:
    return _error(HTTPStatus.NOT_FOUND, str(error))


@app.exception_handler(InvalidOrderStateError)
def _wrong_state(error: InvalidOrderStateError) -> Response:
    return _error(HTTPStatus.CONFLICT, str(error))


@app.exception_handler(IdempotencyKeyConflictError)
def _key_reused(error: IdempotencyKeyConflictError) -> Response:
    return _error(HTTPStatus.CONFLICT, str(error))


@app.exception_handler(InvalidPageTokenError)
def _bad_token(error: InvalidPageTokenError) -> Response:
    return _error(HTTPStatus.BAD_REQUEST, str(error))


@app.exception_handler(OrderRateLimitedError)
def _rate_limited(error: OrderRateLimitedError) -> Response:
    """The shopper's order limit: ``Retry-After`` says when the window that refused the order ends."""
    response = _error(HTTPStatus.TOO_MANY_REQUESTS, str(error))
    response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


RETRY_AFTER_SECONDS = 1
"""AWS's throttles and failures pass within moments, and the SDK already waited before giving up."""


@app.exception_handler(WorkflowUnavailableError)
def _workflow_unavailable(error: WorkflowUnavailableError) -> Response:
    return _unavailable(str(error))


@app.exception_handler(StorageTransientError)
def _storage_unavailable(error: StorageTransientError) -> Response:
    """DynamoDB throttled, failed or did not answer. Every write of the API is conditional and every order is bound
    to its key, so the same request again changes nothing twice."""
    return _unavailable(
        "the order service is busy; nothing was changed twice. Retry the same request (with the same Idempotency-Key)"
    )


@app.exception_handler(WorkflowTransientError)
def _callback_unavailable(error: WorkflowTransientError) -> Response:
    return _unavailable("the workflow did not take the callback now; send it again")


def _unavailable(message: str) -> Response:
    response = _error(HTTPStatus.SERVICE_UNAVAILABLE, message)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@app.get("/health", **documented("getHealth", "GET", "/health", OK, SERVICE_UNAVAILABLE))
def health() -> dict[str, str]:
    """Ready when the orders table answers (the local stack starts the API only once everything else is up)."""
    order_repository().get("health-check")
    return {"status": "ok"}


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> dict[str, Any]:
    """The document clients are generated from, with the server URL this request reached (``/prod`` in AWS)."""
    context = app.current_event.request_context
    document = app.get_openapi_json_schema(servers=openapi.servers(context.stage, context.path))
    return openapi.without_powertools_422(json.loads(document))


def caller() -> Principal:
    """The verified caller of this request, from the authorizer's claims."""
    return principal_from_claims(app.current_event.request_context.authorizer.claims)


OrderIdPath = Annotated[OrderId, Path(alias="orderId")]
DEFAULT_CANCEL = CancelRequest()


@app.post(
    "/orders",
    **documented(
        "submitOrder", "POST", "/orders", ACCEPTED, FORBIDDEN, CONFLICT, UNPROCESSABLE, TOO_MANY, SERVICE_UNAVAILABLE
    ),
)
def submit_order(
    order: OrderRequest,
    idempotency_key: Annotated[IdempotencyKey | None, Header(alias="Idempotency-Key")] = None,
) -> OrderAccepted:
    """Accept an order for the signed-in shopper. Prices come from the catalog, and a SKU it does not have is
    refused; a repeat with the same Idempotency-Key from the same shopper returns the same order. A shopper places at
    most so many new orders a minute and a day (429 with Retry-After past that); a repeat counts nothing."""
    validation.refuse_unknown_skus(order.items, inventory=inventory_repository())
    return ordering.submit_order(
        order,
        caller(),
        idempotency_key,
        orders=order_repository(),
        keys=idempotency_keys(),
        workflow=order_workflow(),
        now=now_iso(),
        quota=OrderQuota(order_quotas(), OrderRateLimit.from_environment(os.environ)),
    )


@app.get("/orders/<orderId>", **documented("getOrder", "GET", "/orders/{orderId}", OK, NOT_FOUND, UNPROCESSABLE))
def get_order(order_id: OrderIdPath) -> OrderView:
    """One of the caller's orders (any order, for operators); 404 for anyone else's, as for an unknown id."""
    return ordering.get_order(order_id, caller(), orders=order_repository())


@app.get("/orders", **documented("listOrders", "GET", "/orders", OK, BAD_REQUEST, UNPROCESSABLE))
def list_orders(
    status: Annotated[OrderStatus | None, Query()] = None,
    customer_id: Annotated[
        str | None, Query(alias="customerId", pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=ordering.MAX_PAGE)] = 20,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> OrderPage:
    """The caller's orders, newest first; operators may list any customer's, or all of them.

    Newest created first, except a customer's orders of one ``status``: those come newest into that status first.
    Every page reads at most a few index partitions, whatever the caller has stored; a page can hold fewer than
    ``limit`` orders while ``nextToken`` still offers more (an order that just changed status is left out of the
    page the index still filed it in)."""
    return ordering.list_orders(
        caller(), orders=order_repository(), status=status, customer_id=customer_id, limit=limit, next_token=next_token
    )


@app.post(
    "/orders/<orderId>/cancel",
    **documented("cancelOrder", "POST", "/orders/{orderId}/cancel", ACCEPTED, NOT_FOUND, CONFLICT, UNPROCESSABLE),
)
def cancel_order(order_id: OrderIdPath, request: CancelRequest = DEFAULT_CANCEL) -> CallbackAccepted:
    """Cancel an order awaiting shipment; the workflow compensates and ends it CANCELLED. 409 in any other status.

    The body is optional (a reason); it is declared as a plain optional object, not a nullable one, because
    generated clients choke on a nullable body they were not given."""
    reason = request.reason
    orders = order_repository()
    caller().owned(order_id, orders.get(order_id))
    shipment.cancel_order(order_id, reason, orders=orders, workflow=order_workflow())
    return CallbackAccepted(orderId=order_id, accepted="CANCEL")


@app.post(
    "/orders/<orderId>/shipment",
    **documented("recordShipment", "POST", "/orders/{orderId}/shipment", ACCEPTED, NOT_FOUND, CONFLICT, UNPROCESSABLE),
)
def shipment_callback(order_id: OrderIdPath, callback: ShipmentCallback) -> CallbackAccepted:
    """The warehouse callback: resumes the waiting execution with the stored task token."""
    orders, workflow = order_repository(), order_workflow()
    if callback.outcome == "SHIPPED":
        shipment.confirm_shipment(order_id, callback.trackingNumber, orders=orders, workflow=workflow)
    elif callback.outcome == "FAILED":
        shipment.fail_shipment(order_id, callback.reason, orders=orders, workflow=workflow)
    else:
        shipment.acknowledge_shipment(order_id, orders=orders, workflow=workflow)
    return CallbackAccepted(orderId=order_id, accepted=callback.outcome)


@app.get("/products", **documented("listProducts", "GET", "/products", OK))
def list_products() -> list[ProductView]:
    """The catalog, public: what anonymous visitors browse."""
    return [
        ProductView(sku=p.sku, name=p.name, priceCents=p.price_cents, currency=p.currency, stock=p.stock)
        for p in inventory_repository().catalog()
    ]


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: LambdaContext) -> dict:
    """Traces keep no response: answers carry shipping addresses."""
    refusal = _refuse_unreadable_body(event)
    if refusal is not None:
        return _with_cors(event, refusal)
    with calls_as(API_CALLS):
        return _with_cors(event, app.resolve(event, context))


def _refuse_unreadable_body(event: dict) -> dict | None:
    """Bodies are JSON objects of at most 64 KB; anything else is refused before routing, with a clear reason."""
    body = event.get("body") or ""
    if not body:
        return None
    if len(body.encode()) > MAX_BODY_BYTES:
        return _plain_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {MAX_BODY_BYTES} bytes")
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != content_types.APPLICATION_JSON:
        return _plain_error(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the body as JSON, with Content-Type: application/json"
        )
    if _nesting_depth(body) > MAX_JSON_DEPTH:
        return _plain_error(
            HTTPStatus.BAD_REQUEST, "the body is not a usable JSON document", problems=["body: nested too deeply"]
        )
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as error:
        return _plain_error(HTTPStatus.UNPROCESSABLE_ENTITY, "the body is not valid JSON", problems=[f"body: {error}"])
    if not isinstance(parsed, dict):
        return _plain_error(
            HTTPStatus.UNPROCESSABLE_ENTITY, "the request is invalid", problems=["body: must be a JSON object"]
        )
    return None


def _nesting_depth(text: str) -> int:
    """How deep brackets nest, counted without parsing (a recursive parse of a hostile body is what fails).

    Example
    -------
    >>> _nesting_depth('{"a": [1, {"b": "[[["}]}')
    3
    """
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


EXPOSED_HEADERS = "Retry-After"
"""Response headers a storefront's script may read besides the CORS-safelisted ones: when to retry a 429 or 503."""


def _with_cors(event: dict, response: dict) -> dict:
    """A storefront on an allowed origin may read the answer, ``Retry-After`` included; any other origin gets no CORS
    header at all."""
    origin = next((value for name, value in (event.get("headers") or {}).items() if name.lower() == "origin"), None)
    allowed = {item.strip() for item in os.environ.get(CORS_ALLOWED_ORIGINS_ENV, "").split(",") if item.strip()}
    if origin is None or origin not in allowed:
        return response
    headers = dict(response.get("headers") or {})
    headers.update(
        {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSED_HEADERS, "Vary": "Origin"}
    )
    multi = response.get("multiValueHeaders")
    if multi:
        multi.pop("Access-Control-Allow-Origin", None)
    return {**response, "headers": headers}


def _plain_error(status: HTTPStatus, message: str, **details: Any) -> dict:
    return {
        "statusCode": status.value,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"error": status.phrase, "message": message, **details}),
    }
