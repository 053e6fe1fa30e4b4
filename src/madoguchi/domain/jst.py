"""Japan Standard Time: the city's calendar day, whatever time zone the machine is set to.

>>> from datetime import datetime, timezone
>>> japan_date(datetime(2026, 12, 1, 18, 0, tzinfo=timezone.utc)).isoformat()
'2026-12-02'
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")  # Japan keeps no daylight saving time


def japan_date(instant: datetime) -> date:
    """The JST calendar day of an aware instant (naive values are taken as UTC, as SQLite stores them)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    return instant.astimezone(JST).date()
