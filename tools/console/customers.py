"""The customer's e-mail beside the sub an order records: looked up in the user pool, once per sub.

An order names its customer by the ID token's ``sub``, which tells an operator nothing. ``CustomerEmails`` asks the
pool with ListUsers and the filter ``sub = "..."`` (the sub is not the username of a pool that signs in by e-mail),
and remembers the answer. A lookup that fails (no permission, throttled, the pool gone) gives no e-mail, and the page
shows the sub alone; it is asked again a little later, not on every refresh of the list.

Which pool: locally the stack's (``find_user_pool`` on the console's AWS endpoint, found again when a restarted stack
made a new one); with ``--aws``, ``--user-pool-id`` (the stack output ``UserPoolId``), else the pool that issued the
operator's ``--token`` (``pool_of_token``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local.aws.cognitoidp.identity import UserPoolNotFoundError, unverified_claims

KNOWN_SECONDS = 600.0
"""How long an answer (an e-mail, or no user with that sub) is kept: e-mails rarely change."""
FAILED_SECONDS = 30.0
"""How long a failed lookup waits before it is tried again: the list refreshes every 3 seconds."""
KEPT_SUBS = 4096
SUB = re.compile(r"[A-Za-z0-9-]{1,128}")
"""What a sub looks like (a UUID); anything else is not looked up, and never reaches the filter's quotes."""
POOL_ID = re.compile(r"(?P<region>[a-z]{2}(-[a-z]+)+-\d+)_[A-Za-z0-9]+")
LOG = logging.getLogger(__name__)


class CustomerEmails:
    """Each sub's e-mail in one user pool, cached per sub; ``None`` where the pool has none or cannot be asked.

    Parameters
    ----------
    cognito:
        A ``cognito-idp`` client, for the local stack's AWS endpoint or for the pool's region.
    pool_id:
        The pool's id, or a function that finds it (called again after the pool was not found).
    clock:
        Seconds, monotonic; tests pass their own.

    Example
    -------
    >>> emails = CustomerEmails(cognito, "eu-west-1_AbC123")  # doctest: +SKIP
    >>> emails.email("8f0e5a4c-41d1-70f4-3c43-0f1e2d3c4b5a")  # doctest: +SKIP
    'ada@example.com'
    """

    def __init__(self, cognito: Any, pool_id: str | Callable[[], str], *, clock: Callable[[], float] = time.monotonic):
        self.cognito = cognito
        self.find_pool = pool_id if callable(pool_id) else lambda: pool_id
        self._pool_id: str | None = None
        self._clock = clock
        self._known: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._warned = False

    def emails(self, subs: Iterable[str], map_: Callable[..., Iterable[Any]] = map) -> dict[str, str]:
        """The e-mail of each sub that has one; ``map_`` runs the lookups (a thread pool's ``map`` runs them at once).

        Example
        -------
        >>> CustomerEmails(cognito, "eu-west-1_AbC123").emails(["8f0e…", "cust-42"])  # doctest: +SKIP
        {'8f0e…': 'ada@example.com'}
        """
        unique = list(dict.fromkeys(subs))
        return {sub: email for sub, email in zip(unique, map_(self.email, unique), strict=True) if email}

    def email(self, sub: str) -> str | None:
        """The e-mail of ``sub``, from the cache or the pool; None when there is none or the lookup failed."""
        if not isinstance(sub, str) or not SUB.fullmatch(sub):
            return None
        now = self._clock()
        with self._lock:
            cached = self._known.get(sub)
            if cached is not None and cached[0] > now:
                return cached[1]
        try:
            email, keep = self._looked_up(sub), KNOWN_SECONDS
        except (ClientError, BotoCoreError, UserPoolNotFoundError) as error:
            email, keep = None, FAILED_SECONDS
            self._failed(sub, error)
        with self._lock:
            self._known[sub] = (now + keep, email)
            self._known.move_to_end(sub)
            while len(self._known) > KEPT_SUBS:
                self._known.popitem(last=False)
        return email

    def _looked_up(self, sub: str) -> str | None:
        pool_id = self._pool_id or self.find_pool()
        self._pool_id = pool_id
        try:
            answer = self.cognito.list_users(
                UserPoolId=pool_id, Filter=f'sub = "{sub}"', Limit=1, AttributesToGet=["email"]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                self._pool_id = None
            raise
        for user in answer.get("Users", []):
            for attribute in user.get("Attributes", []):
                if attribute["Name"] == "email":
                    return str(attribute["Value"])
        return None

    def _failed(self, sub: str, error: Exception) -> None:
        """Say once why e-mails are missing (cognito-idp:ListUsers refused, most likely); later failures quietly."""
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        LOG.log(level, "the console shows customers without e-mails: looking up %s failed: %s", sub, error)


def pool_of_token(id_token: str | None) -> str | None:
    """The id of the user pool that issued an ID token (its ``iss``), or None; the token is not verified here, it
    only names which pool to ask, with the console's own credentials.

    Example
    -------
    >>> import base64, json
    >>> claims = {"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"}
    >>> pool_of_token("e30." + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode() + ".sig")
    'eu-west-1_AbC123'
    >>> pool_of_token("not a token") is None
    True
    """
    if not id_token:
        return None
    try:
        issuer = str(unverified_claims(id_token).get("iss", ""))
    except (ValueError, IndexError, AttributeError):
        return None
    pool_id = issuer.rsplit("/", 1)[-1]
    return pool_id if issuer.startswith("https://cognito-idp.") and POOL_ID.fullmatch(pool_id) else None


def region_of_pool(pool_id: str) -> str | None:
    """A pool's id starts with its region.

    Example
    -------
    >>> region_of_pool("eu-west-1_AbC123")
    'eu-west-1'
    """
    match = POOL_ID.fullmatch(pool_id)
    return match["region"] if match else None
