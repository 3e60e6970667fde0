# Pure encoders: HTTP Basic credentials, form bodies, base64url. No I/O.
from ._port import b64encode

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


def b64url_decode(s):
    """Decode base64url (see jwt.b64url_decode, its home: a token fetch does not load it)."""
    from .jwt import b64url_decode

    return b64url_decode(s)
