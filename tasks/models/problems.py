"""Turns pydantic's validation errors into messages that name the offending field, for tasks and the API alike."""

from __future__ import annotations

from pydantic import ValidationError


def field_path(location: tuple[int | str, ...]) -> str:
    """``("items", 0, "quantity")`` → ``items[0].quantity``.

    Example
    -------
    >>> field_path(("items", 0, "quantity"))
    'items[0].quantity'
    """
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(body)"


def field_problems(error: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[str]:
    """One ``field: message`` line per problem, without echoing the rejected value back.

    Example
    -------
    >>> from pydantic import BaseModel
    >>> class Line(BaseModel):
    ...     quantity: int
    >>> try:
    ...     Line.model_validate({})
    ... except ValidationError as error:
    ...     field_problems(error)
    ['quantity: Field required']
    """
    return [f"{field_path((*prefix, *issue['loc']))}: {issue['msg']}" for issue in error.errors()]
