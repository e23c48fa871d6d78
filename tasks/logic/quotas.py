"""How many new orders a shopper may place: ``OrderRateLimit.per_minute`` in a clock minute, ``per_day`` in a UTC day.

Every order starts a paid Standard execution, so one signed-in account must not start thousands. The windows are
fixed (a minute starts at :00, a day at 00:00 UTC), so a refused shopper is told exactly when to come back: the end
of the window that refused the order, as ``Retry-After`` seconds. At a minute's edge a shopper can place up to twice
the per-minute limit within a few seconds; the day limit bounds the whole.

The counters are the verified caller's (the ID token's ``sub``), never a field of the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tasks.adapters.order_quotas import OrderQuotas, QuotaCounters, QuotaWindow
from tasks.errors import OrderRateLimitedError
from workflows.resources import OrderRateLimit

MINUTE_SECONDS = 60
DAY_SECONDS = 86_400


@dataclass(frozen=True)
class OrderQuota:
    """The counters and the limit one deployment enforces (the API function's environment says which)."""

    counters: OrderQuotas
    limit: OrderRateLimit


def counters_at(customer_id: str, now: str) -> QuotaCounters:
    """The counters an order placed at ``now`` (ISO 8601, UTC) counts in.

    Example
    -------
    >>> counters = counters_at("sub-ada", "2026-03-01T10:00:42.500Z")
    >>> counters.minute - counters.day, counters.day_ends - counters.day
    (36000, 86400)
    """
    moment = int(datetime.fromisoformat(now).timestamp())
    day = moment - moment % DAY_SECONDS
    return QuotaCounters(
        customer_id=customer_id, day=day, minute=moment - moment % MINUTE_SECONDS, day_ends=day + DAY_SECONDS
    )


def take_order_quota(customer_id: str, now: str, quota: OrderQuota) -> QuotaCounters:
    """Count one new order of the customer, or refuse it without counting anything.

    Returns
    -------
    QuotaCounters
        Where it was counted, to ``give_back_order_quota`` if the order is not kept after all.

    Raises
    ------
    OrderRateLimitedError
        A window is full; ``retry_after_seconds`` runs to that window's end (at least one second).

    Example
    -------
    >>> take_order_quota("sub-ada", now_iso(), OrderQuota(order_quotas(), SHOPPER_ORDER_LIMIT))  # doctest: +SKIP
    QuotaCounters(customer_id='sub-ada', day=1796083200, minute=1796119200, day_ends=1796169600)
    """
    counters = counters_at(customer_id, now)
    refused = quota.counters.count(counters, quota.limit)
    if refused is None:
        return counters
    moment = int(datetime.fromisoformat(now).timestamp())
    if refused is QuotaWindow.MINUTE:
        retry_after, allowed = counters.minute + MINUTE_SECONDS - moment, f"{quota.limit.per_minute} a minute"
    else:
        retry_after, allowed = counters.day_ends - moment, f"{quota.limit.per_day} a day"
    raise OrderRateLimitedError(
        f"you placed the most orders allowed ({allowed}); nothing was placed. Retry after {retry_after} s",
        retry_after_seconds=max(1, retry_after),
    )


def give_back_order_quota(counters: QuotaCounters, quota: OrderQuota) -> None:
    """The order was not kept (its start failed, or a concurrent request with its key placed it): it counts nothing."""
    quota.counters.give_back(counters)
