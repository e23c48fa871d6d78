"""StartSyncExecution and TestState on the local AWS endpoint: the one place they join moto's Step Functions API.

moto implements neither call (its server answered 500). They are added to moto's ``StepFunctionResponse``, the class
that answers every Step Functions request on the server and in-process, so both reach the same engine and state
machines as every other call. A refusal the local endpoint makes because it cannot do what AWS does is 400
``UnsupportedOperation``, as for every call moto lacks (``local.aws.moto.endpoint``).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from local.aws.moto.versions import require_supported_moto

require_supported_moto()

from moto import backend_index
from moto.core.responses import ActionResult
from moto.stepfunctions import urls as stepfunctions_urls
from moto.stepfunctions.responses import StepFunctionResponse

from local.aws.moto import install_adapters
from local.aws.moto.endpoint import UnsupportedOperation, refusal_as_unsupported
from local.aws.stepfunctions.sync_executions import start_sync_execution
from local.aws.stepfunctions.test_state import evaluate_test_state, evaluate_test_states_one_attempt_at_a_time

TEST_STATE_MEMBERS = (
    "definition",
    "roleArn",
    "input",
    "inspectionLevel",
    "revealSecrets",
    "variables",
    "stateName",
    "mock",
    "context",
    "stateConfiguration",
)
"""TestState's request members in botocore's model (``TestStateInput``)."""
SYNC_HOST = r"https?://sync-states\.(.+)\.amazonaws.com"
"""Where AWS answers StartSyncExecution and TestState: botocore prefixes the host with ``sync-`` (the model's
``endpoint.hostPrefix``)."""


def _start_sync_execution(self: StepFunctionResponse) -> ActionResult:
    return ActionResult(
        start_sync_execution(
            self.stepfunction_backend,
            self._get_param("stateMachineArn"),
            name=self._get_param("name"),
            execution_input=self._get_param("input"),
            trace_header=self._get_param("traceHeader"),
            included_data=self._get_param("includedData"),
        )
    )


def _test_state(self: StepFunctionResponse) -> Any:
    request = {member: self._get_param(member) for member in TEST_STATE_MEMBERS}
    try:
        answer = evaluate_test_state(
            {member: value for member, value in request.items() if value is not None},
            self.current_account,
            self.region,
        )
    except UnsupportedOperation as refusal:
        return refusal_as_unsupported(self, refusal.message)
    return ActionResult(answer)


_served = False
_serve_lock = threading.Lock()


def serve_sync_executions_and_test_state() -> None:
    """Answer StartSyncExecution and TestState on the local endpoint, as AWS documents them; moto had neither.

    Once per process, on top of moto's adapters (installed first if they are not yet). In-process (``mock_aws``, the
    workflow tests' stack) moto also answers on the ``sync-states`` host botocore sends these two calls to, so a
    default boto3 client reaches them there as it reaches AWS.

    Example
    -------
    >>> serve_sync_executions_and_test_state()  # then a Step Functions client can call test_state
    """
    global _served
    install_adapters()
    with _serve_lock:
        if _served:
            return
        _serve_once()
        _served = True


def _serve_once() -> None:
    StepFunctionResponse.start_sync_execution = _start_sync_execution
    StepFunctionResponse.test_state = _test_state
    evaluate_test_states_one_attempt_at_a_time()
    if SYNC_HOST not in stepfunctions_urls.url_bases:
        stepfunctions_urls.url_bases.append(SYNC_HOST)
        backend_index.backend_url_patterns.append(("stepfunctions", re.compile(SYNC_HOST)))
