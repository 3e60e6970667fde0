"""Read the claims of a JWT access token. NO SIGNATURE CHECK.

This is safe only because the device reads its OWN access token, which it just received from
the authorization server over a verified TLS connection: the claims tell the device what the
server granted it (roles, scope, lifetime), and a forged token would only fool the device
about itself. Never use this to accept a token that someone else presents, to authorize a
request, or to trust a token from any other source: that needs signature verification
against the server's keys (the resource server's job, not the device's).
"""
from ._port import a2b_base64


def claims(token):
    """The payload of a JWS compact token as a dict. ValueError if it is not a JWT."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise ValueError("not a JWT")
    payload = token[token.find(".") + 1 : token.rfind(".")]
    import json

    try:
        data = json.loads(b64url_decode(payload))
    except (ValueError, UnicodeError, MemoryError, RuntimeError):
        # MemoryError/RuntimeError (recursion): deeply nested input exhausts the MicroPython parser
        raise ValueError("not a JWT")
    if not isinstance(data, dict):
        raise ValueError("not a JWT")
    return data


def lifetime(c):
    """Seconds the token lives according to its claims (exp - iat, else exp - nbf), at most
    2**30 (an exp of 1e999 is infinity), or None.

    Only a difference of two server timestamps: never compared with the device's wall clock,
    which may be unset.
    """
    exp = c.get("exp")
    start = c.get("iat")
    if start is None:
        start = c.get("nbf")
    if isinstance(exp, (int, float)) and isinstance(start, (int, float)) and exp > start:
        return int(min(exp - start, 1 << 30)) or 1  # under a second: 1 (then the minimum)
    return None


def b64url_decode(s):
    """Decode base64url with or without padding. Raises ValueError on bad input.

    MicroPython's a2b_base64 silently skips "-" and "_", so translate to the standard
    alphabet first, and check the alphabet ourselves so both runtimes agree.
    """
    if isinstance(s, (bytes, bytearray)):
        s = s.decode()
    s = s.rstrip("=")
    if len(s) % 4 == 1:
        raise ValueError("bad base64url length")
    for c in s:
        if not (c.isalpha() or c.isdigit() or c == "-" or c == "_") or ord(c) > 127:
            raise ValueError("bad base64url character")
    s = s.replace("-", "+").replace("_", "/") + "=" * (-len(s) % 4)
    try:
        return a2b_base64(s)
    except Exception:  # binascii.Error on CPython, ValueError on MicroPython
        raise ValueError("bad base64url")
