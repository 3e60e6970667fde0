# A renewal's request: build a token request's body and headers, with the encoders (Basic
# credentials, form bodies). Pure. Loaded by the renewal and let go once the request is built
# (client.py), so that its code is not in the heap while the answer is read; the answer's
# code (answer.py) loads once the answer is in.
from ._port import b2a_base64

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
