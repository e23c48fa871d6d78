"""Timestamps as the order timeline stores them: ISO 8601, UTC, millisecond precision."""

from datetime import UTC, datetime


def now_iso() -> str:
    """The current time, e.g. ``2026-11-23T08:15:00.123Z``; sorts correctly as a string."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
