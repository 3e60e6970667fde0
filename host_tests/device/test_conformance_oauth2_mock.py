# Conformance with oauth2-mock-server (npm): it issues RS256 JWT access tokens to anyone; the
# launcher's hook refuses unknown clients and scopes (our glue: see conformance/launch.mjs).
# A resource server checks the tokens against the mock's JWKS.
from conformance import (
    Recorder,
    check_401_after_one_renewal,
    check_auto_finds_it_then_one_request,
    check_expiry_makes_a_new_grant,
    check_jwt_for_the_api,
    check_wrong_special_secret_costs_three,
    client,
    server,
)
from oauthcc import OAuthError
from oauthcc.jwt import claims
from support import raises

NEEDS_SERVERS = ("oauth2_mock",)


def info():
    return server("oauth2_mock")


def api_origin(s):
    return [s["api_url"]]


def test_basic_auth_jwt_token_no_refresh():
    s = info()
    c = client(s, "conf-basic", "read write")
    t = c.token()
    assert t.token_type == "Bearer" and t.expires_in == 3600
    assert t.scope == "read write" and t.refresh_token is None
    jc = claims(t.access_token)
    assert jc["scope"] == "read write" and jc["iss"] == s["issuer"]
    assert c.token() is t


def test_client_secret_post():
    s = info()
    t = client(s, "conf-post", ["read", "write"], auth="post").token()
    assert t.scope == "read write"


def test_special_secret_basic_needs_raw_encoding():
    # quirk: Basic credentials are not form-urldecoded (the `basic-auth` package), so an
    # RFC-encoded special secret does not match: basic_encode=False, or auth="post" (the
    # default, auth="auto", finds it: test_default_options_...)
    s = info()
    e = raises(OAuthError, client(s, "conf-special-basic", "read", basic_encode=True).token)
    assert e.error == "invalid_client" and e.status == 401
    t = client(s, "conf-special-basic", "read", basic_encode=False).token()
    assert t.scope == "read"


def test_special_secret_post():
    s = info()
    assert client(s, "conf-special-post", "read", auth="post").token().scope == "read"


def test_non_ascii_secret_raw_basic_and_post():
    s = info()
    assert client(s, "conf-utf8-basic", "read", basic_encode=False).token().scope == "read"
    assert client(s, "conf-utf8-post", "read", auth="post").token().scope == "read"


def test_bad_secret_is_invalid_client_and_latches():
    s = info()
    c = client(s, "conf-post", "read", auth="post", client_secret="wrong")
    e = raises(OAuthError, c.token)
    assert e.error == "invalid_client" and e.status == 401 and not e.retryable
    assert c.latched is e and c.next_attempt_in_ms() > 1_700_000


def test_unknown_scope_is_invalid_scope():
    s = info()
    c = client(s, "conf-basic", "read bogus")
    e = raises(OAuthError, c.token)
    assert e.error == "invalid_scope" and e.status == 400
    assert c.latched is e and c.next_attempt_in_ms() > 1_700_000


def test_aud_parameter_gives_a_jwt_the_api_accepts():
    # the mock takes the audience as `aud`: neither `audience` nor `resource`
    s = info()
    c = client(s, "conf-basic", "read", params={"aud": s["resource"]},
               api_origins=api_origin(s))
    assert check_jwt_for_the_api(s, c)["scope"] == "read"


def test_api_refuses_a_token_without_audience_after_one_renewal():
    s = info()
    rec = Recorder()
    c = client(s, "conf-basic", "read", params={"audience": s["resource"]},
               api_origins=api_origin(s), transport=rec)
    assert "aud" not in claims(c.token().access_token)  # `audience` is ignored
    check_401_after_one_renewal(s, rec, c.request("GET", s["api_url"]))


def test_expiry_makes_a_new_grant_without_refresh_token():
    assert check_expiry_makes_a_new_grant(info()) == 1  # kept alive: one connection


def test_default_options_special_secret_raw_basic_then_one_request():
    assert check_auto_finds_it_then_one_request(info()) == ([401, 200], "raw")


def test_wrong_special_secret_costs_three_requests():
    assert check_wrong_special_secret_costs_three(info()) == ("invalid_client", 401)
