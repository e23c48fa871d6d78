"""Fixes that make moto's engine, DynamoDB and Cognito behave as AWS documents, one adapter each.

Fixes make moto behave as AWS does: its ``SendTaskFailure`` handler drops the ``cause``; it reports an expired
``HeartbeatSeconds`` as ``States.Timeout`` instead of ``States.HeartbeatTimeout``; StopExecution does not interrupt
a task waiting for its token; a callback fails while any other execution is starting; a callback that comes before
a task's heartbeat wait begins is missed; a stop at the wrong moment hands a wait the state's input as its timeout,
or kills a Parallel branch that has not begun; and its DynamoDB checks a condition and then writes without a lock,
so two threads (two Parallel branches, two concurrent API requests) could both pass one conditional write.
DynamoDB requests are therefore handled one at a time.

Nested executions (``states:startExecution``) pass and read their parameters in AWS's casing, a JSONPath state reads
its variables, a JSONPath Choice rule assigns them, and an Express state machine keeps AWS's limits.

The local user pool signs its tokens with a key made when this module is imported, not with the key moto ships, and
its ``USER_SRP_AUTH`` sign-in checks the password proof instead of accepting any.

An EventBridge rule delivers to its Lambda targets (moto raises ``NotImplementedError`` for them): each matching event,
after the target's input transformation, goes to ``LAMBDA_TARGET_LISTENERS``, which the local stack answers by
invoking the function asynchronously, as EventBridge does.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import threading
from collections.abc import Callable
from typing import Any

from local.aws.moto.versions import require_supported_moto

require_supported_moto()

import botocore.session
from botocore import xform_name
from joserfc.jwk import KeySet, RSAKey
from moto.cognitoidp.exceptions import InvalidParameterException, NotAuthorizedError, UserNotFoundError
from moto.cognitoidp.models import AuthFlow, CognitoIdpBackend, CognitoIdpUserPool
from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse
from moto.core.responses import EmptyResult
from moto.dynamodb.responses import DynamoHandler
from moto.events.models import Rule
from moto.events.utils import EventTemplateParser
from moto.stepfunctions.parser.api import (
    HistoryEventType,
    InvalidDefinition,
    StateMachineType,
    TaskTimedOutEventDetails,
)
from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.query_language import QueryLanguageMode
from moto.stepfunctions.parser.asl.component.common.string.string_expression import StringVariableSample
from moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat import HeartbeatSeconds
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.eval import environment
from moto.stepfunctions.parser.asl.eval.callback import callback
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends
from moto.stepfunctions.responses import StepFunctionResponse
from moto.utilities.arns import parse_arn

from local.aws.cognitoidp.srp import PasswordChallenge, ProofRefusedError


def _send_task_failure_with_cause(self: StepFunctionResponse) -> EmptyResult:
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


def keep_send_task_failure_cause() -> None:
    """moto passes only the error of SendTaskFailure to the engine; AWS passes the cause too, and so do we."""
    StepFunctionResponse.send_task_failure = _send_task_failure_with_cause


_timeout_failure_event = StateTask._from_error


def _heartbeat_aware_failure_event(self: StateTask, env: Any, ex: Exception) -> FailureEvent:
    if not isinstance(ex, callback.HeartbeatTimeoutError):
        return _timeout_failure_event(self, env, ex)
    heartbeat_timeout = StatesErrorNameType.StatesHeartbeatTimeout
    return FailureEvent(
        env=env,
        error_name=StatesErrorName(typ=heartbeat_timeout),
        event_type=HistoryEventType.TaskTimedOut,
        event_details=EventDetails(
            taskTimedOutEventDetails=TaskTimedOutEventDetails(error=heartbeat_timeout.to_name())
        ),
    )


def name_heartbeat_timeouts() -> None:
    """An expired HeartbeatSeconds is ``States.HeartbeatTimeout`` in AWS; moto calls every timeout States.Timeout."""
    StateTask._from_error = _heartbeat_aware_failure_event


_dynamodb_lock = threading.RLock()
_handle_dynamodb_request = DynamoHandler.call_action


def _one_dynamodb_request_at_a_time(self: DynamoHandler) -> Any:
    with _dynamodb_lock:
        return _handle_dynamodb_request(self)


def make_dynamodb_writes_atomic() -> None:
    """A conditional write is atomic in DynamoDB; moto's in-memory tables need a lock to be so across threads."""
    DynamoHandler.call_action = _one_dynamodb_request_at_a_time


_stop_program = environment.Environment.set_stop


def _stop_and_interrupt_callbacks(self: environment.Environment, stop_date: Any, cause: Any, error: Any) -> None:
    _stop_program(self, stop_date=stop_date, cause=cause, error=error)
    for endpoint in list(self.callback_pool_manager._pool.values()):
        endpoint.interrupt_all()


_fail_program = environment.Environment.set_error


def _fail_unless_stopped(self: environment.Environment, error: Any) -> None:
    with self._state_mutex:
        if isinstance(self._program_state, ProgramStopped):
            return
        _fail_program(self, error=error)


def interrupt_callbacks_on_stop() -> None:
    """StopExecution aborts a task waiting for its token at once in AWS; moto waits until the timeout or heartbeat.

    The interrupted wait then fails its task, and moto would let that failure turn the stopped execution FAILED;
    in AWS it stays ABORTED.
    """
    environment.Environment.set_stop = _stop_and_interrupt_callbacks
    environment.Environment.set_error = _fail_unless_stopped


_set_up_heartbeat_endpoint = callback.CallbackEndpoint.setup_heartbeat_endpoint


def _heartbeat_endpoint_told_of_an_earlier_callback(
    self: callback.CallbackEndpoint, heartbeat_seconds: int
) -> callback.HeartbeatEndpoint:
    heartbeat_endpoint = _set_up_heartbeat_endpoint(self, heartbeat_seconds)
    if self._notify_event.is_set():
        heartbeat_endpoint.notify()
    return heartbeat_endpoint


def carry_early_callbacks_into_heartbeat_waits() -> None:
    """A task with HeartbeatSeconds sets up its heartbeat wait only after its Lambda returned, and a callback that
    arrived in between told no heartbeat wait: the task waited out HeartbeatSeconds, then failed with
    States.HeartbeatTimeout although its outcome was there. The new heartbeat wait now starts notified of it.

    The callback records its outcome before it looks for a heartbeat wait, and the set-up makes the wait before it
    looks for an outcome, so one of the two always sees the other.
    """
    callback.CallbackEndpoint.setup_heartbeat_endpoint = _heartbeat_endpoint_told_of_an_earlier_callback


_evaluate_component = TimeoutSeconds.eval


def _declared_seconds_even_when_stopped(self: TimeoutSeconds | HeartbeatSeconds, env: Any) -> None:
    depth = len(env.stack)
    _evaluate_component(self, env)
    if len(env.stack) == depth:
        self._eval_body(env)


def evaluate_declared_timeouts_after_a_stop() -> None:
    """A task reads its TimeoutSeconds and HeartbeatSeconds by evaluating them, then popping the stack; moto skips
    every evaluation once the execution has stopped, so a stop at that moment made the pop take the state's input,
    and a wait got that dict as its timeout (the ``.sync:2`` callback thread died of the TypeError). A declared
    number does not depend on the execution's state, so it is pushed whatever that state."""
    TimeoutSeconds.eval = _declared_seconds_even_when_stopped
    HeartbeatSeconds.eval = _declared_seconds_even_when_stopped


_executions_of = StepFunctionsParserBackend._get_executions


def _executions_with_a_running_worker(self: StepFunctionsParserBackend, execution_status: Any = None) -> list[Any]:
    return [
        execution
        for execution in _executions_of(self, execution_status)
        if getattr(execution.exec_worker, "env", None) is not None
    ]


def skip_starting_executions_in_callbacks() -> None:
    """A callback (SendTaskSuccess, -Failure, -Heartbeat) looks for its token in every execution's environment;
    moto lists an execution as RUNNING before its worker thread has built that environment, and the callback then
    fails with AttributeError (a 500) whenever some other order is just starting. An execution without an
    environment cannot have issued the token, so the callbacks skip it."""
    StepFunctionsParserBackend._get_executions = _executions_with_a_running_worker


# --- nested executions, variables and Express, as AWS runs them -------------------------------------------------


@functools.cache
def _operation_model(service: str, action: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    return next(model.operation_model(name) for name in model.operation_names if xform_name(name) == action)


_normalise_sfn_parameters = StateTaskServiceSfn._normalise_parameters


def _sfn_parameters_as_boto(
    self: StateTaskServiceSfn,
    parameters: dict,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    _normalise_sfn_parameters(self, parameters, boto_service_name, service_action_name)
    operation = _operation_model(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
    )
    self._to_boto_request(parameters, operation.input_shape)


def _sfn_response_as_aws(
    self: StateTaskServiceSfn,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    operation = _operation_model(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
    )
    self._from_boto_response(response, operation.output_shape)
    for key, value in response.items():
        if isinstance(value, datetime.datetime):
            response[key] = value.isoformat()


NESTED_EXECUTION_POLL_SECONDS = 0.05
"""How often a ``.sync`` task asks whether its child has ended. moto asks every 0.5 s of real time, time
acceleration or not, which added up to half a second to every order; AWS learns of the end from an event at once."""


def case_nested_executions_as_aws() -> None:
    """``states:startExecution`` passes the ASL's ``StateMachineArn`` and ``Input`` to boto3 as they are, which knows
    them as ``stateMachineArn`` and ``input``: every nested execution failed with ``States.Runtime``. moto dropped the
    request and response translation of this integration; it is restored from botocore's shapes, so a ``.sync:2``
    result (and a failed child's cause) reads ``Output``, ``Status``, ``Error`` and ``Cause`` as in AWS. Its dates
    are written as moto writes them into a failed child's cause (ISO 8601), so a result is JSON either way. The
    parent asks for its child's end every ``NESTED_EXECUTION_POLL_SECONDS``."""
    StateTaskServiceSfn._normalise_parameters = _sfn_parameters_as_boto
    StateTaskServiceSfn._normalise_response = _sfn_response_as_aws
    state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK = NESTED_EXECUTION_POLL_SECONDS


_sample_variable = StringVariableSample._eval_body


def _variable_by_json_path(self: StringVariableSample, env: Any) -> None:
    if self.query_language_mode == QueryLanguageMode.JSONata:
        _sample_variable(self, env)
        return
    reference = self.expression[1:]
    split = min((reference.find(mark) for mark in ".[" if mark in reference), default=len(reference))
    name, path = reference[:split], reference[split:]
    value = env.variable_store.get(name)
    env.stack.append(copy.deepcopy(json_path.extract_json(f"${path}", value) if path else value))


def read_variables_in_json_path() -> None:
    """A JSONPath state reads a variable as ``$name`` or ``$name.field``. moto evaluates every reference with JSONata,
    whose evaluator it does not ship (moto#10105), so any read failed with ``TypeError``. In JSONPath mode the
    reference is the variable, then a path into it: that path goes to the engine's own JSONPath evaluation."""
    StringVariableSample._eval_body = _variable_by_json_path


_comparison_rule = Preprocessor.visitChoice_rule_comparison_variable


def _comparison_rule_with_its_assign(self: Preprocessor, ctx: ASLParser.Choice_rule_comparison_variableContext) -> Any:
    rule = _comparison_rule(self, ctx)
    if rule.assign is None:
        for statement in ctx.children:
            for child in getattr(statement, "children", None) or ():
                if isinstance(child, ASLParser.Assign_declContext):
                    rule.assign = self.visit(child)
    return rule


def assign_in_jsonpath_choice_rules() -> None:
    """A Choice rule such as ``{"Variable": "$x", "IsPresent": true, "Assign": {...}, "Next": "..."}`` assigns its
    variables when it matches, in JSONPath as in JSONata (RoutePreparationFailure's last rule names the child's
    error). moto's parser dropped the ``Assign`` of a JSONPath comparison rule (it kept those of ``And``, ``Or`` and
    ``Not`` rules), so the rule matched and assigned nothing."""
    Preprocessor.visitChoice_rule_comparison_variable = _comparison_rule_with_its_assign


EXPRESS_MAX_SECONDS = 300.0
"""An Express execution runs at most five minutes; AWS then ends it as TIMED_OUT."""
EXPRESS_REFUSED_PATTERNS = (".sync", ".sync:2", ".waitForTaskToken")
"""Express workflows support Request Response integrations only: a definition using a job or callback pattern is
refused at CreateStateMachine."""

_evaluate_program = Program.eval
_create_state_machine = StepFunctionsParserBackend.create_state_machine


def _runs_express(env: Any) -> bool:
    """moto records every execution's type as STANDARD (``sm_type``); its state machine keeps the type it was made
    with."""
    state_machine_arn = env.states.context_object.context_object_data["StateMachine"]["Id"]
    _, _, _, region, account, _ = state_machine_arn.split(":", 5)
    machine = stepfunctions_parser_backends[account][region].describe_state_machine(state_machine_arn)
    return machine.type == StateMachineType.EXPRESS


def _program_unless_stopped_before_it_began(self: Program, env: Any) -> None:
    """A Parallel branch runs its own program on a frame the Parallel state opened, and a stop reaches that frame
    too. Stopped before its program began, the branch failed to set its first state (moto raises RuntimeError for a
    state set on an environment that is no longer running): its thread died, and a Standard execution's Parallel
    state waited for that branch for ever, so the stopped execution never ended. Such a program has nothing to do."""
    try:
        _evaluate_program(self, env)
    except RuntimeError:
        if env.is_running():
            raise


def _program_within_express_limit(self: Program, env: Any) -> None:
    if not _runs_express(env):
        _program_unless_stopped_before_it_began(self, env)
        return
    evaluation = threading.Thread(target=_program_unless_stopped_before_it_began, args=(self, env), daemon=True)
    evaluation.start()
    evaluation.join(EXPRESS_MAX_SECONDS)
    if evaluation.is_alive():
        env.set_timed_out()


def _express_patterns(definition: str) -> list[str]:
    resources: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            resource = node.get("Resource")
            if node.get("Type") == "Task" and isinstance(resource, str):
                resources.append(resource)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(json.loads(definition))
    return [resource for resource in resources if resource.endswith(EXPRESS_REFUSED_PATTERNS)]


def _create_state_machine_as_aws(self: StepFunctionsParserBackend, *args: Any, **kwargs: Any) -> Any:
    if kwargs.get("sm_type") == StateMachineType.EXPRESS:
        refused = _express_patterns(kwargs.get("definition") or args[1])
        if refused:
            raise InvalidDefinition(
                f"Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Express state machine does not support "
                f"'{refused[0].rsplit(':', 1)[-1]}' service integration'"
            )
    return _create_state_machine(self, *args, **kwargs)


def keep_express_limits() -> None:
    """moto runs an Express state machine as a Standard one. Its executions now end TIMED_OUT after five minutes (of
    real time: moto's engine joins the execution's thread with a real timeout, so time acceleration does not shorten
    it), and a definition using ``.sync`` or ``.waitForTaskToken`` is refused, as AWS refuses it."""
    Program.eval = _program_within_express_limit
    StepFunctionsParserBackend.create_state_machine = _create_state_machine_as_aws


# --- the local user pool: a signing key of its own, and SRP that checks the password --------------------------------

SIGNING_KEY_ID = "dummy"
"""The ``kid`` moto writes into every token it signs (``CognitoIdpUserPool.create_jwt``); the local key takes it."""
SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": SIGNING_KEY_ID, "alg": "RS256", "use": "sig"})
"""Made when the local runtime starts (this module is imported once per process): nobody else holds it."""
_create_user_pool = CognitoIdpUserPool.__init__


def _create_user_pool_with_the_local_key(self: CognitoIdpUserPool, *args: Any, **kwargs: Any) -> None:
    _create_user_pool(self, *args, **kwargs)
    self.json_web_key = SIGNING_KEY


def sign_pool_tokens_with_a_key_of_this_process() -> None:
    """AWS signs a pool's tokens with a private key no one else has; moto signs with the key it ships
    (``moto/cognitoidp/resources/jwks-private.json``), which anyone can read, so anyone could mint an operator's
    token for the local API. Pools now sign with ``SIGNING_KEY``, and the pools' JWKS endpoint, which the local API
    Gateway authorizer reads, serves its public half instead of moto's shipped key."""
    CognitoIdpUserPool.__init__ = _create_user_pool_with_the_local_key
    CognitoIdpJsonWebKeyResponse.json_web_key = json.dumps(KeySet([SIGNING_KEY]).as_dict(private=False)).encode()


SRP_CHALLENGES: dict[str, PasswordChallenge] = {}
"""The open PASSWORD_VERIFIER challenges, by secret block: each is answered once, right or wrong."""
INCORRECT_PASSWORD = "Incorrect username or password."
_initiate_auth = CognitoIdpBackend.initiate_auth
_respond_to_auth_challenge = CognitoIdpBackend.respond_to_auth_challenge


def _initiate_auth_with_a_real_srp_challenge(
    self: CognitoIdpBackend, client_id: str, auth_flow: str, auth_parameters: dict[str, str]
) -> dict[str, Any]:
    answer = _initiate_auth(self, client_id, auth_flow, auth_parameters)
    if auth_flow != AuthFlow.USER_SRP_AUTH.value or answer.get("ChallengeName") != "PASSWORD_VERIFIER":
        return answer
    username, pool = self.sessions.pop(answer["Session"])
    user = self.admin_get_user(pool.id, username)
    try:
        challenge = PasswordChallenge.start(
            pool.id.split("_", 1)[1], user.id, user.password or "", int(auth_parameters["SRP_A"], 16)
        )
    except ValueError:
        raise InvalidParameterException("SRP_A is not a valid SRP value") from None
    secret_block = challenge.secret_block_text
    self.sessions[secret_block] = (username, pool)
    SRP_CHALLENGES[secret_block] = challenge
    return {
        **answer,
        "Session": secret_block,
        "ChallengeParameters": {**answer["ChallengeParameters"], **challenge.parameters()},
    }


def _respond_with_a_checked_password_proof(
    self: CognitoIdpBackend, session: str, client_id: str, challenge_name: str, challenge_responses: dict[str, str]
) -> dict[str, Any]:
    if challenge_name == "PASSWORD_VERIFIER":
        secret_block = challenge_responses.get("PASSWORD_CLAIM_SECRET_BLOCK") or ""
        challenge, started = SRP_CHALLENGES.pop(secret_block, None), self.sessions.get(secret_block)
        if challenge is None or started is None:
            raise NotAuthorizedError(INCORRECT_PASSWORD)
        username, pool = started
        try:
            claimed = self.admin_get_user(pool.id, challenge_responses.get("USERNAME") or "")
            if claimed.id != challenge.user_id:
                raise ProofRefusedError("the proof is for another user")
            challenge.check(
                challenge_responses.get("PASSWORD_CLAIM_SIGNATURE") or "", challenge_responses.get("TIMESTAMP") or ""
            )
        except (ProofRefusedError, UserNotFoundError):
            del self.sessions[secret_block]
            raise NotAuthorizedError(INCORRECT_PASSWORD) from None
        challenge_responses = {**challenge_responses, "USERNAME": username}
    return _respond_to_auth_challenge(self, session, client_id, challenge_name, challenge_responses)


def check_srp_password_proofs() -> None:
    """With ``USER_SRP_AUTH`` (Amplify's and amazon-cognito-identity-js's default) moto answered a random salt and
    ``B`` and then issued tokens for any proof, so a wrong password signed in. The challenge now carries a real salt,
    ``B`` and secret block (``local.aws.cognitoidp.srp``), and RespondToAuthChallenge checks the proof: a wrong
    password, or a proof for another user than the one who started, is ``NotAuthorizedException`` as in AWS. The
    user is signed in under the name InitiateAuth gave, as with USER_PASSWORD_AUTH: moto took the challenge's
    internal user name, so the ID token's ``email`` claim held the ``sub``."""
    CognitoIdpBackend.initiate_auth = _initiate_auth_with_a_real_srp_challenge
    CognitoIdpBackend.respond_to_auth_challenge = _respond_with_a_checked_password_proof


# --- EventBridge: rules deliver to Lambda targets ---------------------------------------------------------------------

LambdaTargetListener = Callable[[dict[str, Any], dict[str, Any]], None]
"""Called with the target (as PutTargets stored it: ``Arn``, ``RetryPolicy``, …) and the event it receives. Listeners
run inside PutEvents, on the caller's thread: they must hand the event on and return, never invoke the function."""
LAMBDA_TARGET_LISTENERS: list[LambdaTargetListener] = []
_send_to_targets = Rule.send_to_targets


def _is_lambda_target(target: dict[str, Any]) -> bool:
    return parse_arn(target["Arn"]).service == "lambda"


def _send_to_targets_and_lambda_functions(
    self: Rule, original_event: dict[str, Any], transform_input: bool = True
) -> None:
    functions = [target for target in self.targets if _is_lambda_target(target)]
    if functions and self.event_pattern.matches_event(original_event):
        for target in functions:
            transformer = target.get("InputTransformer", {})
            event = (
                EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=original_event,
                )
                if transform_input
                else copy.deepcopy(original_event)
            )
            for listener in list(LAMBDA_TARGET_LISTENERS):
                listener(target, event)
    others = [target for target in self.targets if not _is_lambda_target(target)]
    if others:
        without_functions = copy.copy(self)
        without_functions.targets = others
        _send_to_targets(without_functions, original_event, transform_input)


def deliver_rule_events_to_lambda_targets() -> None:
    """moto's rules deliver to logs, archives, queues, buses and API destinations; for a function they raise
    ``NotImplementedError`` inside PutEvents, which failed the caller's whole call. Its Lambda targets now receive
    their events through ``LAMBDA_TARGET_LISTENERS``, and its other targets as before."""
    Rule.send_to_targets = _send_to_targets_and_lambda_functions
