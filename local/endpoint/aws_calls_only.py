"""The AWS endpoint answers AWS API calls only: moto's own ``/moto-api/`` routes and unsigned calls are refused.

moto in server mode also serves ``/moto-api/``: its request recorder (which writes every call, passwords and tokens
included, to ``./moto_recording``), seeding and reset. A web page reaches those with an ``<img>`` or a form, which
send no ``Origin`` for ``LoopbackGuard`` to refuse. AWS itself answers no such route and no unsigned call, so this
endpoint does the same. The exceptions are the ones AWS makes too: the user pool's public keys (a plain GET) and the
Cognito user-pool operations a browser calls without AWS credentials. Pages of the storefront origins
(``ORDERS_CORS_ORIGINS``) may make the sign-in ones of those, with CORS (``browser_sign_in``); no other call.

Only a signature in the ``Authorization`` header counts: moto checks no signature, and no page can set that header
on another site's request. A signature in the query string (a presigned URL) is refused: a page can write one into
any ``<img>`` or form, and the local stack makes no presigned URLs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from local.endpoint.listener import BrowserCalls, log_refusal

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MOTO_API_PREFIX = "/moto-api"
SIGV4_AUTHORIZATION = "AWS4-HMAC-SHA256 "
PUBLIC_KEYS_SUFFIX = "/.well-known/jwks.json"
UNSIGNED_COGNITO_TARGETS = frozenset(
    f"AWSCognitoIdentityProviderService.{operation}"
    for operation in (
        "InitiateAuth",
        "RespondToAuthChallenge",
        "GetUser",
        "GlobalSignOut",
        "RevokeToken",
        "SignUp",
        "ConfirmSignUp",
        "ForgotPassword",
        "ConfirmForgotPassword",
        "ChangePassword",
    )
)
"""The user-pool operations AWS serves without a signature: the caller's token or password is its credential."""
BROWSER_SIGN_IN_TARGETS = frozenset(
    f"AWSCognitoIdentityProviderService.{operation}"
    for operation in ("InitiateAuth", "RespondToAuthChallenge", "GetUser", "GlobalSignOut", "RevokeToken")
)
"""What amazon-cognito-identity-js calls to sign in (SRP or password), refresh, read the user and sign out."""
BROWSER_SIGN_IN_HEADERS = ("content-type", "x-amz-target", "x-amz-user-agent", "cache-control")
"""The headers amazon-cognito-identity-js (and Amplify Auth) set on each user-pool call."""


def browser_sign_in_call(environ: dict[str, Any]) -> bool:
    """A user-pool sign-in call as a browser makes it: an unsigned POST to ``/`` with one of the sign-in targets.

    Example
    -------
    >>> target = "AWSCognitoIdentityProviderService.GetUser"
    >>> browser_sign_in_call({"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_X_AMZ_TARGET": target})
    True
    """
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and environ.get("PATH_INFO", "/") == "/"
        and "HTTP_AUTHORIZATION" not in environ
        and environ.get("HTTP_X_AMZ_TARGET") in BROWSER_SIGN_IN_TARGETS
    )


def browser_sign_in(origins: Iterable[str]) -> BrowserCalls:
    """The calls pages of the storefront ``origins`` may make to the AWS endpoint: the Cognito sign-in calls.

    Example
    -------
    >>> guard = LoopbackGuard(app, same_origin_only=True, browser_calls=browser_sign_in(origins))  # doctest: +SKIP
    """
    return BrowserCalls(
        frozenset(origins),
        browser_sign_in_call,
        "the Cognito sign-in calls (InitiateAuth, RespondToAuthChallenge, GetUser, GlobalSignOut, RevokeToken)",
        BROWSER_SIGN_IN_HEADERS,
        exposed_headers=("x-amzn-ErrorType", "x-amzn-RequestId"),
    )


def refusal(environ: dict[str, Any]) -> str | None:
    """Why the AWS endpoint refuses this request, or None for an AWS API call it answers.

    Example
    -------
    >>> refusal({"PATH_INFO": "/moto-api/recorder/start-recording", "REQUEST_METHOD": "GET"})
    "moto's own API is not served here: this endpoint answers AWS API calls only"
    >>> refusal({"PATH_INFO": "/", "REQUEST_METHOD": "POST", "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=x"})
    """
    path = environ.get("PATH_INFO", "")
    if path == MOTO_API_PREFIX or path.startswith(f"{MOTO_API_PREFIX}/"):
        return "moto's own API is not served here: this endpoint answers AWS API calls only"
    if environ.get("HTTP_AUTHORIZATION", "").startswith(SIGV4_AUTHORIZATION):
        return None
    if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and path.endswith(PUBLIC_KEYS_SUFFIX):
        return None
    if environ.get("HTTP_X_AMZ_TARGET") in UNSIGNED_COGNITO_TARGETS:
        return None
    if "x-amz-signature=" in environ.get("QUERY_STRING", "").lower():
        return "presigned URLs are not served here: any page can write one; sign in the Authorization header"
    return "the request is not signed: AWS API calls carry an AWS Signature Version 4 (any AWS SDK or the AWS CLI)"


class AwsCallsOnly:
    """WSGI middleware in front of moto's server: refused requests get 403 and never reach moto.

    Example
    -------
    >>> app = AwsCallsOnly(DomainDispatcherApplication(create_backend_app))  # doctest: +SKIP
    """

    def __init__(self, app: WsgiApp):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        reason = refusal(environ)
        if reason is None:
            return self.app(environ, start_response)
        log_refusal("the AWS endpoint", environ, reason)
        body = json.dumps({"__type": "MissingAuthenticationTokenException", "message": reason}).encode()
        start_response(
            "403 Forbidden",
            [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("x-amzn-ErrorType", "MissingAuthenticationTokenException"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]
