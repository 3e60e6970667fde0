# Helpers for the conformance tests against real servers (conformance/launch.mjs, launch.py).
# conftest.py starts each server a module names in NEEDS_SERVERS and passes its ready line
# (URLs, registered clients) as JSON in env SERVER_<NAME>, the test PKI's folder in
# CONFORMANCE_PKI (conformance/pki.py).
import json
import os

import oauthcc
from oauthcc.transport import Transport
from support import raises


def server(name):
    return json.loads(os.getenv("SERVER_" + name.upper()))


def secret(info, client_id):
    for c in info["clients"]:
        if c["id"] == client_id:
            return c["secret"]
    raise KeyError(client_id)


def pki(name):
    """The path of a file of the test PKI: ca.pem, client.pem, client.key.der, ..."""
    return os.getenv("CONFORMANCE_PKI") + "/" + name


def client(info, client_id, scope=None, tls=False, **kw):
    """A TokenClient for a registered client, made as a user would: the "custom" profile.
    tls=True: the server's HTTPS listener, verified with the test CA."""
    kw.setdefault("rand", lambda n: n // 2)  # deterministic backoff jitter
    if tls:
        kw.setdefault("ca", pki("ca.pem"))
    return oauthcc.from_profile("custom", client_id, kw.pop("client_secret", None)
                                or secret(info, client_id), scope,
                                info["tls_token_url" if tls else "token_url"], **kw)


def outcome(c):
    """"ok" when the client gets a token, else the refusal as (error, status)."""
    try:
        c.token()
        return "ok"
    except oauthcc.OAuthError as e:
        assert not e.retryable, e  # a refusal of the credentials is never worth a fast retry
        return (e.error, e.status)


def secret_styles(info, prefix, scope="read", tls=False):
    """How the server takes one secret in each style: HTTP Basic RFC 6749 2.3.1-encoded, Basic
    raw, client_secret_post, each pinned, and "auto", the client's default (the first of the
    three that works). prefix names the pair of clients that hold it, e.g. "conf-special"
    (-basic and -post; auto uses -basic)."""
    basic, post = prefix + "-basic", prefix + "-post"
    return {"rfc": outcome(client(info, basic, scope, tls, auth="basic", basic_encode=True)),
            "raw": outcome(client(info, basic, scope, tls, basic_encode=False)),
            "post": outcome(client(info, post, scope, tls, auth="post")),
            "auto": outcome(client(info, basic, scope, tls))}


SPECIAL = "conf-special-basic"  # its secret has every character the Basic encodings differ on


def check_auto_finds_it_then_one_request(info, client_id=SPECIAL, tls=False):
    """A client with no auth options gets a token (at most three requests), and after
    invalidate() the next fetch is one request. Returns (the statuses of the first fetch, the
    method found: "basic" RFC-encoded, "raw" Basic, "post")."""
    said = []
    rec = Recorder(ca=pki("ca.pem") if tls else None)
    c = client(info, client_id, "read", tls, transport=rec, log=said.append)
    assert c.token().scope == "read"
    first = [status for _, _, status in rec.seen]
    assert 1 <= len(first) <= 3 and first[-1] == 200, first
    c.invalidate()
    c.token()
    url = info["tls_token_url" if tls else "token_url"]
    assert rec.seen[len(first):] == [("POST", url, 200)], rec.seen
    found = [m for m in said if m.startswith("client auth: ")]
    assert len(found) == (len(first) > 1), said  # the log says what a search found
    return first, c._method or c._tries[0]


def check_wrong_special_secret_costs_three(info):
    """A wrong secret with special characters: three requests (every method tried), then the
    usual handling of the refusal, without traffic; the error says what was tried, never the
    secret. Returns (error, status)."""
    wrong = secret(info, SPECIAL) + "-wrong"
    rec = Recorder()
    c = client(info, SPECIAL, "read", client_secret=wrong, transport=rec)
    e = raises(oauthcc.OAuthError, c.token)
    assert len(rec.seen) == 3 and not e.retryable, (rec.seen, e)
    assert "tried" in e.description and "client_secret_post" in e.description, e
    text = str(e) + repr(e)
    assert wrong not in text and "wrong" not in text and "%3A" not in text, text
    assert c.next_attempt_in_ms() != 0 and len(rec.seen) == 3
    raises(oauthcc.OAuthError, c.token)
    assert len(rec.seen) == 3  # no fast retry: the latch or the backoff holds it
    return e.error, e.status


def check_client_secret_jwt(info, tls=False):
    """auth="jwt" (RFC 7523) for a plain and a special-character secret: a token, and after
    invalidate() another one with a new assertion (servers take each jti once)."""
    for cid in ("conf-jwt", "conf-special-jwt"):
        rec = Recorder(ca=pki("ca.pem") if tls else None)
        c = client(info, cid, "read", tls, auth="jwt", transport=rec)
        assert c.token().scope == "read"
        c.invalidate()
        assert c.token().scope == "read"
        url = info["tls_token_url" if tls else "token_url"]
        assert rec.seen == [("POST", url, 200)] * 2, (cid, rec.seen)


def check_mutual_tls(info, client_id="conf-mtls", cert="client"):
    """auth="tls" (RFC 8705) over the HTTPS listener with the test PKI's certificate (PEM
    files, DER bytes): a token each time, one request; without the certificate, none."""
    der = []
    for name in (cert + ".der", cert + ".key.der"):
        with open(pki(name), "rb") as f:
            der.append(f.read())
    for pair in ((pki(cert + ".pem"), pki(cert + ".key")), der):
        c = client(info, client_id, "read", tls=True, auth="tls", client_cert=pair[0],
                   client_key=pair[1])
        assert c.token().scope == "read"
    c = client(info, client_id, "read", tls=True, auth="tls")
    raises((oauthcc.OAuthError, OSError), c.token)


def api_call(info, access_token):
    """The protected resource, called with a bare bearer token (no renewal, no retry)."""
    return Transport().request("GET", info["api_url"], None,
                               {"Authorization": "Bearer " + access_token})


class _Counting:
    """The socket module, counting the sockets a Recorder opens."""

    def __init__(self, rec):
        import socket

        self._s = socket
        self.SOCK_STREAM = socket.SOCK_STREAM
        self.rec = rec

    def getaddrinfo(self, *a):
        return self._s.getaddrinfo(*a)

    def socket(self, *a):
        self.rec.connections += 1
        return self._s.socket(*a)


class Recorder(Transport):
    """The real transport, remembering (method, url, status) of every request it made; it
    keeps its connection as a client's own transport does, and counts the connections it
    opened (a real server's keep-alive, and its idle close retried, at work)."""

    def __init__(self, **kw):
        kw.setdefault("keepalive", True)
        super().__init__(pool=_Counting(self), **kw)
        self.seen = []
        self.connections = 0

    def request(self, method, url, body=None, headers=None):
        r = super().request(method, url, body, headers)
        self.seen.append((method, url, r.status))
        return r


def check_expiry_makes_a_new_grant(info):
    """Neither server issues a refresh token for client credentials: expiry is a new grant.
    Returns the connections the two grants took: 1 where the server keeps them alive."""
    from support import FakeClock

    clock = FakeClock()  # 5 s before the ticks wrap
    rec = Recorder()
    c = client(info, "conf-basic", "read", clock=clock, transport=rec)
    t1 = c.token()
    clock.advance(t1.expires_in * 1000)
    t2 = c.token()
    assert t2 is not t1 and t2.refresh_token is None
    assert rec.seen == [("POST", info["token_url"], 200)] * 2  # two client-credentials grants
    return rec.connections


def wrong_secret(info):
    """How the server refuses a wrong secret, sent by Basic and in the body."""
    return {"basic": outcome(client(info, "conf-basic", "read", client_secret="wrong")),
            "post": outcome(client(info, "conf-post", "read", client_secret="wrong",
                                   auth="post"))}


def plain_secret_token(info, scope="read write"):
    """A plain secret works in every style; returns conf-basic's token, checked for what
    every server here agrees on: Bearer, one hour, no refresh token for client credentials."""
    assert secret_styles(info, "conf") == {"rfc": "ok", "raw": "ok", "post": "ok", "auto": "ok"}
    t = client(info, "conf-basic", scope).token()
    # 3599 too: @node-oauth/oauth2-server answers floor(expiresAt - now), which a millisecond
    # past the issue rounds down
    assert t.token_type == "Bearer" and t.expires_in in (3599, 3600) and t.refresh_token is None
    return t


def revoke(info, access_token, client_id="conf-basic"):
    """RFC 7009 revocation at the server's revoke_url, as the client itself (Basic)."""
    from oauthcc.encoding import basic_auth, form_encode

    r = Transport().request("POST", info["revoke_url"], form_encode(
        {"token": access_token, "token_type_hint": "access_token"}),
        {"Authorization": basic_auth(client_id, secret(info, client_id)),
         "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, (r.status, r.body)


def check_revoked_token_renewed_once(info):
    """A token revoked at the server: the resource answers 401, the client renews once and
    its one retry succeeds."""
    rec = Recorder()
    c = client(info, "conf-basic", "read", transport=rec, api_origins=[info["api_url"]])
    assert c.request("GET", info["api_url"]).status == 200
    revoke(info, c.token().access_token)
    r = c.request("GET", info["api_url"])
    assert r.status == 200, r.body
    token, ok = ("POST", info["token_url"], 200), ("GET", info["api_url"], 200)
    assert rec.seen == [token, ok, ("GET", info["api_url"], 401), token, ok], rec.seen


def check_jwt_for_the_api(info, c):
    """c's token is a JWT for the API (its aud), and the API takes it; returns the claims the
    API saw."""
    from oauthcc.jwt import claims

    assert claims(c.token().access_token)["aud"] == info["resource"]
    r = c.request("GET", info["api_url"])
    assert r.status == 200, r.body
    return r.json()["claims"]


def check_401_after_one_renewal(info, rec, r):
    """The resource refused the token: one renewal and one retry, then the 401 is returned;
    and the resource refuses a forged token too, so its check is real."""
    assert r.status == 401 and "invalid_token" in r.headers["www-authenticate"]
    token, api = ("POST", info["token_url"], 200), ("GET", info["api_url"], 401)
    assert rec.seen == [token, api, token, api]
    assert api_call(info, "forged." + "x" * 20 + ".sig").status == 401
