# End to end against the stub authorization server, every seed profile, on both runtimes.
import oauthcc
from oauthcc import OAuthError, Token, TokenClient
from oauthcc.http import Response
from oauthcc.roles import active_roles
from oauthcc.store import MemoryStore
from support import (
    CLIENT_ID,
    CLIENT_SECRET,
    ESCAPES,
    LONGEST_MS,
    ORG,
    PER,
    SCRIPTED_API,
    SCRIPTED_TOKEN_URL,
    FakeClock,
    Scripted,
    admin_url,
    answer,
    control,
    faults,
    log,
    raises,
    reset,
    scripted_client,
    token_requests,
    until_token,
    url,
)

NEEDS_STUB = True
ROLES = ["owner", "admin", "member", "print_admin"]
MACHINES = ORG + ".zaikio.machines.rw"
PERSON_MACHINES = PER + ">" + MACHINES


def zaikio(clock=None, scope=MACHINES, **kw):
    kw.setdefault("rand", lambda n: n // 2)  # deterministic backoff jitter
    return oauthcc.from_profile("zaikio", kw.pop("client_id", CLIENT_ID),
                                kw.pop("client_secret", CLIENT_SECRET), scope, url(),
                                clock=clock or FakeClock(), **kw)


def test_zaikio_fetch_and_cache_hit():
    reset(profile="zaikio")
    c = zaikio()
    t = c.token()
    assert t.token_type == "Bearer" and t.expires_in == 599
    assert t.scope == "zaikio.machines.rw" and t.refresh_token
    assert t.extra["audiences"] == ["directory"]
    assert t.extra["bearer"]["type"] == "Organization"
    assert c.token() is t  # cache hit: no second request
    reqs = token_requests()
    assert len(reqs) == 1
    assert reqs[0]["basic"] == [CLIENT_ID, CLIENT_SECRET]
    assert reqs[0]["form"] == {"grant_type": "client_credentials", "scope": MACHINES}


def test_expiry_renews_with_refresh_token_across_the_ticks_wrap():
    reset(profile="zaikio", lifetime=60)
    clock = FakeClock()  # 5 s before the 2**30 wrap
    c = zaikio(clock)
    t1 = c.token()
    clock.advance(44_000)  # leeway clamped to 15 s of a 60 s token: not yet due
    assert c.token() is t1
    clock.advance(2_000)
    t2 = c.token()
    assert t2 is not t1 and t2.access_token != t1.access_token
    reqs = token_requests()
    assert [r["form"]["grant_type"] for r in reqs] == ["client_credentials", "refresh_token"]
    assert reqs[1]["form"]["refresh_token"] == t1.refresh_token
    assert reqs[1]["basic"] == [CLIENT_ID, CLIENT_SECRET]  # same client authentication
    assert t2.refresh_token != t1.refresh_token  # rotated


def test_refresh_without_new_refresh_token_keeps_the_old_one():
    reset(profile="zaikio", lifetime=60, rotate_refresh=False)
    clock = FakeClock()
    c = zaikio(clock)
    rt = c.token().refresh_token
    clock.advance(60_000)
    t2 = c.token()
    assert t2.refresh_token == rt
    clock.advance(60_000)
    c.token()
    grants = [(r["form"]["grant_type"], r["form"].get("refresh_token")) for r in token_requests()]
    assert grants == [("client_credentials", None), ("refresh_token", rt), ("refresh_token", rt)]


def test_invalid_grant_falls_back_to_client_credentials():
    reset(profile="zaikio", lifetime=60)
    clock = FakeClock()
    c = zaikio(clock)
    c.token()
    control("/_stub/revoke", {"what": "refresh"})
    clock.advance(61_000)
    t = c.token()
    assert t.access_token and t.refresh_token
    reqs = token_requests()
    assert [r["form"]["grant_type"] for r in reqs] == [
        "client_credentials", "refresh_token", "client_credentials"]
    assert reqs[1]["status"] == 400
    assert c.last_error is None and c.next_attempt_in_ms() == 0


def test_ungranted_scope_is_permanent_and_latched():
    reset(profile="zaikio")
    c = zaikio(scope=ORG + ".finance.invoices.rw")
    e = raises(OAuthError, c.token)
    assert e.error == "ungranted_scope" and e.status == 400 and not e.retryable
    # the long wait: half an hour plus half of the other half (rand: n // 2); see test_latch
    assert c.latched is e and c.next_attempt_in_ms() == 2_700_000
    e2 = raises(OAuthError, c.token)  # raised again without touching the network
    assert e2 is e and len(token_requests()) == 1
    c.reset()
    raises(OAuthError, c.token)
    assert len(token_requests()) == 2


def test_wrong_secret_is_invalid_client():
    reset(profile="zaikio")
    e = raises(OAuthError, zaikio(client_secret="wrong").token)
    assert e.error == "invalid_client" and e.status == 401 and e.permanent
    assert "wrong" not in str(e) and "wrong" not in repr(e)


def test_special_characters_survive_both_basic_encodings():
    secret = "s3: + / % & = é"
    cid = "dev: + / % & = é"  # RFC encoding makes even ":" safe in the id
    for mode in ("rfc", "raw"):
        reset(profile="zaikio", basic_decoding=mode, clients=[
            {"client_id": cid if mode == "rfc" else "dev+é", "client_secret": secret,
             "granted_scopes": [MACHINES]}])
        c = zaikio(client_id=cid if mode == "rfc" else "dev+é", client_secret=secret,
                   basic_encode=(mode == "rfc"))
        assert c.token().access_token
        assert token_requests()[0]["basic"] == [cid if mode == "rfc" else "dev+é", secret]


def test_mismatched_basic_encoding_pinned_is_refused_not_retried():
    reset(profile="zaikio", basic_decoding="raw", clients=[
        {"client_id": CLIENT_ID, "client_secret": "a b+c", "granted_scopes": [MACHINES]}])
    e = raises(OAuthError, zaikio(client_secret="a b+c", basic_encode=True).token)
    assert e.error == "invalid_client"
    assert token_requests()[0]["basic"] == [CLIENT_ID, "a%20b%2Bc"]
    assert len(token_requests()) == 1
    # the profile's default tries the raw form next (test_clientauth.py has the rest)
    assert zaikio(client_secret="a b+c").token().access_token
    assert [r["basic"] for r in token_requests()[1:]] == [[CLIENT_ID, "a%20b%2Bc"],
                                                          [CLIENT_ID, "a b+c"]]


def test_person_token_roles_from_jwt_and_from_opaque_response():
    for fmt in ("jwt", "opaque"):
        reset(profile="zaikio", token_format=fmt, person_roles=["owner", "admin"])
        c = zaikio(scope=PERSON_MACHINES, api_origins=[url()])
        t = c.token()
        assert t.scope == "zaikio.machines.rw"
        order = c.request("GET", url("/api/v1/roles")).json()
        assert order == ROLES
        assert active_roles(t, order) == ["owner", "admin"], fmt
        obo = t.extra["bearer_on_behalf_of"]
        assert obo["type"] == "Person" and obo["roles"] == ["owner", "admin"]


def test_heidelberg_profile():
    reset(profile="heidelberg")
    c = oauthcc.from_profile("heidelberg", CLIENT_ID, CLIENT_SECRET,
                             [ORG + ".warehouse.items.r", MACHINES], url(), clock=FakeClock())
    t = c.token()
    assert t.refresh_token
    req = token_requests()[0]
    assert req["path"] == "/oauth/access_token"
    assert req["form"]["scope"] == ORG + ".warehouse.items.r," + MACHINES
    assert sorted(t.scope.split(",")) == ["warehouse.items.r", "zaikio.machines.rw"]


def wicked(clock, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, scope=None):
    return oauthcc.from_profile("wicked", client_id, client_secret, scope, url(),
                                auth_method_id="default", api_id="petstore", clock=clock)


def test_wicked_post_auth_and_new_grant_on_expiry():
    reset(profile="wicked")
    clock = FakeClock()
    c = wicked(clock, scope=["read", "write pets"])
    t = c.token()
    assert t.expires_in == 3600 and t.refresh_token is None
    clock.advance(3600_000)
    c.token()
    reqs = token_requests()
    assert [r["path"] for r in reqs] == ["/auth/default/api/petstore/token"] * 2
    for r in reqs:
        assert r["form"]["grant_type"] == "client_credentials"
        assert r["form"]["client_id"] == CLIENT_ID
        assert r["form"]["client_secret"] == CLIENT_SECRET
        assert r["form"]["scope"] == "read write pets"
        assert "authorization" not in r["headers"]


def test_wicked_public_client_refused():
    reset(profile="wicked", clients=[
        {"client_id": "spa", "client_secret": "x", "public": True}])
    e = raises(OAuthError, wicked(FakeClock(), "spa", "x").token)
    assert e.error == "unauthorized_client" and e.permanent


def test_generic_provisioned_client_with_audience():
    reset(profile="generic", clients=[])
    created = control("/client", {
        "client_id": "my-api4", "audience": ["https://localhost:5001/"],
        "grant_types": ["client_credentials"], "response_types": ["token"],
        "scope": "read:secrets", "client_type": "machine_to_machine"}, base=admin_url())
    c = oauthcc.from_profile("generic", "my-api4", created["client_secret"], "read:secrets",
                             url(), audience="https://localhost:5001/", clock=FakeClock(),
                             api_origins=[url()])
    t = c.token()
    assert t.refresh_token is None and t.scope == "read:secrets"
    req = token_requests()[0]
    assert req["path"] == "/oauth/token"
    assert req["form"]["audience"] == "https://localhost:5001/"
    assert req["basic"] == ["my-api4", created["client_secret"]]
    assert c.request("GET", url("/api/v1/resource")).json()["ok"] is True
    bad = oauthcc.from_profile("generic", "my-api4", created["client_secret"], "read:secrets",
                               url(), audience="https://elsewhere/", clock=FakeClock())
    assert raises(OAuthError, bad.token).error == "invalid_request"


def test_401_renews_once_and_retries_once():
    reset(profile="zaikio")
    c = zaikio(api_origins=[url()])
    assert c.request("GET", url("/api/v1/resource")).status == 200
    control("/_stub/expire", {})  # the server forgets the token before its expiry
    r = c.request("GET", url("/api/v1/resource"))
    assert r.status == 200 and r.json()["ok"] is True
    paths = [(e["path"], e["status"]) for e in log()]
    assert paths == [("/oauth/access_token", 200), ("/api/v1/resource", 200),
                     ("/api/v1/resource", 401), ("/oauth/access_token", 200),
                     ("/api/v1/resource", 200)]


def test_on_request_is_called_before_every_request_token_and_api_alike():
    # the app's watchdog feed: a call of five requests (token, API 401, renewal, API) feeds
    # before each, so no feed is further apart than one request's deadline
    reset(profile="zaikio")
    c = zaikio(api_origins=[url()])
    seen = []
    c.on_request = lambda: seen.append(len(log()))  # requests the stub had seen by then
    assert c.request("GET", url("/api/v1/resource")).status == 200
    control("/_stub/expire", {})
    assert c.request("GET", url("/api/v1/resource")).status == 200
    assert seen == [0, 1, 2, 3, 4] and len(log()) == 5


def test_a_failing_on_request_propagates_and_is_not_a_failed_token_request():
    # on_request is the caller's hook (a watchdog feed): its exception escapes as it is,
    # nothing is sent, and it counts as no failure: no backoff, no last_error, and a refresh
    # token (the access token expired) is kept for the next call
    clock = FakeClock()
    server = Scripted(lambda m, u, b, h: answer("tok-%d" % len(server.sent), expires_in=600,
                                                refresh_token="rt-1"))
    c = scripted_client(server, clock)
    fail = []

    def feed():
        if fail:
            raise fail.pop()

    c.on_request = feed
    fail.append(OSError(5, "feed failed"))
    raises(OSError, c.token)
    assert server.sent == [] and c.next_attempt_in_ms() == 0 and c.last_error is None
    assert c.token().access_token == "tok-1"
    clock.advance(601_000)  # expired: the next token is a refresh
    fail.append(KeyError("a bug of the app's"))  # not an OSError: unchanged too
    raises(KeyError, c.token)
    assert len(server.sent) == 1 and c.next_attempt_in_ms() == 0 and c.last_error is None
    assert c._refresh == "rt-1"
    fail.append(OSError(5, "feed failed"))  # before an API call: the same
    raises(OSError, c.request, "GET", SCRIPTED_API)
    assert len(server.sent) == 1
    assert c.token().access_token == "tok-2" and "refresh_token" in server.sent[1][2]


def test_401_twice_is_returned_not_looped():
    reset(profile="zaikio")
    c = zaikio(api_origins=[url()])
    c.token()
    api401 = {"kind": "status", "status": 401, "path": "/api/"}
    faults(api401, api401, api401)
    r = c.request("GET", url("/api/v1/resource"))
    assert r.status == 401
    # one call, one renewal, one retry, and the second 401 is the caller's to handle
    assert [(e["path"], e["status"]) for e in log()] == [
        ("/oauth/access_token", 200), ("/api/v1/resource", 401),
        ("/oauth/access_token", 200), ("/api/v1/resource", 401)]


def test_a_401_storm_is_not_a_token_request_per_call():
    # the API refuses every token (a stale key cache, a wrong audience): the first call renews
    # once and is refused again, so the fault is the API's; later calls with that token make
    # no forced renewal until it expires or a call with it succeeds (the 401 rule, README)
    clock = FakeClock()
    api = [401]
    s = Scripted(lambda m, u, b, h: answer("tok%d" % len(s.sent), expires_in=60)
                 if u == SCRIPTED_TOKEN_URL else Response(api[0], {}, b""))
    c = scripted_client(s, clock)
    for _ in range(20):
        assert c.request("GET", SCRIPTED_API).status == 401
        clock.advance(1000)
    assert len(s.tokens()) == 2, "%d token requests for 20 API calls" % len(s.tokens())
    clock.advance(40_000)  # the refused token expires: a new one, renewed once more at a 401
    assert c.request("GET", SCRIPTED_API).status == 401 and len(s.tokens()) == 4
    api[0] = 200  # a call with it succeeds: the next 401 renews again
    assert c.request("GET", SCRIPTED_API).status == 200
    api[0] = 401
    assert c.request("GET", SCRIPTED_API).status == 401 and len(s.tokens()) == 5


def test_a_refresh_grant_that_keeps_failing_falls_back_to_client_credentials():
    # the refresh grant is broken (503, or a reset connection: a refresh-token database down,
    # a proxy rule) while client credentials work: once the access token has expired, the
    # failed refresh is not the next attempt's first choice, and the backoff applies between
    for broken in (Response(503, {}, b""), OSError(104, "ECONNRESET")):
        clock = FakeClock()
        s = Scripted(None)
        s.answer = _refresh_broken(s, broken)
        c = scripted_client(s, clock)
        assert c.token().access_token == "tok1"
        clock.advance(61_000)  # expired: renewal needed
        raises(ESCAPES, c.token)
        assert c.next_attempt_in_ms() > 0  # backed off: not a second request at once
        t, waited = until_token(c, clock)
        assert t is not None and waited <= LONGEST_MS, (waited, s.grants())
        assert s.grants() == ["client_credentials", "refresh_token", "client_credentials"]


def test_the_minimum_lifetime_counts_from_the_answer_of_a_slow_server():
    # a server 15 s slow that sends expires_in 0: the 10 s minimum counted from the start of
    # the request had passed at the answer, a token request per call; from the answer, the
    # token serves the calls of the next seconds
    clock = FakeClock()

    def slow(method, u, body, headers):
        clock.advance(15_000)
        return answer("tok%d" % len(s.sent), expires_in=0)

    s = Scripted(slow)
    c = scripted_client(s, clock)
    t = c.token()
    assert t.expires_in == 10 and c.token() is t
    clock.advance(5000)
    assert c.token() is t and len(s.tokens()) == 1
    clock.advance(5000)  # past the minimum: renewed
    assert c.token() is not t and len(s.tokens()) == 2


def _refresh_broken(s, broken):
    # client credentials answered, the refresh grant with `broken` (a Response, or raised)
    def server(method, u, body, headers):
        if "grant_type=refresh_token" in body:
            if isinstance(broken, Exception):
                raise broken
            return broken
        return answer("tok%d" % len(s.sent), expires_in=60, refresh_token="rt")

    return server


def test_a_refresh_token_with_a_lone_surrogate_is_dropped_never_escapes():
    # "refresh_token": "r\ud800t" is valid JSON (a lone surrogate): not RFC 6749 VSCHAR, so it
    # is dropped at receipt (CPython's form encoding would raise UnicodeEncodeError out of
    # token(), its repr() holding the token, at every call), and not taken back from a store
    clock = FakeClock()
    store = MemoryStore()
    s = Scripted(lambda m, u, b, h: answer("tok", expires_in=60) if "refresh_token=" in b else
                 Response(200, {}, b'{"access_token": "tok", "expires_in": 60, '
                                   b'"refresh_token": "r\\ud800t"}'))
    c = scripted_client(s, clock, store=store)
    assert c.token().refresh_token is None and "refresh_token" not in store.state
    got = []
    for _ in range(3):
        clock.advance(61_000)
        try:
            got.append(c.token())
        except ESCAPES as e:
            got.append(e)
    assert all(isinstance(t, Token) for t in got), got
    assert s.grants() == ["client_credentials"] * 4
    for bad in ("r\ud800t", "r\r\nt", "", 5, "caf\u00e9"):
        store.state["refresh_token"] = bad
        assert scripted_client(s, clock, store=store)._refresh is None, bad


def test_bearer_token_only_sent_to_configured_origins():
    reset(profile="zaikio")
    c = zaikio()
    e = raises(ValueError, c.request, "GET", "http://127.0.0.2:9/steal")
    assert "not sent" in str(e)
    assert log() == []  # not even a token fetch


def test_an_unknown_option_is_a_type_error_and_the_construction_code_is_let_go():
    import sys

    from oauthcc.aio import AsyncTokenClient

    for cls in (TokenClient, AsyncTokenClient):
        raises(TypeError, cls, url("/oauth/token"), CLIENT_ID, CLIENT_SECRET, leway=5)
        raises(TypeError, cls, url("/oauth/token"), CLIENT_ID, CLIENT_SECRET, "read", "x")
        c = cls(url("/oauth/token"), CLIENT_ID, CLIENT_SECRET, "read", leeway=5, timeout=3)
        assert c.scope == "read" and c.client_id == CLIENT_ID
        assert "oauthcc.configure" not in sys.modules  # it serves the construction only


def test_retryable_failure_backs_off_without_network():
    reset(profile="zaikio")
    clock = FakeClock()
    c = zaikio(clock)
    faults({"kind": "status", "status": 503, "headers": {"Retry-After": "7"},
            "body": "<html>down</html>", "content_type": "text/html"})
    e = raises(OAuthError, c.token)
    assert e.error == "http_503" and e.retryable and e.retry_after == 7
    wait = c.next_attempt_in_ms()
    # never before Retry-After, plus jitter over as long again (rand: half the window), so a
    # fleet told the same Retry-After does not come back within the 2-second first window
    assert wait == 7000 + 7000 // 2
    e2 = raises(OAuthError, c.token)
    assert e2.error == "backoff" and e2.retryable and len(token_requests()) == 1
    clock.advance(wait)
    assert c.next_attempt_in_ms() == 0
    assert c.token().access_token and len(token_requests()) == 2


def test_network_failure_is_oserror_and_backs_off_exponentially():
    reset(profile="zaikio")
    clock = FakeClock()
    waits = []
    c = zaikio(clock, rand=lambda n: n, backoff_base=1, backoff_cap=5)  # worst-case jitter
    for _ in range(5):
        faults({"kind": "close"})
        raises(OSError, c.token)
        waits.append(c.next_attempt_in_ms())
        clock.advance(waits[-1])
    assert waits == [1000, 2000, 4000, 5000, 5000]
    assert c.token().access_token  # and recovery


def test_valid_token_served_while_renewal_fails():
    reset(profile="zaikio", lifetime=60)
    clock = FakeClock()
    c = zaikio(clock)
    t = c.token()
    clock.advance(50_000)  # due for renewal (leeway 15 s) but valid for 10 s more
    faults({"kind": "status", "status": 500, "headers": {"Retry-After": "60"}})
    assert c.token() is t
    assert c.last_error.error == "http_500"
    assert c.token() is t  # in backoff: served without touching the network
    assert len(token_requests()) == 2
    clock.advance(11_000)  # now really expired, and still in backoff
    assert raises(OAuthError, c.token).error == "backoff"


def test_error_answer_with_status_200_and_malformed_answers():
    reset(profile="zaikio")
    for body, err in (({"error": "invalid_scope"}, "invalid_scope"),
                      ({"token_type": "bearer"}, "invalid_response")):
        c = zaikio()
        faults({"kind": "json", "status": 200, "body": body})
        assert raises(OAuthError, c.token).error == err


def test_persisted_token_reused_only_with_a_set_clock():
    reset(profile="zaikio")
    store = MemoryStore()
    clock = FakeClock()
    c = zaikio(clock, store=store)
    t = c.token()
    assert store.state["token"]["access_token"] == t.access_token
    writes = store.writes
    c.token()
    assert store.writes == writes  # nothing changed: nothing written (flash wears)
    clock.advance(100_000)
    c2 = zaikio(clock, store=store)  # "after deep sleep"
    assert c2.token().access_token == t.access_token and len(token_requests()) == 1
    c3 = zaikio(FakeClock(wall=None), store=store)  # wall clock not set: not trusted
    assert c3.token().access_token != t.access_token
    c4 = zaikio(clock, store=store, client_secret="other")  # another configuration
    assert raises(OAuthError, c4.token).error == "invalid_client"


def test_latch_survives_restart_via_store():
    reset(profile="zaikio")
    store = MemoryStore()
    clock = FakeClock()
    c = zaikio(clock, store=store, scope=ORG + ".nope.r")
    raises(OAuthError, c.token)
    c2 = zaikio(clock, store=store, scope=ORG + ".nope.r")
    assert c2.latched.error == "ungranted_scope" and c2.next_attempt_in_ms() > 2_600_000
    assert raises(OAuthError, c2.token).error == "ungranted_scope"
    assert len(token_requests()) == 1


def test_constructor_rejects_bad_configuration_clearly():
    for cid, sec in ((None, "s"), ("", "s"), ("id", None), ("id", 5)):
        raises(ValueError, TokenClient, url("/oauth/access_token"), cid, sec)
    raises(ValueError, TokenClient, url("/t"), "id", "s", auth="digest")
    raises(ValueError, TokenClient, "ftp://x/t", "id", "s")
    e = raises(ValueError, oauthcc.from_profile, "keycloak", "id", "s")
    assert "zaikio" in str(e)
    raises(ValueError, oauthcc.from_profile, "wicked", "id", "s", None, url())
    raises(ValueError, oauthcc.from_profile, "generic", "id", "s")
    c = TokenClient(url("/t"), "id", "TOPSECRET")
    assert "TOPSECRET" not in repr(c)


def test_an_answer_without_scope_grants_the_scope_asked_for():
    # RFC 6749 5.1: the scope may be omitted when it is the one asked for (LemonLDAP::NG does)
    reset(profile="generic", clients=[{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}])
    said = []
    c = TokenClient(url("/oauth/token"), CLIENT_ID, CLIENT_SECRET, ["read", "write"],
                    clock=FakeClock(), log=said.append)
    faults({"kind": "patch", "fields": {"scope": None}})
    t = c.token()
    assert t.scope == "read write" and "scope" not in t.extra
    assert not [s for s in said if "scope" in s], said  # nothing differs: nothing said
    faults({"kind": "patch", "fields": {"scope": "read"}})
    c.invalidate()
    assert c.token().scope == "read" and [s for s in said if "differs" in s]
    c = TokenClient(url("/oauth/token"), CLIENT_ID, CLIENT_SECRET, clock=FakeClock())
    assert c.token().scope is None  # none asked, none said
