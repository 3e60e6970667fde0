# Client authentication with auth="auto" (the default) against the stub, both runtimes: Basic
# with RFC 6749 2.3.1 encoding first; after a refusal that can be the encoding, and only when
# the id or secret has a character that the encoding changes, Basic raw, then the form body.
# The method that works is remembered (with the persisted state too): one request per fetch.
import asyncio

import oauthcc
from oauthcc import OAuthError, TokenClient
from oauthcc.aio import AsyncTokenClient
from oauthcc.encoding import basic_auth
from oauthcc.store import MemoryStore
from support import (
    DAY_MS,
    FakeClock,
    Scripted,
    answer,
    faults,
    raises,
    refusal,
    reset,
    scripted_client,
    token_requests,
    until_token,
    url,
)

NEEDS_STUB = True
CID = "dev-1"
SPECIAL = "p:a+s/s%w&o=r d"  # every character Basic encodings disagree on, printable ASCII
RFC = "p%3Aa%2Bs%2Fs%25w%26o%3Dr%20d"  # SPECIAL as RFC 6749 2.3.1 sends it in Basic


def stub(secret=SPECIAL, **config):
    """The generic profile with one client; basic_decoding="raw": Basic is not url-decoded;
    auth="post": Basic refused, id and secret wanted in the form body."""
    reset(profile="generic", clients=[{"client_id": CID, "client_secret": secret}], **config)


def client(secret=SPECIAL, cls=TokenClient, **kw):
    kw.setdefault("clock", FakeClock())
    kw.setdefault("rand", lambda n: n // 2)
    return cls(url("/oauth/token"), CID, secret, "read", **kw)


def _decoded(h):
    from oauthcc._port import a2b_base64

    return a2b_base64(h[6:]).decode()


def statuses():
    return [r["status"] for r in token_requests()]


def test_plain_secret_one_basic_request_each_time():
    stub("s3cret")
    said = []
    c = client("s3cret", log=said.append)
    assert c.token().access_token
    c.invalidate()
    c.token()
    assert statuses() == [200, 200]
    assert [r["basic"] for r in token_requests()] == [[CID, "s3cret"]] * 2
    assert said == []  # nothing searched, nothing to say


def test_special_secret_raw_basic_found_then_one_request():
    stub(basic_decoding="raw")
    said = []
    c = client(log=said.append)
    assert c.token().access_token
    assert statuses() == [401, 200]
    h = [r["headers"]["authorization"] for r in token_requests()]
    assert RFC in _decoded(h[0]) and _decoded(h[1]) == CID + ":" + SPECIAL
    c.invalidate()
    c.token()
    assert statuses() == [401, 200, 200]  # remembered: one request
    assert token_requests()[2]["headers"]["authorization"] == h[1]
    assert said == ["client auth: Basic (raw id and secret) found after Basic (RFC 6749 "
                    "2.3.1 encoding) refused"], said
    assert SPECIAL not in " ".join(said) and RFC not in " ".join(said)


def test_special_secret_body_found_after_both_basic_encodings():
    stub(auth="post")
    c = client()
    c.token()
    reqs = token_requests()
    assert statuses() == [401, 401, 200]
    assert "authorization" in reqs[0]["headers"] and "authorization" in reqs[1]["headers"]
    assert "authorization" not in reqs[2]["headers"]
    assert reqs[2]["form"]["client_id"] == CID and reqs[2]["form"]["client_secret"] == SPECIAL
    c.invalidate()
    c.token()
    assert statuses() == [401, 401, 200, 200]
    assert token_requests()[3]["form"]["client_secret"] == SPECIAL


def test_wrong_special_secret_costs_three_requests_then_the_latch():
    stub(auth="post")
    wrong = SPECIAL + "-wrong"
    c = client(wrong)
    e = raises(OAuthError, c.token)
    assert e.error == "invalid_client" and e.status == 401 and not e.retryable
    assert statuses() == [401, 401, 401]
    # the hint: which methods were tried, that the encoding may be why; never the secret
    text = str(e) + repr(e)
    assert "RFC 6749" in text and "raw" in text and "client_secret_post" in text, text
    assert "in the body" in text  # the first refusal, the server's own description kept
    assert wrong not in text and "wrong" not in text and "%3A" not in text
    # the usual permanent-error handling: latched, the next attempt after the long wait
    assert c.latched is not None and c.next_attempt_in_ms() >= 1_800_000
    assert raises(OAuthError, c.token) is e and len(token_requests()) == 3


def test_plain_secret_refused_is_not_retried_another_way():
    # nothing the encodings could change: the refusal is the answer (a server that wants the
    # body for such a secret is pinned with auth="post")
    stub("s3cret", auth="post")
    e = raises(OAuthError, client("s3cret").token)
    assert e.error == "invalid_client" and statuses() == [401]
    assert "tried" not in str(e)


def test_special_client_id_alone_is_enough_to_look_further():
    reset(profile="generic", basic_decoding="raw",
          clients=[{"client_id": "dev 1", "client_secret": "s3cret"}])
    c = TokenClient(url("/oauth/token"), "dev 1", "s3cret", "read", clock=FakeClock())
    assert c.token().access_token and statuses() == [401, 200]


def test_a_bare_403_can_be_the_encoding():
    stub(basic_decoding="raw")
    faults({"kind": "status", "status": 403, "body": "", "path": "/oauth/token"})
    assert client().token().access_token
    assert statuses() == [403, 200]


def test_a_refusal_of_something_else_ends_the_search():
    stub(basic_decoding="raw")
    faults({"kind": "json", "status": 400, "body": {"error": "invalid_scope"}})
    e = raises(OAuthError, client().token)
    assert e.error == "invalid_scope" and statuses() == [400]
    # the raw attempt refused for another reason: that is the answer, no body attempt
    stub(auth="post")
    faults({"kind": "status", "status": 401, "body": ""},
           {"kind": "json", "status": 400, "body": {"error": "invalid_scope"}})
    e = raises(OAuthError, client().token)
    assert e.error == "invalid_scope" and statuses() == [401, 400]


def test_a_retryable_failure_during_the_search_backs_off_and_starts_again():
    stub(auth="post")
    clock = FakeClock()
    c = client(clock=clock)
    faults({"kind": "status", "status": 401, "body": ""},
           {"kind": "status", "status": 503, "body": ""})
    e = raises(OAuthError, c.token)
    assert e.error == "http_503" and e.retryable and statuses() == [401, 503]
    clock.advance(c.next_attempt_in_ms())
    assert c.token().access_token
    assert statuses() == [401, 503, 401, 401, 200]


def test_the_method_found_survives_deep_sleep_a_new_secret_forgets_it():
    stub(basic_decoding="raw")
    store, clock = MemoryStore(), FakeClock()
    client(store=store, clock=clock).token()
    assert store.state["auth"] == "raw" and statuses() == [401, 200]
    clock.advance(3600_000)  # the token expired while the board slept
    client(store=store, clock=clock).token()
    assert statuses() == [401, 200, 200]  # after the boot: one request, raw Basic
    assert token_requests()[2]["basic"] == [CID, SPECIAL]
    stub(SPECIAL + "2", basic_decoding="raw")  # the secret rotated: found afresh
    client(SPECIAL + "2", store=store, clock=clock).token()
    assert statuses() == [401, 200]
    assert store.state["auth"] == "raw"


def test_the_refresh_grant_uses_the_method_found():
    reset(profile="zaikio", basic_decoding="raw", lifetime=60, clients=[
        {"client_id": CID, "client_secret": SPECIAL, "granted_scopes": None}])
    clock = FakeClock()
    c = oauthcc.from_profile("zaikio", CID, SPECIAL, "Org/x.a.r", url(), clock=clock)
    c.token()
    clock.advance(60_000)
    c.token()
    reqs = token_requests()
    assert [(r["form"]["grant_type"], r["status"]) for r in reqs] == [
        ("client_credentials", 401), ("client_credentials", 200), ("refresh_token", 200)]
    assert reqs[2]["basic"] == [CID, SPECIAL]


def test_profiles_that_pin_basic_try_both_encodings_never_the_body():
    for profile in ("zaikio", "heidelberg"):
        reset(profile=profile, auth="post", clients=[
            {"client_id": CID, "client_secret": SPECIAL, "granted_scopes": None}])
        c = oauthcc.from_profile(profile, CID, SPECIAL, "Org/x.a.r", url(), clock=FakeClock())
        e = raises(OAuthError, c.token)
        assert e.error == "invalid_client" and statuses() == [401, 401], profile
        assert all("authorization" in r["headers"] for r in token_requests())
        assert "client_secret_post" not in str(e)


def test_wicked_sends_the_body_only():
    reset(profile="wicked", clients=[{"client_id": CID, "client_secret": SPECIAL}])
    c = oauthcc.from_profile("wicked", CID, SPECIAL, None, url(), auth_method_id="a",
                             api_id="b", clock=FakeClock())
    assert c.token().access_token and statuses() == [200]


def test_explicit_options_pin_one_method():
    stub(basic_decoding="raw")
    assert raises(OAuthError, client(auth="basic").token).error == "invalid_client"
    assert raises(OAuthError, client(basic_encode=True).token).error == "invalid_client"
    assert statuses() == [401, 401]
    assert client(basic_encode=False).token().access_token
    assert client(auth="basic", basic_encode=False).token().access_token
    assert statuses() == [401, 401, 200, 200]
    stub(auth="post")
    assert client(auth="post").token().access_token
    e = raises(OAuthError, client(auth=["basic", "raw"]).token)  # a list: tried in order
    assert statuses() == [200, 401, 401] and "client_secret_post" not in str(e)


def test_the_asyncio_client_finds_the_method_the_same_way():
    stub(auth="post")
    c = client(cls=AsyncTokenClient)
    asyncio.run(c.token())
    c.invalidate()
    asyncio.run(c.token())
    assert statuses() == [401, 401, 200, 200]


def test_auth_options_are_checked_when_the_client_is_made():
    u = url("/oauth/token")
    for auth in ("digest", "", ("basic", "jwt"), ("tls", "post"), (), 5, ["raw", "nope"]):
        e = raises(ValueError, TokenClient, u, CID, "s", auth=auth)
        assert "auth" in str(e), str(e)
    for secret in (None, "", 5):
        raises(ValueError, TokenClient, u, CID, secret)
        raises(ValueError, TokenClient, u, CID, secret, auth="jwt")
    raises(ValueError, TokenClient, u, "", "s")
    raises(ValueError, TokenClient, u, None, "s")
    TokenClient(u, CID, None, auth="tls")  # mutual TLS: no secret at all
    c = TokenClient(u, CID, "TOPSECRET", auth=["raw", "post"])
    assert "TOPSECRET" not in repr(c)


# -- issue 13, second round: the method found is not kept for ever; one refusal, 3 requests --


def _decoding(decoding):
    # a token endpoint that takes SPECIAL in Basic as decoding[0] says: "raw" or "rfc"
    def server(method, u, body, headers):
        if headers.get("Authorization") == basic_auth(CID, SPECIAL, decoding[0] == "rfc"):
            return answer("tok")
        return refusal(401, "invalid_client")

    return server


def test_a_remembered_method_refused_is_searched_for_again_also_after_a_reboot():
    # the server decodes Basic raw (auto finds raw and keeps it with the state), then is
    # upgraded to decode it as RFC 6749 2.3.1 says: the refusal of the remembered raw starts
    # the search again at once (the other methods only: at most three requests), so the
    # device comes back by itself, no latch, across a reboot too
    for persist in (False, True):
        clock = FakeClock()
        store = MemoryStore()
        decoding = ["raw"]
        s = Scripted(_decoding(decoding))
        c = scripted_client(s, clock, SPECIAL, store)
        assert c.token().access_token == "tok" and store.state["auth"] == "raw"
        decoding[0] = "rfc"
        c.invalidate()
        if persist:  # deep sleep through it: the board boots with the saved state
            clock.advance(700_000)
            c = scripted_client(s, clock, SPECIAL, store)
        n = len(s.tokens())
        t, waited = until_token(c, clock, most_ms=10 * DAY_MS)
        assert t is not None and waited == 0, (waited, c.last_error)
        assert len(s.tokens()) - n == 2 and store.state["auth"] == "basic"  # found again
        assert c.token() is t and len(s.tokens()) - n == 2


def test_a_refused_refresh_with_a_special_secret_costs_at_most_three_requests():
    # Basic RFC-encoded worked at once (no method remembered), then the secret is revoked:
    # the refresh grant refused invalid_client is not searched, the client-credentials
    # fallback tries the same method (the refusal may be the refresh token's), then the next
    # one: three requests for the refusal, not six
    clock = FakeClock()
    revoked = [False]
    s = Scripted(lambda m, u, b, h: refusal(401, "invalid_client") if revoked[0] else
                 answer("tok", expires_in=60, refresh_token="rt"))
    c = scripted_client(s, clock, SPECIAL)
    c.token()
    revoked[0] = True
    clock.advance(61_000)
    e = raises(OAuthError, c.token)
    assert e.error == "invalid_client" and c.latched is e
    assert s.grants()[1:] == ["refresh_token", "client_credentials", "client_credentials"]
    basic = basic_auth(CID, SPECIAL)
    assert [r[3].get("Authorization") for r in s.tokens()[1:]] == [basic, basic,
                                                           basic_auth(CID, SPECIAL, False)]
    assert e.description.endswith("client credentials tried with: Basic (RFC 6749 2.3.1 "
                                  "encoding), Basic (raw id and secret) (the id or secret has "
                                  "characters that servers decode differently, such as : + / "
                                  "% & = space or non-ASCII)"), e.description


def test_a_refresh_refused_as_invalid_client_falls_back_to_the_same_method():
    # the refresh grant refused 401 invalid_client (a rotated-away or foreign refresh token,
    # as some servers refuse it) with the method that works: the client-credentials fallback
    # tries that method too, so a token now (red15: it tried only the others, both refused,
    # and latched for an hour)
    clock = FakeClock()
    good = "Basic ZGV2LTE6czMlMkJjcmV0"  # dev-1:s3%2Bcret
    n = [0]

    def srv(m, u, b, h):
        if b.startswith("grant_type=refresh_token"):
            return refusal(401, "invalid_client")
        if h.get("Authorization") != good:
            return refusal(401, "invalid_client")
        n[0] += 1
        return answer("tok-%d" % n[0], expires_in=600, refresh_token="rt-%d" % n[0])

    server = Scripted(srv)
    c = scripted_client(server, clock, secret="s3+cret")
    assert c.token().access_token == "tok-1"
    clock.advance(601_000)  # expired
    try:
        t = c.token()
    except OAuthError as e:
        t = e
    assert getattr(t, "access_token", None) == "tok-2", (t, server.grants(), c.latched)
    assert c.latched is None and server.grants()[1:] == ["refresh_token", "client_credentials"]


def test_a_refused_refresh_then_the_method_the_search_finds():
    # the refresh grant refused with the remembered method: the client-credentials fallback
    # tries it (refused too), then the others, and finds the one the server takes now (Basic
    # RFC-encoded): three requests, no latch
    clock = FakeClock()
    decoding = ["raw"]
    s = Scripted(lambda m, u, b, h: _decoding(decoding)(m, u, b, h) if "refresh" not in b
                 or decoding[0] == "raw" else refusal(401, "invalid_client"))
    c = scripted_client(s, clock, SPECIAL)
    c.token()
    c._refresh = "rt"
    decoding[0] = "rfc"
    c.invalidate()
    n = len(s.tokens())
    assert c.token().access_token == "tok" and c.latched is None
    assert s.grants()[n:] == ["refresh_token", "client_credentials", "client_credentials"]
    assert c._method == "basic"
