# client_secret_jwt (RFC 7523 section 2.2, as OpenID Connect Core 9 uses it): the token
# request carries a short-lived JWT signed with HMAC-SHA256 over the client secret, so the
# secret itself never leaves the device. Loaded only by a client with auth="jwt".
from ._port import const
from .errors import OAuthError
from .grant import b64encode, form_encode

TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_LIFETIME = const(60)  # seconds: servers cap exp (Glewlwyd), a replay is only worth this long
_HEAD = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"HS256","typ":"JWT"}, base64url


def hmac_sha256(key, msg):
    """HMAC-SHA256 (RFC 2104) of bytes msg under bytes key: firmware has hashlib, no hmac."""
    import hashlib

    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key += bytes(64 - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(msg)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def b64url(data):
    return b64encode(data).decode().rstrip("=").replace("+", "-").replace("/", "_")


def assertion(client_id, secret, aud, now, jti=None):
    """The client assertion: iss = sub = the client id, aud = the token URL (Glewlwyd wants
    exactly the one the request goes to), a random jti, iat now and exp a minute later.
    now: Unix seconds; None (the wall clock is unset) is OAuthError("clock_not_set"), retryable:
    a server would refuse the times, and the refusal would look permanent."""
    if now is None:
        raise OAuthError("clock_not_set", "set the wall clock (NTP) before client_secret_jwt: "
                         "the assertion carries its time", retryable=True)
    import json

    if jti is None:
        import os

        jti = b64url(os.urandom(16))
    body = _HEAD + "." + b64url(json.dumps({"iss": client_id, "sub": client_id, "aud": aud,
                                            "jti": jti, "iat": now,
                                            "exp": now + _LIFETIME}).encode())
    return body + "." + b64url(hmac_sha256(secret.encode(), body.encode()))


def build(c, grant_type, rt):
    """(body, headers) of client c's token request (see grant.build) with an assertion for
    its token URL, made now by its clock."""
    from .grant import build

    a = assertion(c.client_id, c._secret, c.token_url, c._clock.unix_time())
    body, headers = build(c.client_id, None, grant_type, c.scope, rt, c.params, "jwt")
    return body + "&" + form_encode((("client_assertion_type", TYPE),
                                     ("client_assertion", a))), headers
