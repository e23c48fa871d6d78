"""The in-process Lambda runner: every Lambda invocation the engine (or anyone) makes runs our real handler here.

botocore lets a ``before-call.lambda.Invoke`` handler answer a call without sending it. The runner answers with
what Lambda would: the handler's JSON result, or Lambda's error contract for an unhandled exception
(``FunctionError`` plus ``errorType`` = the exception's class name), so the ASL's Retry and Catch match exactly as
they do in AWS.

Like Lambda, the runner never gives one container two invocations at once: a container is one loaded copy of the
handler module, reused warm by later invocations; concurrent invocations get more containers, up to
``max_containers`` per function. Module-level state (Powertools' resolver, metrics) therefore never sees two
invocations interleave. One piece of state is shared by every copy: Powertools' event handler keeps the event it is
resolving on its ``BaseRouter`` class. A Lambda process serves one event at a time, so there it is that event's;
here every container runs in its own thread, so the runner keeps those class attributes per thread
(``keep_router_events_per_thread``) and containers resolve concurrently without reading each other's events.
"""

from __future__ import annotations

import dis
import importlib
import importlib.util
import io
import itertools
import json
import logging
import os
import threading
import time
import traceback
import uuid
from abc import ABCMeta
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import boto3
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from workflows.resources import FunctionSpec

LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_REGION = "us-east-1"

log = logging.getLogger(__name__)

BeforeInvoke = Callable[[FunctionSpec, Any], None]
"""Called with the function and its event before the handler runs; raising an exception fails the invocation."""
Handler = Callable[[Any, Any], Any]
"""A container: the handler function of one loaded copy of the function's module."""


@dataclass
class LocalLambdaContext:
    """The parts of Lambda's context object that Powertools and our handlers use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[$LATEST]{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@dataclass
class _ContainerWaiter:
    """An invocation waiting for a busy function's container; ``_check_in`` hands one over."""

    container: Handler | None = None
    handed_over: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Invocation:
    """What Lambda's Invoke API returns."""

    payload: bytes
    function_error: str | None = None
    status_code: int = 200


def function_arn(name: str, region: str = LOCAL_REGION, account_id: str = LOCAL_ACCOUNT_ID) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:function:{name}"


def function_name_from(reference: str) -> str:
    """A function's name from any form Invoke accepts: name, ARN, partial ARN, with or without a qualifier.

    Example
    -------
    >>> function_name_from("arn:aws:lambda:us-east-1:123456789012:function:ValidateOrder:$LATEST")
    'ValidateOrder'
    >>> function_name_from("123456789012:function:ValidateOrder")
    'ValidateOrder'
    """
    parts = reference.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]


def merged_environment(functions: Iterable[FunctionSpec], environments: Mapping[str, Mapping[str, str]]) -> dict:
    """One process holds every function, so their environments must agree; a conflict is a configuration error."""
    merged: dict[str, str] = {}
    for spec in functions:
        for key, value in environments[spec.logical_name].items():
            if merged.setdefault(key, value) != value:
                raise ValueError(f"functions disagree on {key}: {merged[key]!r} and {value!r} ({spec.logical_name})")
    return merged


class LambdaRunner:
    """Runs the handlers of ``functions`` in-process, in place of the Lambda service.

    Parameters
    ----------
    functions:
        The functions to serve, from ``workflows.resources``.
    environment:
        Variables set for the handlers while the runner is installed (see ``merged_environment``).

    Example
    -------
    >>> runner = LambdaRunner(WORKFLOW_FUNCTIONS, environment={...})  # doctest: +SKIP
    >>> runner.install()  # doctest: +SKIP
    >>> boto3.client("lambda").invoke(FunctionName="ValidateOrder", Payload=b"{}")  # doctest: +SKIP
    """

    def __init__(
        self,
        functions: Iterable[FunctionSpec],
        environment: Mapping[str, str] | None = None,
        max_containers: int = 8,
    ):
        self._functions = {spec.logical_name: spec for spec in functions}
        self._environment = dict(environment or {})
        self._saved_environment: dict[str, str | None] = {}
        self._max_containers = max_containers
        self._idle: dict[str, list[Handler]] = {name: [] for name in self._functions}
        self._waiting: dict[str, deque[_ContainerWaiter]] = {name: deque() for name in self._functions}
        self._containers: dict[str, int] = dict.fromkeys(self._functions, 0)
        self._pool_lock = threading.Lock()
        self._session: Any = None
        self.before_invoke: list[BeforeInvoke] = []
        self.invocations: dict[str, int] = dict.fromkeys(self._functions, 0)
        self._count_lock = threading.Lock()

    @property
    def functions(self) -> Mapping[str, FunctionSpec]:
        return self._functions

    def install(self) -> None:
        """Set the handlers' environment and answer Invoke calls made through boto3's default session."""
        keep_router_events_per_thread()
        for key, value in self._environment.items():
            self._saved_environment[key] = os.environ.get(key)
            os.environ[key] = value
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        self._session = boto3.DEFAULT_SESSION
        self._session.events.register("before-call.lambda.Invoke", self._answer_invoke, unique_id=self._unique_id)

    def uninstall(self) -> None:
        if self._session is not None:
            self._session.events.unregister("before-call.lambda.Invoke", unique_id=self._unique_id)
            self._session = None
        for key, previous in self._saved_environment.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous
        self._saved_environment.clear()

    @property
    def _unique_id(self) -> str:
        return f"orders-lambda-runner-{id(self)}"

    def containers(self, function_name: str) -> int:
        """How many containers (cold starts) the function has had."""
        return self._containers[function_name]

    def _check_out(self, spec: FunctionSpec) -> Handler | None:
        """A warm idle container if there is one; else a cold start, up to ``max_containers``; else wait for one.

        Lambda never queues an invocation: past the function's concurrency it throttles at once. A function whose
        reserved concurrency (``FunctionSpec.reserved_concurrency``) fits under ``max_containers`` is capped there,
        and an invocation that finds every one of them busy is throttled at once, as Lambda throttles it.
        Otherwise the local cap is no quota: every container shares this process's one core, and more of them
        served no more requests. Waiting therefore plays the part of Lambda scaling out, first come, first served,
        so no invocation starves while later ones run; but never longer than the function's timeout, by which
        Lambda would have ended any invocation holding a container. None: no container came free in time (or the
        reserved concurrency is all in use), and the invocation is throttled.
        """
        name = spec.logical_name
        reserved = spec.reserved_concurrency
        capped_by_reservation = reserved is not None and reserved <= self._max_containers
        with self._pool_lock:
            if self._idle[name]:
                return self._idle[name].pop()
            if self._containers[name] < (reserved if capped_by_reservation else self._max_containers):
                index = self._containers[name]
                self._containers[name] += 1
                waiter = None
            elif capped_by_reservation:
                return None
            else:
                waiter = _ContainerWaiter()
                self._waiting[name].append(waiter)
        if waiter is None:
            return _cold_start(spec, index)
        if waiter.handed_over.wait(spec.timeout_seconds):
            return waiter.container
        with self._pool_lock:
            if waiter.container is None:
                self._waiting[name].remove(waiter)
            return waiter.container

    def _check_in(self, spec: FunctionSpec, handler: Handler) -> None:
        """Hand the container to the longest waiter, or keep it idle for the next invocation."""
        with self._pool_lock:
            if self._waiting[spec.logical_name]:
                waiter = self._waiting[spec.logical_name].popleft()
                waiter.container = handler
                waiter.handed_over.set()
            else:
                self._idle[spec.logical_name].append(handler)

    def invoke(self, function_name: str, payload: bytes) -> Invocation:
        """Run one invocation the way Lambda would, including its error contract and its timeout.

        As in Lambda, the timeout counts from when a container starts running the invocation: waiting for a free
        container or for a cold start is not the function's time. ``before_invoke`` hooks (fault injection) run
        inside that time, as a slow dependency of the function would.
        """
        spec = self._functions.get(function_name_from(function_name))
        if spec is None:
            return _service_error(404, "ResourceNotFoundException", f"Function not found: {function_name}")
        with self._count_lock:
            self.invocations[spec.logical_name] += 1
        context = LocalLambdaContext(
            function_name=spec.logical_name,
            invoked_function_arn=function_arn(spec.logical_name),
            memory_limit_in_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
        )
        try:
            event = json.loads(payload or b"{}")
        except json.JSONDecodeError as error:
            return _function_error("Runtime.UnmarshalError", f"Unable to unmarshal input: {error}", context)
        try:
            handler = self._check_out(spec)
            if handler is None:
                return _throttled(spec)
            context.started = time.monotonic()
            try:
                for hook in self.before_invoke:
                    hook(spec, event)
                result = handler(event, context)
            finally:
                self._check_in(spec, handler)
        except Exception as error:
            log.debug("%s failed: %s", spec.logical_name, error, exc_info=True)
            if context.get_remaining_time_in_millis() == 0:
                return _timed_out(spec, context)
            return _function_error(type(error).__name__, str(error), context, error)
        if context.get_remaining_time_in_millis() == 0:
            return _timed_out(spec, context)
        try:
            return Invocation(payload=json.dumps(result).encode())
        except (TypeError, ValueError) as error:
            return _function_error("Runtime.MarshalError", f"Unable to marshal response: {error}", context)

    def _answer_invoke(self, model: Any, params: Mapping[str, Any], **_: Any) -> tuple[AWSResponse, dict]:
        function_name = unquote(params["url_path"].split("/functions/", 1)[1].split("/", 1)[0])
        invocation_type = params.get("headers", {}).get("X-Amz-Invocation-Type", "RequestResponse")
        body = params.get("body") or b"{}"
        if isinstance(body, str):
            body = body.encode()
        if invocation_type == "Event":
            threading.Thread(target=self.invoke, args=(function_name, body), daemon=True).start()
            return _response(Invocation(payload=b"", status_code=202))
        return _response(self.invoke(function_name, body))


def _cold_start(spec: FunctionSpec, index: int) -> Handler:
    """Load a container: the first is the module itself, later ones are private copies of the handler module."""
    module = importlib.import_module(spec.module)
    if index > 0:
        copy_spec = importlib.util.spec_from_file_location(f"{spec.module}.__container_{index}", module.__file__)
        module = importlib.util.module_from_spec(copy_spec)
        copy_spec.loader.exec_module(module)
    return getattr(module, spec.attribute)


def _throttled(spec: FunctionSpec) -> Invocation:
    """What Invoke answers when a function has no concurrency left: 429, which the ASL's Retry names
    ``Lambda.TooManyRequestsException`` and API Gateway turns into a 500."""
    log.warning(
        "%s throttled: no container free (reserved concurrency %s)", spec.logical_name, spec.reserved_concurrency
    )
    return _service_error(429, "TooManyRequestsException", "Rate Exceeded.")


def _timed_out(spec: FunctionSpec, context: LocalLambdaContext) -> Invocation:
    """Lambda stops a function at its timeout; whatever it did after that never reaches the caller."""
    return _function_error("Sandbox.Timedout", f"Task timed out after {spec.timeout_seconds:.2f} seconds", context)


def _function_error(
    error_type: str, message: str, context: LocalLambdaContext, error: BaseException | None = None
) -> Invocation:
    body = {"errorMessage": message, "errorType": error_type, "requestId": context.aws_request_id}
    if error is not None:
        body["stackTrace"] = traceback.format_tb(error.__traceback__)
    return Invocation(payload=json.dumps(body).encode(), function_error="Unhandled")


def _service_error(status: int, code: str, message: str) -> Invocation:
    return Invocation(
        payload=json.dumps({"Type": "User", "Message": message, "Code": code}).encode(), status_code=status
    )


def _response(invocation: Invocation) -> tuple[AWSResponse, dict]:
    http = AWSResponse(url="local://lambda", status_code=invocation.status_code, headers={}, raw=None)
    parsed: dict[str, Any] = {
        "StatusCode": invocation.status_code,
        "ExecutedVersion": "$LATEST",
        "Payload": StreamingBody(io.BytesIO(invocation.payload), len(invocation.payload)),
        "ResponseMetadata": {"HTTPStatusCode": invocation.status_code, "RequestId": str(uuid.uuid4())},
    }
    if invocation.function_error:
        parsed["FunctionError"] = invocation.function_error
    if invocation.status_code >= 300:
        message = json.loads(invocation.payload)
        parsed["Error"] = {"Code": message["Code"], "Message": message["Message"]}
    return http, parsed


ROUTER_EVENT_ATTRIBUTES = ("current_event", "lambda_context")
"""What Powertools' resolver stores on its ``BaseRouter`` class, for every router to read, while it resolves."""

_router_events = threading.local()
_adapting_routers = threading.Lock()


class PowertoolsChangedError(RuntimeError):
    """Powertools no longer keeps the resolved event where ``keep_router_events_per_thread`` expects it."""


class _PerThread:
    """A data descriptor holding one value per thread: the thread's own invocation's event and context."""

    def __init__(self, name: str):
        self._name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        try:
            return _router_events.__dict__[self._name]
        except KeyError:
            raise AttributeError(f"no event has been resolved in this thread ({self._name})") from None

    def __set__(self, instance: object, value: Any) -> None:
        _router_events.__dict__[self._name] = value


class _RouterWithEventsPerThread(ABCMeta):
    """``BaseRouter``'s metaclass once adapted: ``BaseRouter.current_event = event``, as ``resolve`` writes it, and
    reads on the class go through these descriptors; reads on resolvers find the same descriptors on the class."""

    current_event = _PerThread("current_event")
    lambda_context = _PerThread("lambda_context")


def check_powertools_router_events(resolver: type[BaseRouter]) -> None:
    """Fail loudly when a Powertools release moves the resolved event: the adapter would then guard nothing.

    ``resolver.resolve`` must store each of ``ROUTER_EVENT_ATTRIBUTES`` on this ``BaseRouter``, and no class between
    the resolver and ``BaseRouter`` may define them (a definition there would hide the per-thread values).
    """
    resolve = resolver.resolve
    stored = {
        store.argval
        for load, store in itertools.pairwise(dis.get_instructions(resolve))
        if load.opname == "LOAD_GLOBAL" and load.argval == "BaseRouter" and store.opname == "STORE_ATTR"
    }
    where = resolve.__qualname__
    problems = [f"{where} no longer sets BaseRouter.{name}" for name in ROUTER_EVENT_ATTRIBUTES if name not in stored]
    if resolve.__globals__.get("BaseRouter") is not BaseRouter:
        problems.append(f"{where} stores its event on another BaseRouter than {BaseRouter.__module__}'s")
    problems += [
        f"{cls.__qualname__} defines {name} itself"
        for cls in resolver.__mro__
        if cls is not BaseRouter
        for name in ROUTER_EVENT_ATTRIBUTES
        if name in vars(cls)
    ]
    if type(BaseRouter) not in (ABCMeta, _RouterWithEventsPerThread):
        problems.append(f"BaseRouter's metaclass is {type(BaseRouter).__qualname__}, not ABCMeta")
    if problems:
        raise PowertoolsChangedError(
            "the local Lambda runner cannot keep Powertools' resolved events per container: " + "; ".join(problems)
        )


def keep_router_events_per_thread() -> None:
    """Powertools' resolver sets ``BaseRouter.current_event`` on the class, which every container's copy of a
    handler module shares: two API requests resolving at once in two containers read each other's event (its body,
    its authorizer's claims), and an order was recorded for another shopper. Every invocation runs in its caller's
    thread, so per-thread values are per-invocation, as a Lambda process's class attributes are."""
    with _adapting_routers:
        if type(BaseRouter) is _RouterWithEventsPerThread:
            return
        check_powertools_router_events(APIGatewayRestResolver)
        for name in ROUTER_EVENT_ATTRIBUTES:
            type.__setattr__(BaseRouter, name, _PerThread(name))
        BaseRouter.__class__ = _RouterWithEventsPerThread
