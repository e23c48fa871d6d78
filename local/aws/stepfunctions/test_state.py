"""TestState: one state of an ASL definition evaluated once on moto's engine, and answered as AWS answers it.

The state is parsed and evaluated by moto's engine (``TestStateAmazonStateLanguageParser``, the parser moto keeps for
this call, which also records the inspection data); nothing here interprets ASL. What is added around it is what
the November 2025 TestState added, as AWS documents it:

- ``stateName``: the state is taken from a whole definition (a state inside a Parallel branch or a Map too, state
  names being unique in a machine), and inherits the machine's ``QueryLanguage``;
- ``mock``: ``result`` or ``errorOutput`` replaces the call a Task makes (through the engine's own mocked-response
  path, after its parameters are evaluated), or the branches or iterations of a Parallel or Map; a result is checked
  against the integration's output shape (``local.aws.stepfunctions.mock_results``);
- one attempt only: when a ``Retry`` would retry, the answer is ``RETRIABLE`` with the retrier's index and the
  backoff the engine computed, instead of a wait; ``stateConfiguration.retrierRetryCount`` says how many retries
  already happened, so a test reaches the exhausted retrier and the ``Catch`` behind it (``CAUGHT_ERROR``, with the
  catcher's ``Next`` as ``nextState``);
- ``variables`` and ``context`` (the context object, e.g. a Map iteration's ``Map.Item``) seed the evaluation.

A Map's ``mapIterationFailureCount`` and ``mapItemReaderData`` are refused as unsupported locally: moto's engine
applies no tolerated-failure threshold and reads no items, so there is nothing of its own to test them on.
"""

from __future__ import annotations

import copy
import datetime
import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from local.aws.moto.versions import require_supported_moto

require_supported_moto()

from antlr4 import CommonTokenStream, InputStream
from moto.stepfunctions.parser.api import (
    InvalidDefinition,
    InvalidExecutionInput,
    StateMachineType,
    ValidationException,
)
from moto.stepfunctions.parser.asl.antlr.runtime.ASLLexer import ASLLexer
from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.retry.retry_outcome import RetryOutcome
from moto.stepfunctions.parser.asl.component.state.choice.state_choice import StateChoice
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel import StateParallel
from moto.stepfunctions.parser.asl.component.state.exec.state_task.mock_eval_utils import eval_mocked_response
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ActivityResource,
    ResourceCondition,
    ServiceResource,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.component.state.fail.state_fail import StateFail
from moto.stepfunctions.parser.asl.component.state.state_pass.state_pass import StatePass
from moto.stepfunctions.parser.asl.component.state.state_succeed.state_succeed import StateSucceed
from moto.stepfunctions.parser.asl.component.state.wait.state_wait import StateWait
from moto.stepfunctions.parser.asl.eval.evaluation_details import AWSExecutionDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramState,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.asl.eval.states import ContextObjectData, ExecutionData, StateMachineData
from moto.stepfunctions.parser.asl.eval.test_state.environment import TestStateEnvironment
from moto.stepfunctions.parser.asl.eval.test_state.program_state import ProgramChoiceSelected
from moto.stepfunctions.parser.asl.parse.asl_parser import (
    AmazonStateLanguageParser,
    ASLParserException,
    SyntaxErrorListener,
)
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.parse.test_state.preprocessor import TestStatePreprocessor
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.mocking.mock_config import (
    MockedResponseReturn,
    MockedResponseThrow,
    MockTestCase,
    StateMockedResponses,
)

from local.aws.moto.endpoint import UnsupportedOperation
from local.aws.stepfunctions.mock_results import (
    FIELD_VALIDATION_MODES,
    STRICT,
    MockResultError,
    check_mock_result,
    operation_model,
)

INSPECTION_LEVELS = ("INFO", "DEBUG", "TRACE")
TEST_STATE_MACHINE_NAME = "TestState"
"""The state machine a tested state runs in, as far as its context object can tell."""
CONTEXT_FIELDS = ("Execution", "State", "StateMachine", "Task", "Map")
"""What a context object may hold (AWS's "Context object" page)."""
STATES_WITHOUT_MOCKS = {StatePass: "Pass", StateFail: "Fail", StateSucceed: "Succeed", StateChoice: "Choice"}
MOCK_ONLY_STATES = "TestState API does not support Map or Parallel states. Supported state types include: " + (
    "[Task, Wait, Pass, Succeed, Fail, Choice]"
)
UNSUPPORTED_CONFIGURATION = ("mapIterationFailureCount", "mapItemReaderData")
"""Map settings moto's engine has nothing to test on: it applies no tolerated-failure threshold and reads no items."""


class RetryPending(ProgramState):
    """The state failed and its ``Retry`` would try again: a TestState stops there and answers RETRIABLE."""


@dataclass
class StateTrial:
    """What one TestState call learns besides the engine's own program state: which retrier or catcher took the
    error, and how many retries happened before this attempt."""

    retrier_retry_count: int = 0
    error_details: dict[str, int] = field(default_factory=dict)
    error_output: dict[str, Any] | None = None
    caught: bool = False
    retry_wait_seconds: float | None = None


class TrialEnvironment(TestStateEnvironment):
    """moto's TestState environment, carrying the trial its retry and catch hooks write to."""

    trial: StateTrial

    def as_frame_of(self, env: Any, event_history_frame_cache: Any = None) -> Any:
        """moto's frames (a task's call runs in one) keep the context's Execution, StateMachine, Task and State;
        a tested state inside a Map keeps the iteration's ``Map.Item`` from the request's context too."""
        frame = super().as_frame_of(env=env, event_history_frame_cache=event_history_frame_cache)
        context = env.states.context_object.context_object_data
        if "Map" in context:
            frame.states.context_object.context_object_data["Map"] = copy.deepcopy(context["Map"])
        return frame

    def hold_for_retry(self) -> None:
        with self._state_mutex:
            self._program_state = RetryPending()
            self.program_state_event.set()
            self.program_state_event.clear()


# --- the request: which state, and what to evaluate it with -----------------------------------------------------------


def _refuse_invalid_value(value: Any, member: str, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(allowed)}]"
        )


def _json(text: str | None, what: str, default: Any, error: type[Exception] = ValidationException) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError as problem:
        raise error(f"Invalid {what}: {problem}") from None


def _states_of(machine: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state of a definition, those inside Parallel branches and Map processors included."""
    for name, state in (machine.get("States") or {}).items():
        if not isinstance(state, dict):
            continue
        yield name, state
        for branch in state.get("Branches") or []:
            if isinstance(branch, dict):
                yield from _states_of(branch)
        for processor in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(processor), dict):
                yield from _states_of(state[processor])


def state_definition(definition: str, state_name: str | None) -> dict[str, Any]:
    """The definition of the state to test: the whole ``definition``, or its state ``state_name``.

    Example
    -------
    >>> machine = '{"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}'
    >>> state_definition(machine, "A")
    {'Type': 'Pass', 'End': True, 'QueryLanguage': 'JSONata'}
    """
    parsed = _json(definition, "definition", None, InvalidDefinition)
    if not isinstance(parsed, dict):
        raise InvalidDefinition("Invalid State Machine Definition: the definition must be a JSON object")
    if state_name is None:
        return parsed
    try:
        AmazonStateLanguageParser.parse(definition)
    except ASLParserException as problem:
        raise InvalidDefinition(f"Invalid State Machine Definition: {problem!r}") from None
    except Exception as problem:
        raise InvalidDefinition(f"Invalid State Machine Definition: {problem}") from None
    state = next((copy.deepcopy(state) for name, state in _states_of(parsed) if name == state_name), None)
    if state is None:
        raise ValidationException(f"State '{state_name}' not found in the definition")
    if "QueryLanguage" in parsed and "QueryLanguage" not in state:
        state["QueryLanguage"] = parsed["QueryLanguage"]
    return state


class _OutermostStateUnderTest(TestStatePreprocessor):
    """moto's TestState preprocessor, which makes every state it meets the state under test, that of a Parallel
    branch or a Map processor too; here only the outermost one is, and the states inside stay plain states."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0

    def visitState_decl_body(self, ctx: ASLParser.State_decl_bodyContext) -> Any:  # noqa: N802 (antlr's name)
        if self._depth:
            return Preprocessor.visitState_decl_body(self, ctx)
        self._depth += 1
        try:
            return super().visitState_decl_body(ctx)
        finally:
            self._depth -= 1


def _test_state_program(definition: str) -> Any:
    """The state's TestState program, parsed as ``TestStateAmazonStateLanguageParser.parse`` parses it."""
    errors = SyntaxErrorListener()
    parser = ASLParser(CommonTokenStream(ASLLexer(InputStream(definition))))
    parser.removeErrorListeners()
    parser.addErrorListener(errors)
    tree = parser.state_decl_body()
    if errors.errors:
        raise ASLParserException(errors=errors.errors)
    return _OutermostStateUnderTest().visit(tree)


def _parsed_state(state: dict[str, Any]) -> Any:
    try:
        program = _test_state_program(json.dumps(state))
    except ASLParserException as problem:
        raise InvalidDefinition(f"Invalid State Machine Definition: {problem!r}") from None
    except Exception as problem:
        raise InvalidDefinition(f"Invalid State Machine Definition: {problem}") from None
    return program


def _mock_response(mock: Mapping[str, Any]) -> MockedResponseReturn | MockedResponseThrow:
    if "result" in mock and "errorOutput" in mock:
        raise ValidationException("A test mock should have only one of the following fields: [result, errorOutput].")
    if "result" in mock:
        return MockedResponseReturn(0, 0, _json(mock["result"], "mocked result", None, _MockedResultNotJson))
    error_output = mock.get("errorOutput")
    if not isinstance(error_output, Mapping) or not error_output.get("error"):
        raise ValidationException("A test mock needs a result, or an errorOutput with its error.")
    return MockedResponseThrow(0, 0, error_output["error"], error_output.get("cause") or "")


class _MockedResultNotJson(ValidationException):
    def __init__(self, _problem: str):
        super().__init__("Mocked result must be valid JSON")


def _check_mock(state: Any, state_json: Mapping[str, Any], mock: Mapping[str, Any], response: Any) -> None:
    """Refuse a mock the state cannot take, as AWS refuses it."""
    for state_type, name in STATES_WITHOUT_MOCKS.items():
        if isinstance(state, state_type):
            raise ValidationException(f"State type '{name}' is not supported when a mock is specified")
    if isinstance(state, StateWait):
        raise ValidationException("State type 'Wait' is not supported when a mock is specified")
    if isinstance(state, StateTask) and isinstance(state.resource, ActivityResource):
        raise UnsupportedOperation("TestState of an Activity task is not supported by the local AWS endpoint")
    _refuse_invalid_value(mock.get("fieldValidationMode"), "mock.fieldValidationMode", FIELD_VALIDATION_MODES)
    if not isinstance(response, MockedResponseReturn):
        return
    result = response.payload
    if isinstance(state, StateParallel):
        if not isinstance(result, list):
            raise ValidationException("Mocked result must be an array.")
        if len(result) != len(state_json.get("Branches") or []):
            raise ValidationException(
                "Mocked result must contain the same number of items as number of Parallel branches."
            )
    elif isinstance(state, StateMap):
        if "ResultWriter" in state_json and not isinstance(result, dict):
            raise ValidationException("Mocked result must be a JSON object.")
        if "ResultWriter" not in state_json and not isinstance(result, list):
            raise ValidationException("Mocked result must be an array.")
    elif isinstance(state, StateTaskService):
        _check_service_result(state, result, mock.get("fieldValidationMode") or STRICT)


def _check_service_result(state: StateTaskService, result: Any, mode: str) -> None:
    """The integration's output shape: the call's own, DescribeExecution's for ``states:startExecution.sync``, and
    none for a callback, whose result is whatever the callback sends."""
    resource: ServiceResource = state.resource
    service, action = state._get_boto_service_name(), state._get_boto_service_action()
    if resource.condition == ResourceCondition.WaitForTaskToken:
        return
    if resource.condition in (ResourceCondition.Sync, ResourceCondition.Sync2):
        if (service, action) != ("stepfunctions", "start_execution"):
            return
        action = "describe_execution"
    model = operation_model(service, action)
    try:
        check_mock_result(result, model.output_shape if model else None, mode, (service, action))
    except MockResultError as problem:
        raise ValidationException(str(problem)) from None


def _check_request(request: Mapping[str, Any], state: Any, mock: Mapping[str, Any] | None) -> None:
    _refuse_invalid_value(request.get("inspectionLevel"), "inspectionLevel", INSPECTION_LEVELS)
    configuration = request.get("stateConfiguration") or {}
    unsupported = [name for name in UNSUPPORTED_CONFIGURATION if name in configuration]
    if unsupported:
        raise UnsupportedOperation(
            f"TestState's stateConfiguration.{unsupported[0]} is not supported by the local AWS endpoint: moto's "
            "engine applies no tolerated-failure threshold and reads no items"
        )
    if configuration.get("retrierRetryCount", 0) < 0:
        raise ValidationException("stateConfiguration.retrierRetryCount must not be negative")
    if mock is None:
        if isinstance(state, StateMap | StateParallel):
            raise InvalidDefinition(MOCK_ONLY_STATES)
        if request.get("context") is not None:
            raise ValidationException("TestState takes a context object only when a mock is specified.")
        if isinstance(state, StateTask):
            _check_unmocked_task(state, request)
        return
    if request.get("revealSecrets"):
        raise ValidationException("TestState does not support RevealSecrets when a mock is specified.")


def _check_unmocked_task(state: StateTask, request: Mapping[str, Any]) -> None:
    resource = state.resource
    if isinstance(resource, ActivityResource) or getattr(resource, "condition", None) is not None:
        raise InvalidDefinition(
            "TestState supports an Activity task, or a .sync or .waitForTaskToken integration pattern, only when a "
            "mock is specified"
        )
    if not request.get("roleArn"):
        raise ValidationException("RoleArn must be specified when testing a Task state")


# --- the evaluation --------------------------------------------------------------------------------------------------


def _context(
    account: str, region: str, role_arn: str | None, state_input: Any, extra: Mapping[str, Any]
) -> ContextObjectData:
    name = str(uuid.uuid4())
    machine_arn = f"arn:aws:states:{region}:{account}:stateMachine:{TEST_STATE_MACHINE_NAME}"
    context = ContextObjectData(
        Execution=ExecutionData(
            Id=f"arn:aws:states:{region}:{account}:execution:{TEST_STATE_MACHINE_NAME}:{name}",
            Input=state_input,
            Name=name,
            RoleArn=role_arn,
            StartTime=datetime.datetime.now(tz=datetime.UTC).isoformat(),
        ),
        StateMachine=StateMachineData(Id=machine_arn, Name=TEST_STATE_MACHINE_NAME),
    )
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(context.get(key), dict):
            context[key].update(value)
        else:
            context[key] = copy.deepcopy(value)
    return context


def _context_object(request: Mapping[str, Any]) -> dict[str, Any]:
    context = _json(request.get("context"), "context object", {})
    if not isinstance(context, dict):
        raise ValidationException("Invalid Context object provided: it must be a JSON object")
    unknown = sorted(set(context) - set(CONTEXT_FIELDS))
    if unknown:
        raise ValidationException(f"Invalid Context object provided: Field '{unknown[0]}' is not allowed")
    return context


def _environment(request: Mapping[str, Any], account: str, region: str, state_input: Any) -> TrialEnvironment:
    role_arn = request.get("roleArn")
    env = TrialEnvironment(
        aws_execution_details=AWSExecutionDetails(account=account, region=region, role_arn=role_arn),
        execution_type=StateMachineType.STANDARD,
        context=_context(account, region, role_arn, state_input, _context_object(request)),
        event_history_context=EventHistoryContext.of_program_start(),
        activity_store={},
    )
    variables = _json(request.get("variables"), "variables", {})
    if not isinstance(variables, dict):
        raise ValidationException("Invalid variables: they must be a JSON object of names and values")
    for name, value in variables.items():
        env.variable_store.set(name, value)
    env.trial = StateTrial(retrier_retry_count=(request.get("stateConfiguration") or {}).get("retrierRetryCount", 0))
    return env


def evaluate_test_state(request: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
    """Evaluate one state once and answer with TestState's output.

    Parameters
    ----------
    request:
        TestState's input as botocore's model names it (``definition``, ``stateName``, ``input``, ``mock``...).
    account, region:
        Whose call it is, for the context object's ARNs.

    Returns
    -------
    dict
        ``status`` (SUCCEEDED, FAILED, RETRIABLE or CAUGHT_ERROR), ``output``, ``nextState``, ``error``, ``cause``,
        and ``inspectionData`` at the DEBUG and TRACE levels.

    Example
    -------
    >>> evaluate_test_state({"definition": '{"Type": "Pass", "Result": 1, "Next": "B"}'}, "123456789012", "us-east-1")
    {'status': 'SUCCEEDED', 'output': '1', 'nextState': 'B'}
    """
    state_json = state_definition(request["definition"], request.get("stateName"))
    program = _parsed_state(state_json)
    state = program.test_state
    mock = request.get("mock")
    _check_request(request, state, mock)
    state_input = _json(request.get("input"), "input", {}, InvalidExecutionInput)
    env = _environment(request, account, region, state_input)
    if mock is not None:
        response = _mock_response(mock)
        _check_mock(state, state_json, mock, response)
        env.mock_test_case = MockTestCase(
            TEST_STATE_MACHINE_NAME, "TestState", [StateMockedResponses(state.name, "mock", [response])]
        )
    program.eval(env)
    return _answer(env, request.get("inspectionLevel") or "INFO")


def _answer(env: TrialEnvironment, inspection_level: str) -> dict[str, Any]:
    outcome = env.program_state()
    trial = env.trial
    answer: dict[str, Any] = {}
    if isinstance(outcome, RetryPending):
        answer.update(status="RETRIABLE", error=trial.error_output["Error"], cause=trial.error_output["Cause"])
    elif isinstance(outcome, ProgramError):
        answer.update(status="FAILED", error=outcome.error.get("error"), cause=outcome.error.get("cause"))
    elif isinstance(outcome, ProgramTimedOut):
        answer.update(status="FAILED", error="States.Timeout", cause="The state ran longer than TestState's 5 minutes")
    else:
        answer["status"] = "CAUGHT_ERROR" if trial.caught else "SUCCEEDED"
        if trial.caught:
            answer.update(error=trial.error_output["Error"], cause=trial.error_output["Cause"])
        answer["output"] = to_json_str(env.states.get_input())
        if isinstance(outcome, ProgramChoiceSelected):
            answer["nextState"] = outcome.next_state_name
        elif not isinstance(outcome, ProgramEnded):
            answer["nextState"] = env.next_state_name
    if inspection_level != "INFO":
        answer["inspectionData"] = _inspection_data(env)
    return {key: value for key, value in answer.items() if value is not None}


def _inspection_data(env: TrialEnvironment) -> dict[str, Any]:
    data: dict[str, Any] = dict(env.inspection_data)
    variables = {**env.variable_store._outer_scope, **env.variable_store._inner_scope}
    if variables:
        data["variables"] = to_json_str(variables)
    if env.trial.error_details:
        data["errorDetails"] = dict(env.trial.error_details)
    return data


# --- the engine's hooks: one attempt, the retrier and catcher that took the error, mocked branches and iterations --


_trials = threading.local()
"""The trial whose retrier is being evaluated on this thread, if any: its wait is recorded instead of slept."""


class _RetryWaitOfATrial:
    """Stands in for ``time`` in moto's retrier: a TestState's retry wait is noted, every other one is waited."""

    def __init__(self, clock: Any):
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clock, name)

    def sleep(self, seconds: float) -> None:
        trial = getattr(_trials, "current", None)
        if trial is None:
            self._clock.sleep(seconds)
        else:
            trial.retry_wait_seconds = seconds


_handle_retry = ExecutionState._handle_retry
_handle_catch = ExecutionState._handle_catch


def _matching_index(handlers: list[Any], env: Any, failure_event: Any) -> int | None:
    for index, handler in enumerate(handlers):
        env.stack.append(failure_event.error_name)
        handler.error_equals.eval(env)
        if env.stack.pop():
            return index
    return None


def _retry_once(self: ExecutionState, env: Any, failure_event: Any) -> RetryOutcome:
    trial: StateTrial | None = getattr(env, "trial", None)
    if trial is None:
        return _handle_retry(self, env, failure_event)
    trial.error_output = self._construct_error_output_value(failure_event)
    index = _matching_index(self.retry.retriers, env, failure_event)
    if index is None:
        return RetryOutcome.NoRetrier
    trial.error_details["retryIndex"] = index
    retrier = self.retry.retriers[index]
    retrier.max_attempts._store_attempt_number(env, trial.retrier_retry_count - 1)
    retrier.backoff_rate._store_next_multiplier(env, retrier.backoff_rate.rate**trial.retrier_retry_count)
    _trials.current = trial
    try:
        outcome = _handle_retry(self, env, failure_event)
    finally:
        _trials.current = None
    if outcome == RetryOutcome.CanRetry:
        trial.error_details["retryBackoffIntervalSeconds"] = round(trial.retry_wait_seconds or 0)
        env.hold_for_retry()
    return outcome


def _catch_noted(self: ExecutionState, env: Any, failure_event: Any) -> None:
    trial: StateTrial | None = getattr(env, "trial", None)
    if trial is not None:
        index = _matching_index(self.catch.catchers, env, failure_event)
        if index is not None:
            trial.error_details["catchIndex"] = index
            trial.error_output = self._construct_error_output_value(failure_event)
            trial.caught = True
    _handle_catch(self, env, failure_event)


_evaluate_branches = StateParallel._eval_execution
_evaluate_iterations = StateMap._eval_execution


def _mocked_branches(self: StateParallel, env: Any) -> None:
    if not env.is_mocked_mode():
        _evaluate_branches(self, env)
        return
    env.stack.pop()
    eval_mocked_response(env=env, mocked_response=env.get_current_mocked_response())


def _mocked_iterations(self: StateMap, env: Any) -> None:
    if not env.is_mocked_mode():
        _evaluate_iterations(self, env)
        return
    env.stack.pop()
    eval_mocked_response(env=env, mocked_response=env.get_current_mocked_response())


def evaluate_test_states_one_attempt_at_a_time() -> None:
    """TestState evaluates one attempt: moto's retrier would sleep its backoff and try again, so for a TestState
    the retrier's wait is noted instead of slept and the run stops there (RETRIABLE), and the retrier and catcher
    that took the error are noted for ``inspectionData.errorDetails``. A mocked Parallel or Map state gives its mock
    as the branches' or iterations' result, as moto's engine already does for a mocked Task. Executions that are not
    TestState runs are untouched."""
    retrier_decl.time = _RetryWaitOfATrial(retrier_decl.time)
    ExecutionState._handle_retry = _retry_once
    ExecutionState._handle_catch = _catch_noted
    StateParallel._eval_execution = _mocked_branches
    StateMap._eval_execution = _mocked_iterations
