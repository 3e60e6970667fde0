# Client authentication beyond the default: the check of an auth= that is not "auto", and
# auth="auto"'s search after a refusal. Loaded only then: a fetch that works at the first try
# never carries it.
#
# Methods: "basic" (client_secret_basic, id and secret form-urlencoded first as RFC 6749
# 2.3.1 says), "raw" (the same without the encoding, for the many servers that do not decode
# it), "post" (client_secret_post: both in the form body), "jwt" (client_secret_jwt, RFC 7523:
# an HS256 assertion, the secret never sent) and "tls" (tls_client_auth and
# self_signed_tls_client_auth, RFC 8705: the client certificate authenticates).
from .errors import OAuthError
from .grant import quote

_AUTO = ("basic", "raw", "post")
_SAID = {"basic": "Basic (RFC 6749 2.3.1 encoding)", "raw": "Basic (raw id and secret)",
         "post": "client_secret_post"}


def methods(auth, basic_encode, client_id, secret, cert):
    """The methods a client tries, in order, from its auth= and basic_encode= (see
    ClientCore); ValueError when they or the id and secret make no sense. cert: a client
    certificate (or a transport of its own) may authenticate, so auth="auto" without a secret
    is "tls"."""
    if not isinstance(client_id, str) or not client_id:
        raise ValueError("client_id must be a non-empty string")
    if auth == "auto":
        auth = _AUTO if secret or not cert else ("tls",)
    elif isinstance(auth, str):
        auth = (auth,)
    elif isinstance(auth, list):
        auth = tuple(auth)
    if not isinstance(auth, tuple) or not (auth in (("jwt",), ("tls",)) or auth and all(
            m in _AUTO for m in auth)):
        raise ValueError("auth must be 'auto', 'basic', 'post', 'jwt', 'tls' or a list of "
                         "'basic', 'raw' and 'post' to try in that order")
    if basic_encode is not None and "basic" in auth:
        auth = ("basic" if basic_encode else "raw",)  # pinned: Basic with this encoding
    if auth != ("tls",) and (not isinstance(secret, str) or not secret):
        raise ValueError("client_secret must be a non-empty string (none only for auth='tls')")
    return auth


def _refused(e, first):
    # a refusal that can be the encoding: invalid_client, or a bare 401/403 (Glewlwyd); after
    # the first try also invalid_request, how a decoding server meets a raw "%" it cannot read
    return e.error == "invalid_client" or e.error == "http_%d" % (e.status or 0) and (
        e.status in (401, 403)) or not first and e.error == "invalid_request"


def searching(c, e):
    """e when the refusal e of client c's method can be the encoding, so that its other
    methods may be tried, else None: auto (or a list), and an id or secret with a character
    the encodings treat differently."""
    if len(c._tries) > 1 and _refused(e, True) and (
            quote(c.client_id) != c.client_id or quote(c._secret) != c._secret):
        return e
    return None


def search(c, e, rt):
    """After c's method (the one found, else the first) was refused with e: the other ones in
    order, while the refusal can be the encoding, with the client-credentials grant. A
    refused refresh grant (rt) proves nothing about the client credentials: c drops the
    refresh token and its method is tried first with them, then the next one, so one
    refusal costs at most three requests. A method found and then refused (a server
    upgraded to decode Basic as RFC 6749 says) is forgotten and searched for again, so the
    device comes back by itself. Returns the Token of the first that works, which c then
    keeps using (and says so); raises the first refusal, its description naming the methods
    the client credentials were refused with, when every one was refused, or what else
    came."""
    if searching(c, e) is None:
        raise e  # pinned, or a refusal no encoding explains
    from .answer import parse
    from .grant import build

    m = c._method or c._tries[0]
    c._method = None  # refused: found again below, or the first of _tries next time
    tries = [x for x in c._tries if x != m]
    if rt is None:
        tried = [m]  # refused with the client credentials
    else:
        tried = []
        tries = [m] + tries[:1]  # with the refresh grant: two requests left
        c._refresh = None
        c._say("refresh refused (%s): new client-credentials grant" % e.error)
    for m in tries:
        body, headers = build(c.client_id, c._secret, "client_credentials", c.scope, None,
                              c.params, m)
        r = yield "POST", c.token_url, body, headers
        try:
            t = parse(r.status, r.headers, r.body, c._clock.unix_time())
        except OAuthError as again:
            if not _refused(again, False):
                raise  # another answer (a scope refused, a server failing): that is the news
            tried.append(m)
            continue
        c._method = m
        if tried:
            c._say("client auth: %s found after %s refused" % (_SAID[m], ", ".join(
                _SAID[x] for x in tried)))
        return t
    e.description = "%s; client credentials tried with: %s (the id or secret has "\
        "characters that servers decode differently, such as : + / %% & = space or "\
        "non-ASCII)" % (e.description or "refused", ", ".join(_SAID[m] for m in tried))
    raise e
