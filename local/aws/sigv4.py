"""SigV4 for the IAM routes of the local API: the warehouse and health probes sign, the emulation verifies.

Signing and verifying both use botocore's own ``SigV4Auth``: the verifier rebuilds the canonical request from what
arrived and recomputes the signature with the caller's secret, as API Gateway does. No crypto is written here.
The canonical request carries the SHA-256 of the body that arrived, never a hash the client declares: a body swapped
under a valid signature no longer matches it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from local.aws.awslambda.runner import LOCAL_ACCOUNT_ID, LOCAL_REGION

SERVICE = "execute-api"
EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com$")
MAX_CLOCK_SKEW_SECONDS = 15 * 60
"""API Gateway refuses a signature dated more than 15 minutes from its own clock."""
SIGNATURE_MISMATCH = "The request signature we calculated does not match the signature you provided."
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<headers>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class LocalPrincipal:
    """An IAM principal of the local stack: its ARN and its long-term credentials."""

    arn: str
    access_key: str
    secret_key: str

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.access_key, self.secret_key)


WAREHOUSE = LocalPrincipal(
    arn=f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/orders-local-warehouse",
    access_key="LOCALWAREHOUSEKEY",
    secret_key="local-warehouse-secret",
)
"""The warehouse's role: the only principal the shipment route admits (the resource policy in AWS)."""
OPERATOR = LocalPrincipal(
    arn=f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:user/orders-local-operator",
    access_key="local",
    secret_key="local",
)
"""The credentials the README exports for the local AWS endpoint; they may call the health probe."""
LOCAL_PRINCIPALS: tuple[LocalPrincipal, ...] = (WAREHOUSE, OPERATOR)


def sign(
    signer: LocalPrincipal | Credentials,
    method: str,
    url: str,
    body: bytes | None,
    headers: Mapping[str, str],
    region: str = LOCAL_REGION,
) -> dict[str, str]:
    """The headers for a SigV4-signed ``execute-api`` request: ``headers`` plus the date and the Authorization.

    ``signer`` is a local principal, or real AWS credentials (a session's, for a deployed API).

    Example
    -------
    >>> signed = sign(WAREHOUSE, "GET", "http://127.0.0.1:3000/health", None, {})
    >>> signed["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=LOCALWAREHOUSEKEY/")
    True
    """
    credentials = signer.credentials if isinstance(signer, LocalPrincipal) else signer
    request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers))
    if "host" not in {name.lower() for name in headers}:
        request.headers["Host"] = urlsplit(url).netloc
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return dict(request.headers.items())


def region_of(api_url: str) -> str | None:
    """The region a deployed API's URL names (``https://<id>.execute-api.<region>.amazonaws.com/...``), if any.

    Example
    -------
    >>> region_of("https://abc123.execute-api.eu-west-1.amazonaws.com/prod")
    'eu-west-1'
    >>> region_of("http://127.0.0.1:3000") is None
    True
    """
    match = EXECUTE_API_HOST.match(urlsplit(api_url).hostname or "")
    return match["region"] if match else None


class SignatureError(Exception):
    """The request is not signed, or not by a known principal, or the signature does not match."""


def verify(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    principals: tuple[LocalPrincipal, ...] = LOCAL_PRINCIPALS,
    now: datetime | None = None,
) -> LocalPrincipal:
    """The principal that signed this request, or ``SignatureError`` saying why it is refused.

    ``url`` is the URL the client addressed (scheme, ``Host`` and the raw path and query), as the client signed it.
    The payload hash is the body's own SHA-256: an ``X-Amz-Content-Sha256`` header, signed or not, must equal it, so
    ``UNSIGNED-PAYLOAD`` is refused as execute-api refuses it.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    match = AUTHORIZATION.match(lowered.get("authorization", ""))
    if match is None:
        raise SignatureError("Missing Authentication Token")
    principal = next((p for p in principals if p.access_key == match["key"]), None)
    if principal is None:
        raise SignatureError("The security token included in the request is invalid.")
    if match["service"] != SERVICE:
        raise SignatureError(f"Credential should be scoped to correct service: '{SERVICE}'.")
    stamp = lowered.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError("Missing or invalid X-Amz-Date") from None
    if not stamp.startswith(match["date"]):
        raise SignatureError("Credential date does not match X-Amz-Date")
    if abs(((now or datetime.now(UTC)) - signed_at).total_seconds()) > MAX_CLOCK_SKEW_SECONDS:
        raise SignatureError("Signature expired")
    signed_names = match["headers"].split(";")
    if "host" not in signed_names:
        raise SignatureError("The Host header must be signed")
    body_hash = hashlib.sha256(body).hexdigest()
    if lowered.get("x-amz-content-sha256", body_hash) != body_hash:
        raise SignatureError(SIGNATURE_MISMATCH)
    request = AWSRequest(
        method=method, url=url, data=body, headers={name: lowered.get(name, "") for name in signed_names}
    )
    request.context["timestamp"] = stamp
    auth = SigV4Auth(principal.credentials, SERVICE, match["region"])
    auth.headers_to_sign = lambda _request: _headers(signed_names, lowered)  # type: ignore[method-assign]
    auth.payload = lambda _request: body_hash  # type: ignore[method-assign]
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError(SIGNATURE_MISMATCH)
    return principal


def _headers(names: list[str], values: Mapping[str, str]) -> HTTPHeaders:
    """Exactly the headers the client says it signed, whatever botocore itself would have chosen to sign."""
    headers = HTTPHeaders()
    for name in names:
        headers[name] = values.get(name, "")
    return headers
