# Pure: build a token request, parse a token response into a Token or an OAuthError. No I/O.
from ._port import const
from .encoding import basic_auth, form_encode
from .errors import OAuthError

_MAX_DEPTH = const(8)  # [ and { nested in a token answer, its own { included (Zaikio's: 3)
_MAX_EXTRA = const(2048)  # bytes of JSON of the extra fields kept with the token


class Token:
    """An access token as the server issued it.

    expires_in is the lifetime in seconds the client works with: the server's expires_in, else
    the JWT's exp - iat, else the client's default. extra holds every other response field
    (Zaikio's audiences, bearer, bearer_on_behalf_of, ...).
    """

    def __init__(self, access_token, token_type="Bearer", expires_in=None, refresh_token=None,
                 scope=None, extra=None):
        self.access_token = access_token
        self.token_type = token_type
        self.expires_in = expires_in
        self.refresh_token = refresh_token
        self.scope = scope
        self.extra = extra if extra is not None else {}

    def __repr__(self):  # never the token itself: repr ends up in logs
        return "<Token %s scope=%r expires_in=%r refresh=%s>" % (
            self.token_type, self.scope, self.expires_in, self.refresh_token is not None)


def build(client_id, client_secret, grant_type, scope=None, refresh_token=None, params=None,
          auth="basic", basic_encode=True):
    """(body, headers) of a token request. auth: "basic" (client_secret_basic) or "post"."""
    pairs = [("grant_type", grant_type)]
    if refresh_token is not None:
        pairs.append(("refresh_token", refresh_token))
    elif scope:
        pairs.append(("scope", scope))
    if params:
        pairs.extend(params.items() if isinstance(params, dict) else params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if auth == "basic":
        headers["Authorization"] = basic_auth(client_id, client_secret, basic_encode)
    elif auth == "post":
        pairs.append(("client_id", client_id))
        pairs.append(("client_secret", client_secret))
    else:
        raise ValueError("auth must be 'basic' or 'post'")
    return form_encode(pairs), headers


def retry_after(headers, now=None):
    """Seconds from a Retry-After header (a number, or an HTTP date), or None: see httpdate."""
    from . import httpdate  # only failures need it: kept out of every successful fetch

    return httpdate.retry_after(headers, now)


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


def _b64token(s):
    # RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", all it
    # takes to go into a header. Bytes, not characters (see http._check); "replace": a lone
    # surrogate (CPython) is refused, not raised.
    b = s.encode("utf-8", "replace").rstrip(b"=")
    for c in b:
        if c not in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/":
            return False
    return len(b) > 0


def parse(status, headers, body, now=None):
    """Token from a token-endpoint response, or raise OAuthError.

    headers: dict with lower-case names. body: bytes. An error field (not null) makes even a
    200 answer a failure, and a 200 without access_token is invalid (as golang.org/x/oauth2
    does). What the server sends is data: the access token must be b64token characters (it
    goes into a header), [ and { nest at most 8 deep (a store serialises the answer), the
    extra fields take at most 2 KB of JSON (else none is kept), server text in an error is
    made fit for a log line (untrusted.text).
    """
    import json

    data = why = None
    if body and body.count(b"[") + body.count(b"{") > _MAX_DEPTH:  # else it cannot nest deeper
        from .untrusted import deeper

        if deeper(body, _MAX_DEPTH):
            why = "JSON nested deeper than %d" % _MAX_DEPTH
    if why is None and body:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeError, MemoryError, RuntimeError):
            pass
    if not isinstance(data, dict):
        data = None
    err = data.get("error") if data else None
    if err is not None and err != "" or not 200 <= status < 300:
        from .untrusted import text

        ra = retry_after(headers, now)
        desc = data.get("error_description") if data else None
        if not isinstance(err, str) or not err:
            err = "http_%d" % status if status >= 300 else "invalid_response"
        raise OAuthError(text(err), text(desc) if isinstance(desc, str) else why, status, ra)
    if data is None:
        raise OAuthError("invalid_response", why or "token response is not a JSON object",
                         status)
    data.pop("error", None)
    at = data.pop("access_token", None)
    if not isinstance(at, str) or not _b64token(at):
        raise OAuthError("invalid_response", "no access_token of b64token characters", status)
    tt = data.pop("token_type", None) or "Bearer"
    if not isinstance(tt, str) or tt.lower() != "bearer":
        from .untrusted import text

        raise OAuthError("unsupported_token_type", "token_type " + text(repr(tt)), status)
    expires_in = _number(data.pop("expires_in", None))
    rt = data.pop("refresh_token", None)
    scope = data.pop("scope", None)
    if isinstance(scope, list):
        scope = " ".join(s for s in scope if isinstance(s, str))
    if len(body) - len(at) > _MAX_EXTRA and len(json.dumps(data)) > _MAX_EXTRA:
        data = {}  # too much to keep beside the token in RTC memory or flash
    return Token(at, "Bearer", expires_in, rt if isinstance(rt, str) and rt else None,
                 scope if isinstance(scope, str) else None, data)
