# Retry-After, and HTTP-date (RFC 9110: "Sun, 06 Nov 1994 08:49:37 GMT") to Unix seconds
# without time.mktime, whose epoch differs between ports. Imported only after a failure.

_MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec"


def _days_from_civil(y, m, d):
    # Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse(s):
    """Unix seconds for an IMF-fixdate, or None when it is not one."""
    try:
        _, d, mon, y, hms, tz = s.split()
        m = _MONTHS.find(mon)
        h, mi, sec = hms.split(":")
        if tz != "GMT" or m < 0 or m % 3 or len(mon) != 3:
            return None
        m = m // 3 + 1
        d, y, h, mi, sec = int(d), int(y), int(h), int(mi), int(sec)
        if not (1 <= d <= 31 and 0 <= h < 24 and 0 <= mi < 60 and 0 <= sec <= 60):
            return None
        return _days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + sec
    except (ValueError, AttributeError):
        return None


def retry_after(headers, now=None):
    """Seconds from a Retry-After header (a number, or an HTTP date), or None.

    An HTTP date is measured against the response's own Date header when there is one, so an
    unset device clock does not matter; else against `now` (Unix seconds) when it is known.
    """
    v = headers.get("retry-after")
    if not v:
        return None
    v = v.strip()
    if v.isdigit():
        try:
            return int(v)
        except ValueError:  # "¹" is a digit to isdigit(), not to int()
            return None
    when = parse(v)
    date = headers.get("date")
    base = parse(date) if date else None
    if base is None:
        base = now
    if when is None or base is None:
        return None
    return max(0, when - base)
