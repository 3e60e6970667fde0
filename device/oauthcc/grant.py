# Pure: build a token request, parse a token response into a Token or an OAuthError. No I/O.
from .encoding import basic_auth, form_encode
from .errors import OAuthError


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


def retry_after(headers, now=None):
    """Seconds from a Retry-After header (a number, or an HTTP date), or None: see httpdate."""
    from . import httpdate  # only failures need it: kept out of every successful fetch

    return httpdate.retry_after(headers, now)


def _number(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        try:
            return int(v)
        except (ValueError, OverflowError):  # nan, inf
            return None
    if isinstance(v, str):
        try:
            return int(float(v))
        except (ValueError, OverflowError):
            pass
    return None


def parse(status, headers, body, now=None):
    """Token from a token-endpoint response, or raise OAuthError.

    headers: dict with lower-case names. body: bytes. An error field makes even a 200 answer a
    failure, and a 200 without access_token is invalid (as golang.org/x/oauth2 does).
    """
    import json

    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeError, MemoryError, RuntimeError):
        data = None
    if not isinstance(data, dict):
        data = None
    if (data is not None and "error" in data) or not 200 <= status < 300:
        ra = retry_after(headers, now)
        err = data.get("error") if data else None
        desc = data.get("error_description") if data else None
        if not isinstance(err, str) or not err:
            err = "http_%d" % status if status >= 300 else "invalid_response"
        if desc is not None and not isinstance(desc, str):
            desc = None
        raise OAuthError(err, desc, status, ra)
    if data is None:
        raise OAuthError("invalid_response", "token response is not a JSON object", status)
    at = data.pop("access_token", None)
    if not isinstance(at, str) or not at:
        raise OAuthError("invalid_response", "no access_token", status)
    tt = data.pop("token_type", None) or "Bearer"
    if not isinstance(tt, str) or tt.lower() != "bearer":
        raise OAuthError("unsupported_token_type", "token_type %r" % (tt,), status)
    expires_in = _number(data.pop("expires_in", None))
    if expires_in is not None and expires_in < 0:
        expires_in = 0
    rt = data.pop("refresh_token", None)
    scope = data.pop("scope", None)
    if isinstance(scope, list):
        scope = " ".join(str(s) for s in scope)
    return Token(at, "Bearer", expires_in, rt if isinstance(rt, str) and rt else None,
                 scope if isinstance(scope, str) else None, data)
