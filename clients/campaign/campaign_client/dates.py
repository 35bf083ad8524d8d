"""Campaign's date formats: `YYYY-MM-DD` dates and `YYYY-MM-DD HH:MM:SS.mmmZ` date-times.

SOAP parameters and XTK date literals use the ISO form Adobe's JS SDK sends (`toISOString`:
`YYYY-MM-DDTHH:MM:SS.mmmZ`).
"""

from __future__ import annotations

import datetime


def from_campaign_datetime(value: str | None) -> datetime.datetime | None:
    """Parse a Campaign date-time (space or `T` separator, `Z`), as an aware UTC value."""
    if not value:
        return None
    parsed = datetime.datetime.fromisoformat(value.replace(" ", "T", 1))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC)


def to_campaign_datetime(value: datetime.datetime) -> str:
    """Format as Campaign writes date-times: UTC, space separator, milliseconds, `Z`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    utc = value.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def to_campaign_date(value: datetime.date) -> str:
    """Format a date (a date-time is cut to its date) as `YYYY-MM-DD`."""
    if isinstance(value, datetime.datetime):
        value = value.date()
    return value.isoformat()


def to_iso_datetime(value: datetime.datetime) -> str:
    """Format as Adobe's JS SDK sends date-times: UTC, `T` separator, milliseconds, `Z`."""
    return to_campaign_datetime(value).replace(" ", "T", 1)
