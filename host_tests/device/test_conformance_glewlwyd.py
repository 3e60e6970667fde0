# Conformance with Glewlwyd (Debian package glewlwyd, a C single-sign-on server we did not
# write): its OpenID Connect plugin's token endpoint, configured through its admin API by
# conformance/launch.py; HS256 JWT access tokens, checked by a resource beside it. Quirks: it
# does not form-urldecode Basic credentials, and refuses anything about the client (a wrong
# secret, a missing scope) with a bare 403 and an empty body.
import conformance as cf
from oauthcc import OAuthError
from oauthcc.jwt import claims
from support import raises

NEEDS_SERVERS = ("glewlwyd",)


def info():
    return cf.server("glewlwyd")


def test_plain_secret_every_style_jwt_token_no_refresh():
    s = info()
    t = cf.plain_secret_token(s)  # token_type: it says "bearer"
    assert t.scope == "read write"
    jc = claims(t.access_token)
    assert jc["iss"] == s["issuer"] and jc["client_id"] == "conf-basic"
    assert jc["aud"] == "read write"  # quirk: without a resource, aud is the scope


def test_special_secret_only_raw_basic_or_post():
    # Basic credentials are not form-urldecoded: the RFC encoding is refused, bare 403
    s = info()
    assert cf.secret_styles(s, "conf-special") == {"rfc": ("http_403", 403), "raw": "ok",
                                                   "post": "ok", "auto": "ok"}


def test_non_ascii_secret_only_raw_basic_or_post():
    s = info()
    assert cf.secret_styles(s, "conf-utf8") == {"rfc": ("http_403", 403), "raw": "ok",
                                                "post": "ok", "auto": "ok"}


def test_bad_secret_is_a_bare_403():
    s = info()
    for kw in ({}, {"auth": "post"}):
        c = cf.client(s, "conf-basic" if not kw else "conf-post", "read",
                   client_secret="wrong", **kw)
        e = raises(OAuthError, c.token)
        assert (e.error, e.status, e.description) == ("http_403", 403, None)
        assert not e.retryable and "wrong" not in str(e) + repr(e)


def test_a_client_registered_for_basic_may_not_post():
    s = info()
    assert cf.outcome(cf.client(s, "conf-basic", "read", auth="post")) == ("http_403", 403)


def test_scope_is_required():
    # no scope at all: the same bare 403 as a bad secret
    assert cf.outcome(cf.client(info(), "conf-basic")) == ("http_403", 403)


def test_unknown_scope_is_scope_invalid():
    s = info()
    e = raises(OAuthError, cf.client(s, "conf-basic", "bogus").token)
    assert e.error == "scope_invalid" and e.status == 400 and not e.retryable  # not invalid_scope


def test_scope_not_allowed_is_dropped_and_the_rest_echoed():
    t = cf.client(info(), "conf-basic", "read admin").token()
    assert t.scope == "read"


def test_resource_indicator_gives_a_jwt_the_api_accepts():
    s = info()
    c = cf.client(s, "conf-special-post", "read", auth="post", params={"resource": s["resource"]},
               api_origins=[s["api_url"]])
    assert cf.check_jwt_for_the_api(s, c)["scope"] == "read"


def test_api_refuses_a_token_for_no_resource_after_one_renewal():
    s = info()
    rec = cf.Recorder()
    c = cf.client(s, "conf-basic", "read", transport=rec, api_origins=[s["api_url"]])
    cf.check_401_after_one_renewal(s, rec, c.request("GET", s["api_url"]))


def test_expiry_makes_a_new_grant_without_refresh_token():
    assert cf.check_expiry_makes_a_new_grant(info()) == 1  # kept alive: one connection


def test_https_with_the_test_ca():
    s = info()
    assert cf.client(s, "conf-basic", "read", tls=True).token().scope == "read"
    assert cf.secret_styles(s, "conf-special", tls=True)["raw"] == "ok"


def test_default_options_special_secret_raw_basic_after_a_bare_403_then_one_request():
    assert cf.check_auto_finds_it_then_one_request(info()) == ([403, 200], "raw")
    assert cf.check_auto_finds_it_then_one_request(info(), tls=True) == ([403, 200], "raw")


def test_wrong_special_secret_costs_three_requests():
    assert cf.check_wrong_special_secret_costs_three(info()) == ("http_403", 403)


def test_client_secret_jwt_aud_is_the_token_url_of_the_listener():
    cf.check_client_secret_jwt(info())
    cf.check_client_secret_jwt(info(), tls=True)


def test_tls_client_auth_and_self_signed():
    cf.check_mutual_tls(info())
    cf.check_mutual_tls(info(), "conf-selfsigned", "selfsigned")
