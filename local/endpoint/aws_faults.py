"""AWS-API faults: make chosen calls to the stack's AWS endpoint fail the way AWS fails them.

The Lambda fault rules (``local.testkit.faults``, ``ORDERS_FAULTS``) make our own tasks fail. These rules make the
AWS APIs fail under every caller: the API function, every task, the stream publisher, the console, the warehouse
simulator and any outside client of the endpoint. They come from ``ORDERS_AWS_FAULTS`` (JSON, for ``orders up``) or
the ``aws_faults`` pytest fixture (the same rules as a dict), keyed by ``<service>:<Operation>``, the IAM action of
the call::

    {"dynamodb:TransactWriteItems": {"kind": "conflict", "times": 2},
     "states:StartExecution": {"kind": "throttling", "rate": 0.2, "seed": 7},
     "events:PutEvents": {"kind": "partial", "rate": 0.3, "seed": 8}}

A rule's keys:

- ``kind``: what the call gets instead of its answer, with AWS's own error code and HTTP status:
  ``"throttling"`` (400: DynamoDB ``ProvisionedThroughputExceededException``, Cognito ``TooManyRequestsException``,
  every other service ``ThrottlingException``); ``"conflict"`` (DynamoDB only, 400: ``TransactionCanceledException``
  whose first reason is ``TransactionConflict`` for TransactWriteItems and TransactGetItems,
  ``TransactionConflictException`` for a PutItem, UpdateItem or DeleteItem); ``"server-error"`` (500: DynamoDB
  ``InternalServerError``, EventBridge ``InternalException``, Cognito ``InternalErrorException``, every other
  service ``InternalFailure``); ``"unavailable"`` (503 ``ServiceUnavailable``); ``"timeout"`` (the request is
  carried out, and its answer is lost: see below); ``"partial"`` (a partial answer: PutEvents refuses every second
  entry, starting with the first, with ``FailedEntryCount`` and a per-entry ``ErrorCode``; BatchGetItem returns every
  second key of each table, starting with the first, in ``UnprocessedKeys``; only the rest reaches moto). Without
  ``kind`` a rule only adds latency.
- ``error``: another of AWS's codes for the same kind where a service has several (DynamoDB throttling:
  ``ThrottlingException`` or ``RequestLimitExceeded``; a partial PutEvents entry: ``InternalFailure``).
- ``times``, ``rate`` and ``seed``: as for the Lambda rules, counted per rule over the calls it applies to: the
  first ``times`` calls fail, or each call fails with probability ``rate`` drawn from ``random.Random(seed)``, or,
  with neither, every call.
- ``latency_ms``: real milliseconds the answer is held back, failing or not; for a ``timeout``, how long the caller
  waits for the answer it never gets (calls the rule lets through are not held back). After that wait, in-process,
  where there is no socket to time out, the caller gets botocore's ``ReadTimeoutError``; over HTTP the late answer is
  sent, and a client whose read timeout is shorter gives up, as it would against AWS.

Rules are checked when they are read (:class:`AwsFaultRuleError`, a ``ValueError``, naming the rule): the service
and operation against botocore's service models, and the kind, error and numbers against what the service can
answer.

Who is faulted: every call to an operation a rule names, except calls signed with the access key
``UNFAULTED_ACCESS_KEY_ID`` (the test harness's own reads and writes, the benchmark's watcher, and the local stand-in
for Lambda's event source mapping, which is AWS's machinery, not a client) and moto's Step Functions engine, whose
service integrations sign with ``ENGINE_ACCESS_KEY_ID``: those are Step Functions' own calls, not our clients'. A
Lambda invocation is faulted by ``ORDERS_FAULTS``, per Task state, not here.

Where: in-process calls reach moto through ``local.aws.moto.IN_PROCESS_INTERCEPTORS`` (the stack's own calls through
``local.endpoint.in_process`` and the test harness's ``mock_aws``), outside clients through the HTTP listener, where
``AwsFaultsMiddleware`` sits in front of moto's server. Both ask the rules installed by :func:`serve_aws_faults`.
Nothing in ``tasks/`` knows. Each rule counts its calls and the faults it injected (:meth:`AwsFaultInjector.report`),
for tests and the benchmark's summary; ``orders up`` writes that report to ``ORDERS_AWS_FAULTS_REPORT`` when it stops.
"""

from __future__ import annotations

import difflib
import functools
import io
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

AWS_FAULTS_ENV = "ORDERS_AWS_FAULTS"
AWS_FAULTS_REPORT_ENV = "ORDERS_AWS_FAULTS_REPORT"
RULE_KEYS = ("kind", "error", "times", "rate", "seed", "latency_ms")
UNFAULTED_ACCESS_KEY_ID = "local-unfaulted"
"""Calls signed with this access key are never faulted: the harness, and the local stand-ins for AWS's machinery."""
ENGINE_ACCESS_KEY_ID = "ak"
"""The access key moto's Step Functions engine signs its service integrations with (``boto_client_for``)."""
EXEMPT_ACCESS_KEY_IDS = frozenset({UNFAULTED_ACCESS_KEY_ID, ENGINE_ACCESS_KEY_ID})

SERVICE_MODELS: dict[str, tuple[str, ...]] = {
    "dynamodb": ("dynamodb", "dynamodbstreams"),
    "states": ("stepfunctions",),
    "events": ("events",),
    "sqs": ("sqs",),
    "cognito-idp": ("cognito-idp",),
}
"""The services of the local endpoint, by the prefix of their IAM actions, and the botocore models that describe
their operations (DynamoDB Streams' actions are ``dynamodb:`` actions too). All speak AWS's JSON protocol, so a call
is known by its ``X-Amz-Target`` header."""
FAULTED_ELSEWHERE = {"lambda": "Lambda invocations are faulted per Task state by ORDERS_FAULTS (local.testkit.faults)"}
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
AWS_DOMAIN = ".amazonaws.com"

Answer = tuple[int, dict[str, str], bytes]
"""An HTTP answer: status, headers, body."""
Deliver = Callable[[bytes], Answer]
"""Hands a request body to moto and returns its answer."""


class AwsFaultRuleError(ValueError):
    """An AWS fault rule that cannot be applied; the message names the rule and what is wrong with it."""


class AwsFaultKind(StrEnum):
    THROTTLING = "throttling"
    CONFLICT = "conflict"
    SERVER_ERROR = "server-error"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    PARTIAL = "partial"


@dataclass(frozen=True)
class ErrorCodes:
    """The codes AWS answers a kind of failure with, per service (``*``: any other); the first is the default."""

    status: HTTPStatus
    codes: Mapping[str, tuple[str, ...]]

    def of(self, service: str) -> tuple[str, ...]:
        return self.codes.get(service) or self.codes["*"]


ERROR_CODES: dict[AwsFaultKind, ErrorCodes] = {
    AwsFaultKind.THROTTLING: ErrorCodes(
        HTTPStatus.BAD_REQUEST,
        {
            "dynamodb": ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"),
            "cognito-idp": ("TooManyRequestsException",),
            "*": ("ThrottlingException",),
        },
    ),
    AwsFaultKind.SERVER_ERROR: ErrorCodes(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        {
            "dynamodb": ("InternalServerError",),
            "events": ("InternalException",),
            "cognito-idp": ("InternalErrorException",),
            "*": ("InternalFailure",),
        },
    ),
    AwsFaultKind.UNAVAILABLE: ErrorCodes(HTTPStatus.SERVICE_UNAVAILABLE, {"*": ("ServiceUnavailable",)}),
}
TRANSACTIONS = frozenset({"TransactWriteItems", "TransactGetItems"})
CONFLICTING_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
PARTIAL_ANSWERS: dict[str, tuple[str, ...]] = {
    "events:PutEvents": ("ThrottlingException", "InternalFailure"),
    "dynamodb:BatchGetItem": (),
}
"""The operations with a partial answer, and the per-entry error codes a refused entry may carry (default first)."""


@dataclass(frozen=True)
class AwsFaultRule:
    """One operation's fault, as read from the rules; see the module docstring for the meaning of each field."""

    service: str
    operation: str
    kind: AwsFaultKind | None = None
    error: str | None = None
    times: int | None = None
    rate: float | None = None
    seed: int | None = None
    latency_ms: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.service}:{self.operation}"

    @property
    def status(self) -> int | None:
        """The HTTP status a failed call is answered with (None where the answer is a timeout or a partial one)."""
        if self.kind is AwsFaultKind.CONFLICT:
            return HTTPStatus.BAD_REQUEST.value
        codes = ERROR_CODES.get(self.kind) if self.kind else None
        return None if codes is None else codes.status.value


@functools.cache
def service_operations(service: str) -> frozenset[str]:
    """The operations botocore's models know for an IAM service prefix of the local endpoint.

    Example
    -------
    >>> "TransactWriteItems" in service_operations("dynamodb"), "GetRecords" in service_operations("dynamodb")
    (True, True)
    """
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        operation for model in SERVICE_MODELS[service] for operation in session.get_service_model(model).operation_names
    )


@functools.cache
def target_prefixes() -> dict[str, str]:
    """The ``X-Amz-Target`` prefix of each model of the local endpoint, to its IAM service prefix."""
    import botocore.session

    session = botocore.session.get_session()
    return {
        session.get_service_model(model).metadata["targetPrefix"]: service
        for service, models in SERVICE_MODELS.items()
        for model in models
    }


def parse_aws_fault_rules(
    rules: str | Mapping[str, Any] | None, source: str = AWS_FAULTS_ENV
) -> tuple[AwsFaultRule, ...]:
    """Read and check AWS fault rules: JSON text (an empty string means none) or the same structure as a dict.

    Parameters
    ----------
    rules:
        ``{"<service>:<Operation>": {"kind": ..., "error": ..., "times": ..., "rate": ..., "seed": ...,
        "latency_ms": ...}}``.
    source:
        Where the rules came from, for the error messages.

    Returns
    -------
    tuple[AwsFaultRule, ...]
        One rule per operation, in the order given.

    Raises
    ------
    AwsFaultRuleError
        Bad JSON, an unknown service or operation, an unknown key, kind or error, a kind the operation cannot answer
        with, a negative ``times``, ``rate`` outside [0, 1] or without ``seed``; the message names the rule.

    Example
    -------
    >>> parse_aws_fault_rules('{"states:StartExecution": {"kind": "throttling", "times": 3}}')[0].error
    'ThrottlingException'
    >>> parse_aws_fault_rules('{"dynamodb:PutItme": {"kind": "throttling"}}')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    local.endpoint.aws_faults.AwsFaultRuleError: ORDERS_AWS_FAULTS rule 'dynamodb:PutItme': botocore's ... PutItem?
    """
    if rules is None or (isinstance(rules, str) and not rules.strip()):
        return ()
    if isinstance(rules, str):
        try:
            rules = json.loads(rules)
        except json.JSONDecodeError as error:
            raise AwsFaultRuleError(f"{source} is not valid JSON: {error}") from None
    if not isinstance(rules, Mapping):
        raise AwsFaultRuleError(
            f"{source} must be an object of '<service>:<Operation>' to rule, got {type(rules).__name__}"
        )
    return tuple(_parse_rule(str(key), rule, f"{source} rule {key!r}") for key, rule in rules.items())


def _parse_rule(key: str, rule: Any, where: str) -> AwsFaultRule:
    service, operation = _operation_of(key, where)
    if not isinstance(rule, Mapping):
        raise AwsFaultRuleError(f'{where}: must be an object like {{"kind": "throttling"}}, got {rule!r}')
    unknown = sorted(set(rule) - set(RULE_KEYS))
    if unknown:
        raise AwsFaultRuleError(f"{where}: unknown keys {', '.join(unknown)}; allowed: {', '.join(RULE_KEYS)}")
    kind = rule.get("kind")
    if kind is not None and kind not in set(AwsFaultKind):
        raise AwsFaultRuleError(f"{where}: kind must be one of {', '.join(AwsFaultKind)}, got {kind!r}")
    kind = None if kind is None else AwsFaultKind(kind)
    times, rate, seed, latency_ms = rule.get("times"), rule.get("rate"), rule.get("seed"), rule.get("latency_ms", 0)
    if times is not None and (not _is_int(times) or times < 0):
        raise AwsFaultRuleError(f"{where}: times must be a whole number >= 0, got {times!r}")
    if rate is not None and (not _is_number(rate) or not 0 <= rate <= 1):
        raise AwsFaultRuleError(f"{where}: rate must be a number between 0 and 1, got {rate!r}")
    if seed is not None and not _is_int(seed):
        raise AwsFaultRuleError(f"{where}: seed must be a whole number, got {seed!r}")
    if (rate is None) != (seed is None):
        raise AwsFaultRuleError(f"{where}: rate and seed go together, so that failures are reproducible")
    if times is not None and rate is not None:
        raise AwsFaultRuleError(f"{where}: give times or rate, not both")
    if not _is_number(latency_ms) or latency_ms < 0:
        raise AwsFaultRuleError(f"{where}: latency_ms must be a number >= 0, got {latency_ms!r}")
    if kind is None and (times is not None or rate is not None or "error" in rule):
        raise AwsFaultRuleError(f"{where}: times, rate and error need a kind")
    if kind is None and not latency_ms:
        raise AwsFaultRuleError(f"{where}: needs a kind ({', '.join(AwsFaultKind)}) or a latency_ms")
    return AwsFaultRule(
        service=service,
        operation=operation,
        kind=kind,
        error=_error_code(service, operation, kind, rule.get("error"), where),
        times=times,
        rate=None if rate is None else float(rate),
        seed=seed,
        latency_ms=float(latency_ms),
    )


def _operation_of(key: str, where: str) -> tuple[str, str]:
    service, separator, operation = key.partition(":")
    if not separator or not operation:
        raise AwsFaultRuleError(f"{where}: name a call as '<service>:<Operation>', like 'dynamodb:PutItem'")
    if service in FAULTED_ELSEWHERE:
        raise AwsFaultRuleError(f"{where}: {FAULTED_ELSEWHERE[service]}")
    if service not in SERVICE_MODELS:
        raise AwsFaultRuleError(
            f"{where}: the local AWS endpoint serves no service {service!r}; the services are "
            f"{', '.join(sorted(SERVICE_MODELS))}"
        )
    known = service_operations(service)
    if operation not in known:
        close = difflib.get_close_matches(operation, sorted(known), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise AwsFaultRuleError(
            f"{where}: botocore's {' and '.join(SERVICE_MODELS[service])} model has no operation {operation}{hint}"
        )
    return service, operation


def _error_code(service: str, operation: str, kind: AwsFaultKind | None, error: Any, where: str) -> str | None:
    """The error code a failed call answers with, checked against what the service answers for the kind."""
    key = f"{service}:{operation}"
    if kind is AwsFaultKind.CONFLICT:
        if service != "dynamodb" or operation not in TRANSACTIONS | CONFLICTING_WRITES:
            raise AwsFaultRuleError(
                f"{where}: a conflict is DynamoDB's answer to a transaction or an item write "
                f"({', '.join(sorted(TRANSACTIONS | CONFLICTING_WRITES))})"
            )
        allowed: tuple[str, ...] = (
            ("TransactionCanceledException",) if operation in TRANSACTIONS else ("TransactionConflictException",)
        )
    elif kind is AwsFaultKind.PARTIAL:
        if key not in PARTIAL_ANSWERS:
            raise AwsFaultRuleError(f"{where}: partial answers exist for {', '.join(PARTIAL_ANSWERS)} only")
        allowed = PARTIAL_ANSWERS[key]
    elif kind in ERROR_CODES:
        allowed = ERROR_CODES[kind].of(service)
    else:
        allowed = ()
    if error is None:
        return allowed[0] if allowed else None
    if error not in allowed:
        choices = ", ".join(allowed) if allowed else "none: this kind has no error code"
        raise AwsFaultRuleError(f"{where}: error {error!r} is not an answer of {key} to {kind}; choose {choices}")
    return error


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class AwsCall:
    """One call to the endpoint: its service (IAM prefix) and operation, who signed it, and its body."""

    service: str
    operation: str
    access_key_id: str | None
    body: bytes
    content_type: str

    @property
    def key(self) -> str:
        return f"{self.service}:{self.operation}"


def aws_call(headers: Mapping[str, Any], body: bytes | str | None) -> AwsCall | None:
    """The call a request makes, from its headers (any case) and body; None for anything but a JSON-protocol call of
    a service the endpoint serves.

    Example
    -------
    >>> call = aws_call({"X-Amz-Target": "DynamoDB_20120810.PutItem",
    ...                  "Authorization": "AWS4-HMAC-SHA256 Credential=local/20261206/us-east-1/dynamodb/aws4_request"},
    ...                 b"{}")
    >>> call.key, call.access_key_id
    ('dynamodb:PutItem', 'local')
    """
    named = {str(name).lower(): _text(value) for name, value in headers.items()}
    prefix, _, operation = named.get("x-amz-target", "").rpartition(".")
    service = target_prefixes().get(prefix)
    if service is None or not operation:
        return None
    credential = CREDENTIAL.search(named.get("authorization", ""))
    return AwsCall(
        service=service,
        operation=operation,
        access_key_id=credential.group(1) if credential else None,
        body=(body.encode() if isinstance(body, str) else body) or b"",
        content_type=named.get("content-type", "application/x-amz-json-1.0"),
    )


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


class AnswerLostError(Exception):
    """A ``timeout``: the request was carried out, and the caller must not get ``answer`` (unless over HTTP, late)."""

    def __init__(self, answer: Answer, key: str):
        self.answer = answer
        super().__init__(f"the answer to {key} was lost (injected timeout)")


@dataclass
class _ArmedRule:
    """A rule with its own call count, random stream and tally of what it injected."""

    rule: AwsFaultRule
    random: random.Random | None
    calls: int = 0
    faults: int = 0
    outcomes: list[bool] = field(default_factory=list)

    def fails_next(self) -> bool:
        self.calls += 1
        if self.rule.kind is None:
            failed = False
        elif self.rule.times is not None:
            failed = self.calls <= self.rule.times
        elif self.random is not None:
            failed = self.random.random() < self.rule.rate
        else:
            failed = True
        self.faults += failed
        self.outcomes.append(failed)
        return failed


class AwsFaultInjector:
    """Applies AWS fault rules to calls; both transports (in-process and HTTP) hand it each call.

    Parameters
    ----------
    rules:
        Rules from :func:`parse_aws_fault_rules`, or anything it accepts (JSON text, a dict).
    source:
        Where the rules came from, named in error messages and in the message of each injected error.
    exempt_access_key_ids:
        Callers never faulted (by the access key they sign with).

    Example
    -------
    >>> injector = AwsFaultInjector({"events:PutEvents": {"kind": "server-error", "times": 1}})
    >>> serve_aws_faults(injector)  # doctest: +SKIP
    >>> injector.report()["events:PutEvents"]["faults"]
    0
    """

    def __init__(
        self,
        rules: str | Mapping[str, Any] | tuple[AwsFaultRule, ...] | None,
        source: str = AWS_FAULTS_ENV,
        exempt_access_key_ids: Iterable[str] = EXEMPT_ACCESS_KEY_IDS,
    ):
        parsed = rules if isinstance(rules, tuple) else parse_aws_fault_rules(rules, source)
        self._source = source
        self._exempt = frozenset(exempt_access_key_ids)
        self._lock = threading.Lock()
        self._rules = {
            rule.key: _ArmedRule(rule, None if rule.seed is None else random.Random(rule.seed)) for rule in parsed
        }

    @property
    def rules(self) -> tuple[AwsFaultRule, ...]:
        return tuple(armed.rule for armed in self._rules.values())

    def applies_to(self, call: AwsCall) -> bool:
        """Whether a rule names the call's operation and the caller is not exempt."""
        return call.key in self._rules and call.access_key_id not in self._exempt

    def outcomes(self, key: str) -> list[bool]:
        """Whether each call of ``key`` (``service:Operation``) so far was made to fail, in order."""
        with self._lock:
            return list(self._rules[key].outcomes) if key in self._rules else []

    def report(self) -> dict[str, dict[str, Any]]:
        """Per rule: the calls it saw, the faults it injected, its kind, error code and HTTP status.

        Example
        -------
        >>> AwsFaultInjector({"dynamodb:PutItem": {"kind": "throttling", "times": 1}}).report()
        {'dynamodb:PutItem': {'calls': 0, 'faults': 0, 'kind': 'throttling', \
'error': 'ProvisionedThroughputExceededException', 'status': 400}}
        """
        with self._lock:
            return {
                key: {
                    "calls": armed.calls,
                    "faults": armed.faults,
                    "kind": None if armed.rule.kind is None else armed.rule.kind.value,
                    "error": armed.rule.error,
                    "status": armed.rule.status,
                }
                for key, armed in self._rules.items()
            }

    def injected(self) -> dict[str, int]:
        """The faults injected so far, per ``service:Operation``."""
        return {key: entry["faults"] for key, entry in self.report().items()}

    def answer(self, call: AwsCall, deliver: Deliver) -> Answer:
        """The answer the caller gets: moto's (``deliver``), or the rule's fault.

        Raises
        ------
        AnswerLostError
            A ``timeout``: the request was delivered; the transport decides how its answer is lost.
        """
        if not self.applies_to(call):
            return deliver(call.body)
        armed = self._rules[call.key]
        with self._lock:
            failed = armed.fails_next()
            number = armed.calls
        rule = armed.rule
        if rule.kind is AwsFaultKind.TIMEOUT:
            if not failed:
                return deliver(call.body)
            answer = deliver(call.body)
            time.sleep(rule.latency_ms / 1000)
            raise AnswerLostError(answer, call.key)
        if rule.latency_ms:
            time.sleep(rule.latency_ms / 1000)
        if not failed:
            return deliver(call.body)
        message = f"injected {rule.kind} on {call.key}, call {number} ({self._source})"
        if rule.kind is AwsFaultKind.PARTIAL:
            return _partial_answer(call, rule, deliver, message)
        return error_answer(call, rule.error or "", rule.status or 500, message)


def error_answer(call: AwsCall, code: str, status: int, message: str) -> Answer:
    """An AWS JSON-protocol error answer, as botocore parses it: ``__type`` and ``message``, plus DynamoDB's
    cancellation reasons (one per item of the transaction, the first a ``TransactionConflict``).

    Example
    -------
    >>> call = AwsCall("states", "StartExecution", "local", b"{}", "application/x-amz-json-1.0")
    >>> status, headers, body = error_answer(call, "ThrottlingException", 400, "Rate exceeded")
    >>> status, headers["x-amzn-ErrorType"], json.loads(body)["__type"]
    (400, 'ThrottlingException', 'ThrottlingException')
    """
    document: dict[str, Any] = {"__type": code, "message": message}
    if code == "TransactionCanceledException":
        request = json.loads(call.body or b"{}")
        items = len(request.get("TransactItems", [])) or 1
        reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
        document["CancellationReasons"] = reasons + [{"Code": "None"}] * (items - 1)
        document["message"] = (
            f"Transaction cancelled, please refer cancellation reasons for specific reasons: {message}"
        )
    return status, _headers(call, {"x-amzn-ErrorType": code}), json.dumps(document).encode()


def _headers(call: AwsCall, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"Content-Type": call.content_type, "x-amzn-RequestId": str(uuid.uuid4()), **(extra or {})}


def _refused(count: int) -> list[bool]:
    """Which entries of a partial answer are refused: every second one, starting with the first."""
    return [index % 2 == 0 for index in range(count)]


def _partial_answer(call: AwsCall, rule: AwsFaultRule, deliver: Deliver, message: str) -> Answer:
    request = json.loads(call.body or b"{}")
    if call.key == "events:PutEvents":
        return _partial_put_events(call, request, rule.error or "ThrottlingException", deliver, message)
    return _partial_batch_get(call, request, deliver)


def _partial_put_events(call: AwsCall, request: dict[str, Any], code: str, deliver: Deliver, message: str) -> Answer:
    """Only the entries that "succeeded" reach moto, so the refused ones are really not put on the bus."""
    entries = request.get("Entries", [])
    refused = _refused(len(entries))
    kept = [entry for entry, refuse in zip(entries, refused, strict=True) if not refuse]
    delivered: list[dict[str, Any]] = []
    if kept:
        status, headers, body = deliver(json.dumps({**request, "Entries": kept}).encode())
        if status != HTTPStatus.OK:
            return status, headers, body
        delivered = json.loads(body).get("Entries", [])
    answered = iter(delivered)
    results = [
        {"ErrorCode": code, "ErrorMessage": message} if refuse else next(answered, {"EventId": str(uuid.uuid4())})
        for refuse in refused
    ]
    failed = sum(1 for result in results if "ErrorCode" in result)
    return HTTPStatus.OK.value, _headers(call), json.dumps({"FailedEntryCount": failed, "Entries": results}).encode()


def _partial_batch_get(call: AwsCall, request: dict[str, Any], deliver: Deliver) -> Answer:
    """Every second key of each table comes back in ``UnprocessedKeys`` (with the table's read options); the rest
    is read from moto."""
    kept: dict[str, Any] = {}
    unprocessed: dict[str, Any] = {}
    for table, wanted in request.get("RequestItems", {}).items():
        keys = wanted.get("Keys", [])
        refused = _refused(len(keys))
        left = [key for key, refuse in zip(keys, refused, strict=True) if refuse]
        read = [key for key, refuse in zip(keys, refused, strict=True) if not refuse]
        if left:
            unprocessed[table] = {**wanted, "Keys": left}
        if read:
            kept[table] = {**wanted, "Keys": read}
    answer: dict[str, Any] = {"Responses": {table: [] for table in request.get("RequestItems", {})}}
    if kept:
        status, headers, body = deliver(json.dumps({**request, "RequestItems": kept}).encode())
        if status != HTTPStatus.OK:
            return status, headers, body
        answer = json.loads(body)
        answer.setdefault("Responses", {})
        for table in request.get("RequestItems", {}):
            answer["Responses"].setdefault(table, [])
    answer["UnprocessedKeys"] = {**answer.get("UnprocessedKeys", {}), **unprocessed}
    return HTTPStatus.OK.value, _headers(call), json.dumps(answer).encode()


_active: AwsFaultInjector | None = None
_installed = False
_install_lock = threading.Lock()


def serve_aws_faults(injector: AwsFaultInjector | None) -> None:
    """Apply ``injector``'s rules to every call this process's endpoint serves from now on (None: no faults).

    The first call installs the in-process interceptor in moto's request dispatcher; the HTTP listener's
    ``AwsFaultsMiddleware`` reads the same rules.

    Example
    -------
    >>> serve_aws_faults(AwsFaultInjector({"dynamodb:UpdateItem": {"kind": "server-error", "times": 1}}))
    >>> serve_aws_faults(None)
    """
    global _active, _installed
    from local.aws.moto import IN_PROCESS_INTERCEPTORS

    with _install_lock:
        if not _installed:
            IN_PROCESS_INTERCEPTORS.append(_intercept_in_process)
            _installed = True
        _active = injector


def served_aws_faults() -> AwsFaultInjector | None:
    """The rules the endpoint applies now, if any."""
    return _active


def _intercept_in_process(request: Any, deliver: Callable[[Any], Any]) -> Any:
    """An in-process request (botocore's ``AWSPreparedRequest``), answered by the rules or delivered to moto.

    moto answers in-process what is addressed to AWS (``mock_aws``, and ``local.endpoint.in_process``, which
    readdresses the stack's own calls); anything else goes on over HTTP, to meet the rules at the listener."""
    injector = _active
    host = urlsplit(request.url).hostname or ""
    call = None if injector is None or not host.endswith(AWS_DOMAIN) else aws_call(request.headers, request.body)
    if call is None or not injector.applies_to(call):
        return deliver(request)

    def deliver_body(body: bytes) -> Answer:
        from botocore.awsrequest import AWSPreparedRequest

        headers = request.headers.copy()
        headers["Content-Length"] = str(len(body))
        answered = deliver(
            AWSPreparedRequest(method=request.method, url=request.url, headers=headers, body=body, stream_output=False)
        )
        if answered is None:
            raise RuntimeError(f"moto does not serve {call.key}")
        status, answer_headers, answer_body = answered
        return status, dict(answer_headers), answer_body.encode() if isinstance(answer_body, str) else answer_body

    try:
        return injector.answer(call, deliver_body)
    except AnswerLostError:
        from botocore.exceptions import ReadTimeoutError

        raise ReadTimeoutError(endpoint_url=request.url) from None


class AwsFaultsMiddleware:
    """WSGI middleware in front of moto's server: outside clients' calls meet the same rules as in-process ones.

    Example
    -------
    >>> app = AwsCallsOnly(AwsFaultsMiddleware(DomainDispatcherApplication(create_backend_app)))  # doctest: +SKIP
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        injector = _active
        if injector is None or "HTTP_X_AMZ_TARGET" not in environ:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {"X-Amz-Target": environ["HTTP_X_AMZ_TARGET"], "Authorization": environ.get("HTTP_AUTHORIZATION", "")}
        headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
        call = aws_call(headers, body)
        if call is None or not injector.applies_to(call):
            return self.app(environ, start_response)
        try:
            status, answer_headers, answer_body = injector.answer(call, lambda sent: self._deliver(environ, sent))
        except AnswerLostError as lost:
            status, answer_headers, answer_body = lost.answer
        kept = [(name, value) for name, value in answer_headers.items() if name.lower() != "content-length"]
        start_response(f"{status} {HTTPStatus(status).phrase}", [*kept, ("Content-Length", str(len(answer_body)))])
        return [answer_body]

    def _deliver(self, environ: dict[str, Any], body: bytes) -> Answer:
        """Run moto's server on ``body`` and collect its answer."""
        sent = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        answered: dict[str, Any] = {}
        chunks: list[bytes] = []

        def collect(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            answered.update(status=int(status.split(" ", 1)[0]), headers=dict(headers))
            return chunks.append

        result = self.app(sent, collect)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return answered["status"], answered["headers"], b"".join(chunks)
