"""Who is calling, from the claims API Gateway's Cognito authorizer verified, and what they may touch.

The customer is always the ID token's ``sub``; nothing in a request body or query can name another one. Shoppers
see and cancel their own orders only, and another customer's order answers exactly as an unknown one does, so an
order id reveals nothing. Operators (the ``ops`` group) may read, list and cancel any order, but place none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from tasks.errors import ForbiddenError, OrderNotFoundError, UnauthenticatedError
from tasks.models.order import CustomerId
from workflows.resources import OPERATORS_GROUP

CUSTOMER_ID = TypeAdapter(CustomerId)


@dataclass(frozen=True)
class Principal:
    """The verified caller: the Cognito subject, and whether they are an operator."""

    subject: str
    is_operator: bool = False

    def require_shopper(self) -> None:
        """Orders belong to the shopper who places them, so an operator account places none."""
        if self.is_operator:
            raise ForbiddenError("operators do not place orders; sign in as a shopper")

    def may_touch(self, order: Mapping[str, Any]) -> bool:
        return self.is_operator or order.get("customerId") == self.subject

    def owned(self, order_id: str, order: Mapping[str, Any] | None) -> Mapping[str, Any]:
        """``order`` when this caller may touch it; otherwise the same error as for an unknown order id."""
        if order is None or not self.may_touch(order):
            raise OrderNotFoundError(f"order {order_id} does not exist")
        return order


def principal_from_claims(claims: Mapping[str, Any] | None) -> Principal:
    """The caller from ``requestContext.authorizer.claims``, as API Gateway's Cognito authorizer passes them.

    API Gateway (REST, payload v1) turns every claim into a string: ``cognito:groups`` arrives as ``"ops"``,
    ``"a,b"`` or ``"[a b]"``, depending on the path; a list is accepted too.

    Raises
    ------
    UnauthenticatedError
        No claims, or no usable ``sub``: the route was reached without a verified ID token.

    Example
    -------
    >>> principal_from_claims({"sub": "0f1e", "cognito:groups": "ops"})
    Principal(subject='0f1e', is_operator=True)
    >>> principal_from_claims({"sub": "0f1e"}).is_operator
    False
    """
    if not claims or claims.get("token_use", "id") != "id":
        raise UnauthenticatedError("sign in: this route needs a Cognito ID token in the Authorization header")
    subject = claims.get("sub")
    try:
        CUSTOMER_ID.validate_python(subject)
    except ValueError:
        raise UnauthenticatedError("the token's subject is not a customer id") from None
    return Principal(subject=subject, is_operator=OPERATORS_GROUP in _groups(claims.get("cognito:groups")))


def _groups(value: Any) -> set[str]:
    if isinstance(value, list | tuple):
        return {str(group) for group in value}
    if not isinstance(value, str):
        return set()
    return {group for group in value.strip("[]").replace(",", " ").split() if group}
