# A renewal's answer: parse the token endpoint's answer into a Token or an OAuthError (pure),
# and accept() a token (ClientCore's renewal, clientstate's restore). Loaded once the answer
# has arrived and let go after the renewal (client.py): while the answer is read, neither its
# code nor the request's (grant.py) is in the heap.
from ._port import DAY_MS, const
from .errors import OAuthError, Token

_MAX_DEPTH = const(8)  # [ and { nested in a token answer, its own { included (Zaikio's: 3)
_MAX_EXTRA = const(2048)  # bytes of JSON of the extra fields kept with the token


def _number(v):
    # expires_in as whole seconds in [0, 2**30] (the client narrows it further), from a number
    # or a numeric string ("1e999" too); None for anything else, nan and bools included
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
        return None
    return int(max(0, min(v, 1 << 30)))


def _finite(v):
    # no inf or nan (from 1e999) in what is kept: MicroPython's json writes them as no json
    # reads them back, and the state file would be lost
    if isinstance(v, dict):
        v = v.values()
    elif not isinstance(v, list):
        return not isinstance(v, float) or v - v == 0
    return all(map(_finite, v))


def vschar(s):
    """True for a refresh token as RFC 6749 appendix A has it: 1*VSCHAR, printable ASCII.
    Anything else (a lone surrogate that no encoding takes, a CR) is not kept or sent."""
    return isinstance(s, str) and s != "" and " " <= min(s) and max(s) <= "~"


def parse(status, headers, body, now=None):
    """Token from a token-endpoint response, or raise OAuthError.

    headers: dict with lower-case names. body: bytes. An error field (not null) makes even a
    200 answer a failure, and a 200 without access_token is invalid (as golang.org/x/oauth2
    does). What the server sends is data: the access token must be RFC 6750 b64token
    characters (it goes into a header); [ and { nest at most 8 deep (a store serialises the
    answer); the extra fields are kept when they take at most 2 KB of JSON and hold no inf
    or nan; a refresh token that is not VSCHAR is dropped; server text in an error is made fit
    for a log line (untrusted.text).
    """
    import json

    data = None
    deep = body.count(b"[") + body.count(b"{") > _MAX_DEPTH  # else it cannot nest deeper
    if deep:
        from .untrusted import deeper

        deep = deeper(body, _MAX_DEPTH)
    if not deep:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeError, MemoryError, RuntimeError):
            pass
    if not isinstance(data, dict) or data.get("error") not in (None, "") or status // 100 != 2:
        from .untrusted import failure

        raise failure(status, headers, data, deep, now)
    at = data.pop("access_token", None)
    # RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". Bytes,
    # not characters (see http._check); "replace": a lone surrogate (CPython) is refused.
    b = at.encode("utf-8", "replace").rstrip(b"=") if isinstance(at, str) else b""
    for c in b:
        # c | 32: a letter of either case; 44 < c < 58: "-", ".", "/" and the digits
        if not (96 < c | 32 < 123 or 44 < c < 58 or c in b"_~+"):
            b = b""
            break
    if not b:
        raise OAuthError("invalid_response", "no b64token access_token", status)
    tt = data.pop("token_type", None) or "Bearer"
    if not isinstance(tt, str) or tt.lower() != "bearer":
        raise OAuthError("unsupported_token_type", "token_type %.40r" % (tt,), status)
    expires_in = _number(data.pop("expires_in", None))
    rt = data.pop("refresh_token", None)
    scope = data.pop("scope", None)
    if isinstance(scope, list):
        scope = " ".join(s for s in scope if isinstance(s, str))
    if (len(body) - len(at) > _MAX_EXTRA and len(json.dumps(data)) > _MAX_EXTRA
            or not _finite(data)):
        data = {}  # not to be kept beside the token in RTC memory or flash
    return Token(at, "Bearer", expires_in, rt if vschar(rt) else None,
                 scope if isinstance(scope, str) else None, data)


def accept(c, t, start, lifetime_ms):
    """Client c serves Token t for lifetime_ms from the ticks start (at most a day), renewing
    it a leeway earlier (a received token, or one clientstate restores)."""
    lifetime_ms = min(lifetime_ms, DAY_MS)
    # a leeway of at most a quarter of the lifetime, so a short token is not "always expired"
    leeway = min(c.leeway_ms, lifetime_ms // 4)
    c._token = t
    c._refresh = t.refresh_token
    c._expires_at = c._clock.ticks_add(start, lifetime_ms)
    c._renew_at = c._clock.ticks_add(start, lifetime_ms - leeway)
