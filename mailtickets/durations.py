"""Parse duration strings such as "30m", "48h", "7d" (pure)."""

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PART = re.compile(r"(\d+)\s*([smhdw])")


def parse_duration(text: str) -> timedelta:
    """Return the timedelta of `text` ("90m", "1d12h"); ValueError when it is not one."""
    compact = text.strip().lower()
    if not compact or _PART.sub("", compact).strip():
        raise ValueError(f"{text!r} is not a duration; write e.g. '30m', '48h' or '7d'")
    total = timedelta()
    for amount, unit in _PART.findall(compact):
        total += timedelta(**{_UNITS[unit]: int(amount)})
    return total
