"""What the AWS endpoint answers outside clients: StartExecution, ListExecutions, GetExecutionHistory, ResultPath.

The AWS endpoint answers outside clients (the AWS CLI, boto3) as AWS documents: a nameless StartExecution gets a
UUID name, an invalid name ``InvalidName``, and the engine's errors (``InvalidExecutionInput``, ...) their error
codes; GetExecutionHistory honours ``reverseOrder``, ``includeExecutionData`` and its pages; ListExecutions refuses
an unknown ``statusFilter``; and a ``ResultPath`` that cannot be applied fails with ``States.ResultPathMatchFailure``
in plain words instead of a Python ``TypeError``. A call moto does not implement, of any service, is refused with 400
``UnsupportedOperation`` that says so, instead of a 500 and a traceback in the log. In-process requests pass
``IN_PROCESS_INTERCEPTORS`` before moto answers them (the AWS-API fault rules are one).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from local.aws.moto.versions import installed_moto_version, require_supported_moto

require_supported_moto()

from botocore.awsrequest import AWSPreparedRequest
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse
from moto.stepfunctions.exceptions import InvalidToken, ValidationException
from moto.stepfunctions.parser.api import ExecutionStatus, HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent, FailureEventException
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.path.result_path import ResultPath
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

# --- the AWS endpoint as AWS documents it: StartExecution, GetExecutionHistory, ListExecutions, ResultPath ------------


_start_execution = StepFunctionsParserBackend.start_execution


def _start_execution_named_as_aws(
    self: StepFunctionsParserBackend,
    state_machine_arn: str,
    name: str | None = None,
    execution_input: str | None = None,
    trace_header: str | None = None,
) -> Any:
    if name is None:
        name = str(uuid.uuid4())
    else:
        self._validate_name(name)
    return _start_execution(self, state_machine_arn, name, execution_input, trace_header)


def name_executions_as_aws() -> None:
    """A nameless StartExecution gets a UUID name in AWS; moto named it ``None``, so the next nameless one failed
    with ExecutionAlreadyExists. moto's engine also accepted names AWS refuses (white space, brackets, ...)."""
    StepFunctionsParserBackend.start_execution = _start_execution_named_as_aws


EXECUTION_STATUSES = tuple(status.value for status in ExecutionStatus)
_list_executions = StepFunctionResponse.list_executions


def _list_executions_of_a_known_status(self: StepFunctionResponse) -> ActionResult:
    status = self._get_param("statusFilter")
    if status is not None and status not in EXECUTION_STATUSES:
        raise ValidationException(
            f"1 validation error detected: Value '{status}' at 'statusFilter' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(EXECUTION_STATUSES)}]"
        )
    if status == ExecutionStatus.PENDING_REDRIVE:
        raise ValidationException("The statusFilter PENDING_REDRIVE lists the executions of a Map Run: give mapRunArn")
    return _list_executions(self)


def refuse_unknown_status_filters() -> None:
    """ListExecutions with a status that does not exist is a ValidationException in AWS; moto listed nothing."""
    StepFunctionResponse.list_executions = _list_executions_of_a_known_status


HISTORY_PAGE_SIZE = 100
"""GetExecutionHistory's page when ``maxResults`` is absent or 0; 1000 is the most AWS returns at once."""
HISTORY_MAX_PAGE_SIZE = 1000
EXECUTION_DATA = frozenset(
    {"input", "inputDetails", "output", "outputDetails", "parameters", "assignedVariables", "assignedVariablesDetails"}
)
"""What ``includeExecutionData: false`` leaves out of each event: the inputs and outputs (a task's input is its
``parameters``) and the variables a state assigned from them, which carry task tokens and addresses."""


def _history_token(execution_arn: str, event_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"executionArn": execution_arn, "eventId": event_id}).encode()).decode()


def _event_id_of_token(token: str, execution_arn: str) -> int:
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        position = None
    if not isinstance(position, dict) or position.get("executionArn") != execution_arn:
        position = {}
    if not isinstance(position.get("eventId"), int):
        raise InvalidToken(f"the nextToken {token!r} is not a page of this execution's history")
    return position["eventId"]


def _without_execution_data(event: dict[str, Any]) -> dict[str, Any]:
    return {
        key: {field: value for field, value in details.items() if field not in EXECUTION_DATA}
        if key.endswith("EventDetails") and isinstance(details, dict)
        else details
        for key, details in event.items()
    }


def _execution_history_as_aws(self: StepFunctionResponse) -> ActionResult:
    execution_arn = self._get_param("executionArn")
    page_size = self._get_int_param("maxResults") or HISTORY_PAGE_SIZE
    if page_size > HISTORY_MAX_PAGE_SIZE:
        raise ValidationException(
            f"1 validation error detected: Value '{page_size}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value less than or equal to {HISTORY_MAX_PAGE_SIZE}"
        )
    reverse = self._get_bool_param("reverseOrder", False)
    events = sorted(
        self.stepfunction_backend.get_execution_history(execution_arn)["events"],
        key=lambda event: event["id"],
        reverse=reverse,
    )
    token = self._get_param("nextToken")
    if token:
        first = _event_id_of_token(token, execution_arn)
        events = [event for event in events if (event["id"] <= first if reverse else event["id"] >= first)]
    page, rest = events[:page_size], events[page_size:]
    if not self._get_bool_param("includeExecutionData", True):
        page = [_without_execution_data(event) for event in page]
    answer: dict[str, Any] = {"events": page}
    if rest:
        answer["nextToken"] = _history_token(execution_arn, rest[0]["id"])
    return ActionResult(answer)


def page_execution_histories_as_aws() -> None:
    """GetExecutionHistory in AWS returns pages of ``maxResults`` events, newest first with ``reverseOrder``, and
    without inputs and outputs with ``includeExecutionData: false``; moto ignored all four parameters.

    A page token names the next event by id, so the pages of a running execution neither skip nor repeat events.
    """
    StepFunctionResponse.get_execution_history = _execution_history_as_aws


_apply_result_path = ResultPath._eval_body
SHOWN_INPUT_CHARACTERS = 200


def _result_path_match_failure(env: Any, result_path: str, state_input: Any) -> FailureEventException:
    shown = json.dumps(state_input, ensure_ascii=False)
    if len(shown) > SHOWN_INPUT_CHARACTERS:
        shown = shown[:SHOWN_INPUT_CHARACTERS] + "..."
    error = StatesErrorNameType.StatesResultPathMatchFailure.to_name()
    cause = (
        f"Unable to apply ResultPath {result_path} to the input of state '{env.next_state_name}': "
        f"the path must lead through JSON objects, and the input is {shown}"
    )
    return FailureEventException(
        FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesResultPathMatchFailure),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(error=error, cause=cause)),
        )
    )


def _result_path_into_objects_only(self: ResultPath, env: Any) -> None:
    path = self.result_path_src
    state_input = env.states.get_input()
    if path not in (None, ResultPath.DEFAULT_PATH) and not isinstance(state_input, dict):
        raise _result_path_match_failure(env, path, state_input)
    try:
        _apply_result_path(self, env)
    except TypeError:
        raise _result_path_match_failure(env, path, state_input) from None


def fail_result_paths_in_plain_words() -> None:
    """A ResultPath such as ``$.error`` on an input that is not a JSON object (an execution started with
    ``"hello"``) is ``States.ResultPathMatchFailure`` in AWS's error names; moto failed the execution with
    ``States.Runtime`` and a Python ``TypeError`` as its cause, or silently dropped the result."""
    ResultPath._eval_body = _result_path_into_objects_only


# --- calls moto does not implement, of every service -----------------------------------------------------------------

LOG = logging.getLogger(__name__)


class UnsupportedOperation(ServiceException):
    """What the local endpoint answers for a call moto does not implement: a client error that names the call."""

    code = "UnsupportedOperation"


_dispatch_request = BaseResponse._dispatch


def refusal_as_unsupported(response: BaseResponse, message: str) -> tuple[int, dict[str, Any], Any]:
    """The answer to a call the local endpoint does not support: 400 ``UnsupportedOperation`` in the service's own
    protocol, and one line in the log.

    Example
    -------
    >>> status, headers, body = refusal_as_unsupported(response, "ImportTable is not supported")  # doctest: +SKIP
    >>> status  # doctest: +SKIP
    400
    """
    LOG.warning("%s", message)
    try:
        with warnings.catch_warnings():  # moto warns that no service model declares this error: AWS's models neither
            warnings.simplefilter("ignore")
            status, headers, body = response.serialized(ActionResult(UnsupportedOperation(message)))
    except Exception:  # a service moto serializes by hand: AWS's JSON error shape
        status, headers = 400, {"Content-Type": "application/x-amz-json-1.1"}
        body = json.dumps({"__type": UnsupportedOperation.code, "message": message})
    headers["status"] = status
    return status, headers, body


def _unsupported_call(response: BaseResponse, error: NotImplementedError) -> tuple[int, dict[str, Any], Any]:
    try:
        operation = response._get_action()
    except Exception:  # the request names no operation moto's model knows
        operation = None
    service = response.boto3_service_name or "this service"
    message = (
        f"{operation or 'This call'} of {service} is not supported by the local AWS endpoint "
        f"(moto {installed_moto_version()}: {error})"
    )
    return refusal_as_unsupported(response, message)


def _dispatch_or_refuse_unsupported(
    self: BaseResponse, request: Any, full_url: str | None = None, headers: Any = None
) -> Any:
    try:
        return _dispatch_request(self, request, full_url, headers)
    except NotImplementedError as error:
        return _unsupported_call(self, error)


def refuse_unsupported_calls() -> None:
    """A call moto does not implement (``ValidateStateMachineDefinition``, DynamoDB's ``ImportTable``...) or a feature
    of one it does not support raised ``NotImplementedError``: the server answered 500, which the AWS CLI retried four
    times, and logged a traceback for each try. It is a client error in AWS's terms: 400 ``UnsupportedOperation``,
    with a message that names the call and says it is not supported locally, and one line in the log.

    Every service's requests pass through ``BaseResponse._dispatch``, on the server and in-process alike.
    """
    BaseResponse._dispatch = _dispatch_or_refuse_unsupported


# --- in-process requests pass interceptors first ---------------------------------------------------------------------

InProcessAnswer = tuple[int, dict[str, Any], str | bytes]
Deliver = Callable[[AWSPreparedRequest], InProcessAnswer | None]
RequestInterceptor = Callable[[AWSPreparedRequest, Deliver], InProcessAnswer | None]
IN_PROCESS_INTERCEPTORS: list[RequestInterceptor] = []
"""Called with every request moto answers in-process and a function that delivers a request to moto, in order; each
may answer itself, change what it delivers, or raise a botocore ``HTTPClientError`` (a timeout) instead. The AWS-API
fault rules (``local.endpoint.aws_faults``) are one."""

_process_request = BotocoreStubber.process_request


def _process_request_through_interceptors(self: BotocoreStubber, request: AWSPreparedRequest) -> Any:
    deliver: Deliver = functools.partial(_process_request, self)
    for interceptor in reversed(IN_PROCESS_INTERCEPTORS):
        deliver = functools.partial(_intercepted, interceptor, deliver)
    return deliver(request)


def _intercepted(interceptor: RequestInterceptor, deliver: Deliver, request: AWSPreparedRequest) -> Any:
    return interceptor(request, deliver)


def let_interceptors_answer_in_process() -> None:
    """Every in-process call reaches moto through ``BotocoreStubber.process_request``: ``mock_aws`` answers botocore's
    ``before-send`` with it, and so does ``local.endpoint.in_process`` for the stack's own calls. Interceptors see
    those requests there, whichever session made the client and whenever."""
    BotocoreStubber.process_request = _process_request_through_interceptors
