"""A TestState mock's result checked against the output shape of the call its Task state makes, from botocore's model.

AWS checks ``mock.result`` against the API model of the integration (``mock.fieldValidationMode``): STRICT, the
default, wants every required field present and every present field of the right type; PRESENT checks only the
fields present; NONE nothing. A field the model does not know is accepted in every mode (a mocked ``lambda:invoke``
may carry ``SdkHttpMetadata``, as the real integration's result does). Field names are the integration's, which
capitalizes the model's first letter (``ExecutionArn`` for Step Functions' ``executionArn``).

The refusals read as AWS's: ``Mock result schema validation error: Field 'StatusCode' must be a number``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from botocore import xform_name
from botocore.exceptions import UnknownServiceError
from botocore.model import OperationModel, Shape
from botocore.session import get_session

STRICT, PRESENT, NONE = "STRICT", "PRESENT", "NONE"
FIELD_VALIDATION_MODES = (STRICT, PRESENT, NONE)
ANY_JSON_MEMBERS = {("lambda", "invoke", "Payload"), ("stepfunctions", "describe_execution", "Output")}
"""Members the integration hands over as JSON although the API's model calls them bytes or a string: ``lambda:invoke``'s
``Payload`` is the function's parsed output, and ``startExecution.sync:2``'s ``Output`` the child's."""
NUMBER_TYPES = ("integer", "long", "float", "double")
STRING_TYPES = ("string", "timestamp", "blob")


class MockResultError(ValueError):
    """The mocked result does not fit the integration's output shape; the message is AWS's."""


@functools.cache
def operation_model(service: str, action: str) -> OperationModel | None:
    """The botocore operation a service integration calls (``lambda``, ``invoke``), or None when botocore has none.

    Example
    -------
    >>> operation_model("stepfunctions", "start_execution").name
    'StartExecution'
    >>> operation_model("apigateway", "invoke") is None
    True
    """
    try:
        model = get_session().get_service_model(service)
    except UnknownServiceError:
        return None
    return next(
        (model.operation_model(name) for name in model.operation_names if xform_name(name) == action),
        None,
    )


def integration_cased(member: str) -> str:
    """A model member's name as the integration's result spells it.

    Example
    -------
    >>> integration_cased("executionArn"), integration_cased("StatusCode")
    ('ExecutionArn', 'StatusCode')
    """
    return member[:1].upper() + member[1:]


def check_mock_result(result: Any, output_shape: Shape | None, mode: str, operation: tuple[str, str]) -> None:
    """Refuse a mocked result that does not fit ``output_shape`` in ``mode``.

    Parameters
    ----------
    result:
        The mock's result, parsed from JSON.
    output_shape:
        The integration's output shape; None checks nothing (the call has no modeled output).
    mode:
        ``STRICT``, ``PRESENT`` or ``NONE``.
    operation:
        The integration's (service, action), for the members whose JSON the integration parses.

    Example
    -------
    >>> shape = operation_model("lambda", "invoke").output_shape
    >>> check_mock_result({"StatusCode": 200, "Payload": {"ok": True}}, shape, STRICT, ("lambda", "invoke"))
    >>> check_mock_result({"StatusCode": "200"}, shape, STRICT, ("lambda", "invoke"))
    Traceback (most recent call last):
    ...
    local.aws.stepfunctions.mock_results.MockResultError: Mock result schema validation error: Field 'StatusCode' \
must be a number
    """
    if mode == NONE or output_shape is None:
        return
    _check(result, output_shape, "result", mode == STRICT, operation)


def _refuse(problem: str) -> MockResultError:
    return MockResultError(f"Mock result schema validation error: {problem}")


def _check(value: Any, shape: Shape, field: str, strict: bool, operation: tuple[str, str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        _check_structure(value, shape, field, strict, operation)
    elif kind == "list":
        if not isinstance(value, list):
            raise _refuse(f"Field '{field}' must be an array")
        for item in value:
            _check(item, shape.member, field, strict, operation)
    elif kind == "map":
        if not isinstance(value, Mapping):
            raise _refuse(f"Field '{field}' must be an object")
        for item in value.values():
            _check(item, shape.value, field, strict, operation)
    elif kind in NUMBER_TYPES:
        _check_number(value, shape, field)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _refuse(f"Field '{field}' must be a boolean")
    elif kind in STRING_TYPES:
        _check_string(value, shape, field)


def _check_structure(value: Any, shape: Shape, field: str, strict: bool, operation: tuple[str, str]) -> None:
    if not isinstance(value, Mapping):
        raise _refuse(f"Field '{field}' must be an object")
    members = {integration_cased(name): member for name, member in shape.members.items()}
    if strict:
        for required in shape.required_members:
            if integration_cased(required) not in value:
                raise _refuse(f"Required field '{integration_cased(required)}' is missing")
    for name, item in value.items():
        member = members.get(name)
        if member is None or (*operation, name) in ANY_JSON_MEMBERS or member.type_name == "document":
            continue
        _check(item, member, name, strict, operation)


def _check_number(value: Any, shape: Shape, field: str) -> None:
    integral = shape.type_name in ("integer", "long")
    if isinstance(value, bool) or not isinstance(value, int | float) or (integral and not float(value).is_integer()):
        raise _refuse(f"Field '{field}' must be a number")
    if "min" in shape.metadata and value < shape.metadata["min"]:
        raise _refuse(f"Field '{field}' is less than the minimum value")
    if "max" in shape.metadata and value > shape.metadata["max"]:
        raise _refuse(f"Field '{field}' exceeds the maximum value")


def _check_string(value: Any, shape: Shape, field: str) -> None:
    if not isinstance(value, str):
        raise _refuse(f"Field '{field}' must be a string")
    if shape.enum and value not in shape.enum:
        raise _refuse(f"Field '{field}' is not an expected value")
    if "min" in shape.metadata and len(value) < shape.metadata["min"]:
        raise _refuse(f"Field '{field}' is smaller than the minimum length")
    if "max" in shape.metadata and len(value) > shape.metadata["max"]:
        raise _refuse(f"Field '{field}' exceeds the maximum length")
