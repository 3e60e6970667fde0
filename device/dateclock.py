# The clock where NTP is blocked: the Date header of the token server's origin, believed only
# within a window. Imported by app.App.clock_from_server, only when NTP has failed.
#
# Asked with HEAD and no credentials. Over https the certificate cannot be verified yet (its
# dates need the clock; the library refuses with clock_not_set), so nothing secret is sent,
# and the time is as trustworthy as NTP's, which is not authenticated either.
from oauthcc import OAuthError
from oauthcc.clock import const

# No true date is before this release (2026-12-01 UTC), nor more than five years after it or
# after the last NTP sync: a forged 2100 or 9999 is refused. A device that outlives the
# window without ever reaching NTP needs NTP or a newer release.
RELEASE = 1796083200
_AHEAD_S = const(157_680_000)
_LIFE_S = const(946_080_000)  # 30 years: a last NTP sync later than this is no sync of ours


def read(token_url, last_ntp=None):
    """(Unix seconds, None) from the Date of HEAD <origin>/, or (None, why) when there is
    none or it is not plausible. last_ntp: Unix seconds of the last NTP sync, if known; one
    before the release or decades after it (another firmware's milliseconds, a forged answer's
    2160) is no sync of this device, and widens nothing."""
    from oauthcc import httpdate
    from oauthcc.http import origin
    from oauthcc.transport import Transport

    url = origin(token_url) + "/"
    try:
        r = Transport(verify=False, timeout=5, deadline=10).request("HEAD", url)
    except (OAuthError, OSError) as e:
        return None, "no Date from %s: %s" % (url, e)
    t = httpdate.parse(r.headers.get("date", ""))
    if t is None:
        return None, "%s sent no usable Date" % url
    if not (isinstance(last_ntp, int) and RELEASE < last_ntp <= RELEASE + _LIFE_S):
        last_ntp = RELEASE
    top = last_ntp + _AHEAD_S
    if not RELEASE <= t <= top:
        return None, "the Date of %s is not plausible (%d: before this release or after %d)" % (
            url, t, top)
    return t, url
