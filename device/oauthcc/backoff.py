# After a failed attempt: when the next one may go out; and after an API's 401, whether a
# forced renewal may (the 401 rule). Loaded at the first failure or 401 only, so a plain
# fetch never carries it (make bench). It writes ClientCore's fields, as clientstate.py says.
from ._port import DAY_MS, const

# Codes of a 4xx answer that cannot succeed until the configuration (or the grant on the
# server) changes: the client waits long before it asks again. The same code in a 5xx, 408
# or 429 answer is retryable like any other: only a 4xx can be permanent.
PERMANENT = (
    "invalid_client",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "ungranted_scope",
    "invalid_target",  # RFC 8707: unknown resource indicator
    # a bare 401 or 403, no JSON: how some servers refuse a client (Glewlwyd: a wrong secret,
    # an unknown scope); as final as invalid_client, and just as curable by a fix
    "http_401",
    "http_403",
    "tls_verification_failed",
)

# After a permanent error (a 4xx such as invalid_scope, or tls_verification_failed) the next
# attempt waits between half and all of a window of 1 h, doubling with each permanent error
# in a row (not the network errors before it) to a day: no fast retries, and a fleet spreads
# over hours; never "stop for good".
_LATCH_MS = const(3_600_000)


def failed(c, e):
    c.last_error = e
    c._failures += 1
    if c._failures == 1:  # _latches: the permanent errors of these failures in a row (not
        c._latches = 0  # in client.py: a plain fetch never carries it)
    n = min(c._failures - 1, 20)
    rand = c._rand or _random
    ra = getattr(e, "retry_after", None)
    ra = min(ra * 1000, DAY_MS) if isinstance(ra, int) and ra > 0 else 0
    if getattr(e, "permanent", False):  # an OAuthError (no import of errors: it asks here)
        # "equal jitter": never less than half the window, so no fast retries, and a fleet
        # latched at one moment comes back spread over the other half
        c.latched = e
        c._latches = n = getattr(c, "_latches", 0) + 1
        window = min(DAY_MS, _LATCH_MS << min(n - 1, 5))
        wait = max(window // 2 + rand(window // 2), ra)
        c._say("permanent error, next attempt in %d s or at a configuration change: %s"
               % (wait // 1000, e))
    else:
        # exponential backoff with full jitter; a fleet told the same Retry-After must not
        # return in step: spread over at least as long again, never earlier
        c.latched = None
        window = max(min(c.backoff_cap_ms, c.backoff_base_ms << n), ra)
        wait = rand(window) + ra
        c._say("token request failed, next attempt in %d ms: %s" % (wait, e))
    c._next = c._clock.ticks_add(c._now(), min(wait, DAY_MS))  # no deadline beyond a day
    c._save()


def refresh_failed(c, e):
    # after client c's refresh grant failed with e: True when the client credentials go now
    # (the refresh token dropped), False when e is raised
    if getattr(e, "retryable", True) or c._refresh is None:  # OSError, MemoryError: True
        # (None: clientauth.search has tried the client credentials)
        if c._token is None:
            # expired: the next attempt asks with the client credentials, a refresh grant
            # that keeps failing cannot keep the device out
            c._refresh = None
        return False
    # invalid_grant (expired or revoked), or a server that will not refresh: the client
    # credentials still work, so drop the refresh token and use them
    c._refresh = None
    c._say("refresh refused (%s): new client-credentials grant" % e.error)
    return True


def permanent(e):
    # OAuthError.permanent: a 4xx answer with a PERMANENT code, or tls_verification_failed
    # (no answer at all)
    s = e.status
    return not e.retryable and e.error in PERMANENT and (
        400 <= s < 500 if s else e.error == "tls_verification_failed")


def _random(n):
    import random

    return random.getrandbits(30) % (n + 1)


def unauthorized(c, r, t, attempt):
    """The 401 rule, after API answer r to token t (both shells' request(), for a 401 or the
    first answer after t was refused): True for one forced renewal and retry per call, for a
    token the API stopped accepting. When the renewed token is refused too, the fault is the
    API's: no more forced renewals for that token (until it expires, or a call with it
    succeeds), so an API answering 401 to everything is not a token request per call."""
    if r.status != 401:
        if c._refused is t:
            c._refused = None  # the API takes it again
            c._save()
        return False
    if attempt or c._refused is t:
        if c._refused is not t:
            c._refused = t
            c._save()  # with the token, so that a boot keeps to the rule
        return False
    c._say("API answered 401: renewing the token once")
    if c._token is t:  # a concurrent call may have renewed it already
        c.invalidate()
    return True
