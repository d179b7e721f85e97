"""Vietnam time: UTC+7 all year, with no daylight saving; the one time zone congvan uses.

Issue dates and register years are counted in it; reports, visible signatures and the audit log
show times in it. The signer library is its home so that the exchange, which may import the
library (never the other way round), uses the same constant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")


def vietnam_date(moment: datetime) -> datetime:
    """The same instant in Vietnam time (UTC+7), where issue dates are counted; naive is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VIETNAM_TIME)
