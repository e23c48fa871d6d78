"""A parsed AWS answer checked against its operation's output shape in botocore's model, as the SDKs know it.

The local endpoint's answers must be what AWS documents: every member of the answer is one the shape declares, of
the type botocore parses it to, and every required member is there.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.model import Shape

PARSED_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "timestamp": (datetime.datetime,),
    "integer": (int,),
    "long": (int,),
    "float": (float, int),
    "double": (float, int),
    "boolean": (bool,),
    "blob": (bytes,),
    "structure": (dict,),
    "list": (list,),
    "map": (dict,),
}


def shape_problems(answer: Mapping[str, Any], service: str, operation: str) -> list[str]:
    """What in ``answer`` (as boto3 returns it) the output shape of ``service``'s ``operation`` does not allow.

    Example
    -------
    >>> shape_problems({"status": "SUCCEEDED", "nextState": 3}, "stepfunctions", "TestState")
    ['nextState: int where the shape has string']
    """
    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    body = {key: value for key, value in answer.items() if key != "ResponseMetadata"}
    return _problems(body, model.output_shape, "")


def _problems(value: Any, shape: Shape, where: str) -> list[str]:
    expected = PARSED_TYPES.get(shape.type_name, (object,))
    if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
        return [f"{where}: {type(value).__name__} where the shape has {shape.type_name}"]
    if shape.type_name == "string" and shape.enum and value not in shape.enum:
        return [f"{where}: {value!r} is not one of {shape.enum}"]
    if shape.type_name == "list":
        return [problem for item in value for problem in _problems(item, shape.member, f"{where}[]")]
    if shape.type_name == "map":
        return [problem for key, item in value.items() for problem in _problems(item, shape.value, f"{where}.{key}")]
    if shape.type_name != "structure":
        return []
    problems = [
        f"{where}.{name}: required, missing".lstrip(".") for name in shape.required_members if name not in value
    ]
    for name, item in value.items():
        member = shape.members.get(name)
        path = f"{where}.{name}".lstrip(".")
        problems += [f"{path}: not in the shape"] if member is None else _problems(item, member, path)
    return problems
