"""Timestamps as the order timeline stores them: ISO 8601, UTC, millisecond precision."""

from datetime import UTC, datetime, timedelta


def now_iso() -> str:
    """The current time, e.g. ``2026-11-23T08:15:00.123Z``; sorts correctly as a string."""
    return _iso(datetime.now(UTC))


def seconds_before(moment: str, seconds: float) -> str:
    """The timestamp ``seconds`` before ``moment``, in the same form, so the two compare as strings.

    Example
    -------
    >>> seconds_before("2026-11-23T08:15:00.123Z", 120.5)
    '2026-11-23T08:12:59.623Z'
    """
    return _iso(datetime.fromisoformat(moment) - timedelta(seconds=seconds))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
