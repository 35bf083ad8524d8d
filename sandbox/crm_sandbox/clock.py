"""The sandbox clock: wall time plus an offset tests can shift (to expire tokens, delta links)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """UTC time as the emulated services see it."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        """Start at wall time shifted by `offset_seconds`."""
        self.offset = offset_seconds

    def time(self) -> float:
        """Seconds since the epoch, shifted."""
        return time.time() + self.offset

    def now(self) -> datetime:
        """Aware UTC datetime, shifted."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def stamp(self) -> str:
        """Dataverse timestamp: UTC, second precision, `Z` suffix."""
        return format_stamp(self.now())

    def shift(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative value)."""
        self.offset += seconds


def format_stamp(moment: datetime) -> str:
    """Render an aware datetime the way Dataverse does: `2024-01-31T12:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
