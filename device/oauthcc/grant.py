# A renewal's own code, loaded by it and let go after it (client.py): build a token request
# (with the encoders: Basic credentials, form bodies), parse the answer into a Token or an
# OAuthError (all pure), and accept() a token (ClientCore's renewal, clientstate's restore).
from ._port import DAY_MS, b2a_base64, const
from .errors import OAuthError, Token

_MAX_DEPTH = const(8)  # [ and { nested in a token answer, its own { included (Zaikio's: 3)
_MAX_EXTRA = const(2048)  # bytes of JSON of the extra fields kept with the token

# The encoders (oauthcc.encoding's names): here, so that a renewal loads one module, not two.
_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def quote(s):
    """Percent-encode UTF-8: unreserved characters as they are, everything else %XX.

    Space becomes %20, never "+": some servers do not decode "+" in form bodies.
    """
    if not isinstance(s, (str, bytes)):
        s = str(s)
    if isinstance(s, str):
        s = s.encode()
    out = []
    for b in s:
        if b in _UNRESERVED:
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def form_encode(pairs):
    """application/x-www-form-urlencoded body from (name, value) pairs or a dict."""
    if isinstance(pairs, dict):
        pairs = pairs.items()
    return "&".join(quote(k) + "=" + quote(v) for k, v in pairs)


def b64encode(data):
    return b2a_base64(data)[:-1]  # drop the newline binascii appends


def basic_auth(client_id, client_secret, encode=True):
    """The whole Authorization header value, "Basic <base64>".

    encode=True form-urlencodes id and secret first, as RFC 6749 section 2.3.1 requires;
    encode=False sends them raw, for servers that do not decode (a ":" in a raw id breaks).
    """
    if encode:
        client_id = quote(client_id)
        client_secret = quote(client_secret)
    creds = (client_id + ":" + client_secret).encode()
    return "Basic " + b64encode(creds).decode()


def build(client_id, client_secret, grant_type, scope=None, refresh_token=None, params=None,
          auth="basic"):
    """(body, headers) of a token request. auth: "basic" (client_secret_basic, RFC 6749 2.3.1
    encoding), "raw" (the same, not encoded), "post" (client_secret_post); anything else
    ("tls", RFC 8705: the TLS handshake authenticates; "jwt", see assertion.build) names the
    client in the body and sends no secret."""
    pairs = [("grant_type", grant_type)]
    if refresh_token is not None:
        pairs.append(("refresh_token", refresh_token))
    elif scope:
        pairs.append(("scope", scope))
    if params:
        pairs.extend(params.items() if isinstance(params, dict) else params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if auth == "basic" or auth == "raw":
        headers["Authorization"] = basic_auth(client_id, client_secret, auth == "basic")
    else:
        pairs.append(("client_id", client_id))
        if auth == "post":
            pairs.append(("client_secret", client_secret))
    return form_encode(pairs), headers


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
