"""The local stack's identity model: a Cognito user pool on the AWS endpoint, seeded users, and sign-in.

The local stack creates the pool at start-up (``provision_user_pool``); the CLI, the console and the tests find it
again by name on the same endpoint (``find_user_pool``) and sign in with InitiateAuth, exactly as against a deployed
pool. moto's Cognito issues RS256 ID tokens and serves the pool's JWKS, which the API Gateway emulation verifies.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from workflows.resources import OPERATORS_GROUP

LOCAL_USER_POOL_NAME = "orders-local-shoppers"
LOCAL_APP_CLIENT_NAME = "orders-local-app"
REFRESH_MARGIN_SECONDS = 60.0
"""A token this close to its expiry is renewed first, so it does not expire on its way to the API."""
LOCAL_PASSWORD = "Local-orders-1!"
"""The one documented password of every seeded local user (README). It exists only in the in-memory local pool."""


@dataclass(frozen=True)
class SeededUser:
    email: str
    groups: tuple[str, ...] = ()


SHOPPER_ADA = SeededUser("ada@example.com")
SHOPPER_GRACE = SeededUser("grace@example.com")
OPERATOR = SeededUser("ops@example.com", groups=(OPERATORS_GROUP,))
SEEDED_USERS: tuple[SeededUser, ...] = (SHOPPER_ADA, SHOPPER_GRACE, OPERATOR)


@dataclass(frozen=True)
class UserPool:
    """Where tokens come from: the pool, its app client and the region, as a deployed stack's outputs name them."""

    pool_id: str
    client_id: str
    region: str

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"


class UserPoolNotFoundError(LookupError):
    """No local user pool on that endpoint: the local stack is not running there."""


class SignInError(RuntimeError):
    """Cognito refused the sign-in (wrong password, unknown user, expired refresh token)."""


def provision_user_pool(cognito: Any, region: str, users: Iterable[SeededUser] = SEEDED_USERS) -> UserPool:
    """Create the pool, its public app client, the operators' group and the seeded users.

    The app client allows USER_PASSWORD_AUTH and refresh tokens, like the deployed stack's client, so the CLI signs
    in the same way against both.

    Example
    -------
    >>> pool = provision_user_pool(boto3.client("cognito-idp"), "us-east-1")  # doctest: +SKIP
    >>> pool.issuer  # doctest: +SKIP
    'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_…'
    """
    pool_id = cognito.create_user_pool(
        PoolName=LOCAL_USER_POOL_NAME,
        UsernameAttributes=["email"],
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=LOCAL_APP_CLIENT_NAME,
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"],
    )["UserPoolClient"]["ClientId"]
    cognito.create_group(UserPoolId=pool_id, GroupName=OPERATORS_GROUP, Description="operators: any order")
    for user in users:
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=user.email,
            UserAttributes=[{"Name": "email", "Value": user.email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=user.email, Password=LOCAL_PASSWORD, Permanent=True
        )
        for group in user.groups:
            cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=user.email, GroupName=group)
    return UserPool(pool_id, client_id, region)


def find_user_pool(cognito: Any, region: str) -> UserPool:
    """The local stack's pool and app client on the endpoint ``cognito`` talks to.

    Raises
    ------
    UserPoolNotFoundError
        The endpoint has no local pool (the stack is not running there).
    """
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    pool_id = next((pool["Id"] for pool in pools if pool["Name"] == LOCAL_USER_POOL_NAME), None)
    if pool_id is None:
        raise UserPoolNotFoundError(f"no user pool named {LOCAL_USER_POOL_NAME} on this endpoint")
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client_id = next((client["ClientId"] for client in clients if client["ClientName"] == LOCAL_APP_CLIENT_NAME), None)
    if client_id is None:
        raise UserPoolNotFoundError(f"user pool {pool_id} has no app client {LOCAL_APP_CLIENT_NAME}")
    return UserPool(pool_id, client_id, region)


@dataclass(frozen=True)
class Tokens:
    """What InitiateAuth returns, with the moment the ID token expires (seconds since the epoch)."""

    id_token: str
    refresh_token: str | None
    expires_at: float


def sign_in(cognito: Any, client_id: str, email: str, password: str, now: float) -> Tokens:
    """Sign in with USER_PASSWORD_AUTH, as the CLI does against the local pool and a deployed one.

    Example
    -------
    >>> tokens = sign_in(cognito, pool.client_id, "ada@example.com", LOCAL_PASSWORD, time.time())  # doctest: +SKIP
    """
    result = _initiate_auth(cognito, client_id, "USER_PASSWORD_AUTH", {"USERNAME": email, "PASSWORD": password})
    return Tokens(result["IdToken"], result.get("RefreshToken"), now + int(result["ExpiresIn"]))


def refresh(cognito: Any, client_id: str, refresh_token: str, now: float) -> Tokens:
    """New tokens from a refresh token; the refresh token itself stays the same."""
    result = _initiate_auth(cognito, client_id, "REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": refresh_token})
    return Tokens(result["IdToken"], result.get("RefreshToken", refresh_token), now + int(result["ExpiresIn"]))


def _initiate_auth(cognito: Any, client_id: str, flow: str, parameters: dict[str, str]) -> dict[str, Any]:
    try:
        response = cognito.initiate_auth(ClientId=client_id, AuthFlow=flow, AuthParameters=parameters)
    except ClientError as error:
        raise SignInError(error.response["Error"].get("Message") or error.response["Error"]["Code"]) from None
    if "AuthenticationResult" not in response:
        raise SignInError(f"Cognito asks for a challenge ({response.get('ChallengeName')}); sign in once elsewhere")
    return response["AuthenticationResult"]


class SignedInUser:
    """One user's current ID token: signed in on first use, refreshed before it expires, signed in again when the
    refresh is refused. Safe to share between threads.

    Example
    -------
    >>> ada = SignedInUser(cognito, pool.client_id, "ada@example.com")  # doctest: +SKIP
    >>> headers = {"Authorization": ada.id_token()}  # doctest: +SKIP
    """

    def __init__(
        self,
        cognito: Any,
        client_id: str,
        email: str,
        password: str = LOCAL_PASSWORD,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.email = email
        self._cognito, self._client_id, self._password = cognito, client_id, password
        self._clock = clock
        self._tokens: Tokens | None = None
        self._lock = threading.Lock()

    def id_token(self) -> str:
        """Raises ``SignInError`` when Cognito refuses both the refresh and the password."""
        with self._lock:
            now = self._clock()
            if self._tokens is None or now >= self._tokens.expires_at - REFRESH_MARGIN_SECONDS:
                self._tokens = self._renewed(now)
            return self._tokens.id_token

    @property
    def subject(self) -> str:
        """The user's ``sub``: the customer id the API records on their orders."""
        return unverified_claims(self.id_token())["sub"]

    def _renewed(self, now: float) -> Tokens:
        if self._tokens is not None and self._tokens.refresh_token:
            try:
                return refresh(self._cognito, self._client_id, self._tokens.refresh_token, now)
            except SignInError:
                pass
        return sign_in(self._cognito, self._client_id, self.email, self._password, now)


def unverified_claims(id_token: str) -> dict[str, Any]:
    """What one's own token says (whom it names), read without checking it: never a way to trust another's token.

    Example
    -------
    >>> unverified_claims("e30." + base64.urlsafe_b64encode(b'{"sub": "s-1"}').decode().rstrip("=") + ".sig")
    {'sub': 's-1'}
    """
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
