"""Campaign's wire formats for dates: `YYYY-MM-DD` and `YYYY-MM-DD HH:MM:SS.mmmZ` (UTC)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z?$")


_DAYS: dict[int, str] = {}


def stamp(epoch: float) -> str:
    """Format epoch seconds as Campaign does: `2019-09-25 23:20:35.000Z` (days cached: fast)."""
    millis = round(epoch * 1000)
    days, rem = divmod(millis, 86_400_000)
    day = _DAYS.get(days)
    if day is None:
        day = _DAYS[days] = date.fromordinal(719_163 + days).isoformat()
    seconds, ms = divmod(rem, 1000)
    return f"{day} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{ms:03d}Z"


def parse_date(text: str) -> str | None:
    """Normalised `YYYY-MM-DD`, or None if `text` is not a calendar date."""
    match = _DATE.match(text)
    if match is None:
        return None
    try:
        return date(*map(int, match.groups())).isoformat()
    except ValueError:
        return None


def parse_datetime(text: str) -> str | None:
    """Normalised stamp for `YYYY-MM-DD HH:MM:SS[.mmm]Z` (a `T` is accepted), else None."""
    match = _DATETIME.match(text)
    if match is None:
        return None
    *parts, fraction = match.groups()
    try:
        year, month, day, hour, minute, second = map(int, parts)
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    millis = int((fraction or "0").ljust(3, "0")[:3])
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{millis:03d}Z"


def age(birth: str, today: date) -> int:
    """Whole years between a `YYYY-MM-DD` birth date and `today`."""
    year, month, day = int(birth[:4]), int(birth[5:7]), int(birth[8:10])
    return today.year - year - ((today.month, today.day) < (month, day))
