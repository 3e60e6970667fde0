# Conformance with panva's oidc-provider (npm), a certified OpenID Connect/OAuth 2.0 server
# we did not write: client credentials, resource indicators (RFC 8707) giving JWT access
# tokens (RFC 9068), checked by a resource route against the provider's JWKS.
from conformance import (
    Recorder,
    check_401_after_one_renewal,
    check_auto_finds_it_then_one_request,
    check_client_secret_jwt,
    check_expiry_makes_a_new_grant,
    check_mutual_tls,
    check_wrong_special_secret_costs_three,
    client,
    server,
)
from oauthcc import OAuthError
from oauthcc.jwt import claims
from oauthcc.transport import Transport
from support import raises

NEEDS_SERVERS = ("oidc_provider",)


def info():
    return server("oidc_provider")


def test_basic_auth_opaque_token_no_refresh():
    s = info()
    c = client(s, "conf-basic", "read write")
    t = c.token()
    assert t.token_type == "Bearer" and t.expires_in == 600
    assert t.scope == "read write"
    assert t.refresh_token is None  # no refresh token for client credentials
    raises(ValueError, claims, t.access_token)  # opaque without a resource indicator
    assert c.token() is t  # cached


def test_client_secret_post():
    s = info()
    t = client(s, "conf-post", ["read"], auth="post").token()
    assert t.scope == "read" and t.expires_in == 600


def test_special_secret_basic_rfc_encoding_is_the_default():
    # oidc-provider form-urldecodes Basic credentials (RFC 6749 2.3.1), as our default does
    s = info()
    assert client(s, "conf-special-basic", "read").token().scope == "read"


def test_special_secret_raw_basic_is_refused():
    s = info()
    c = client(s, "conf-special-basic", "read", basic_encode=False)
    e = raises(OAuthError, c.token)
    assert e.error == "invalid_request" and e.status == 400  # "%w&" is no valid %-escape


def test_special_secret_post():
    s = info()
    assert client(s, "conf-special-post", "write", auth="post").token().scope == "write"


def test_non_ascii_secret_is_refused_by_the_server():
    # oidc-provider allows only printable ASCII in a secret (RFC 6749 appendix A: VSCHAR)
    s = info()
    e = raises(OAuthError, client(s, "conf-utf8-basic", "read").token)
    assert e.error == "invalid_request" and e.status == 400
    e = raises(OAuthError, client(s, "conf-utf8-post", "read", auth="post").token)
    assert e.error == "invalid_client_metadata" and e.status == 400


def test_bad_secret_is_invalid_client_and_latches():
    s = info()
    c = client(s, "conf-basic", "read", client_secret="wrong")
    e = raises(OAuthError, c.token)
    assert e.error == "invalid_client" and e.status == 401 and not e.retryable
    assert c.latched is e and c.next_attempt_in_ms() > 1_700_000  # the long wait
    assert "wrong" not in str(e) + repr(e)


def test_scope_not_allowed_for_the_client_is_invalid_scope():
    s = info()
    c = client(s, "conf-basic", "read admin")  # admin exists, conf-basic may not have it
    e = raises(OAuthError, c.token)
    assert e.error == "invalid_scope" and e.status == 400
    assert c.latched is e and c.next_attempt_in_ms() > 1_700_000


def test_unknown_scope_is_dropped_silently():
    # quirk: a scope the server does not know is ignored, and the answer has no scope field,
    # which RFC 6749 5.1 reads as "granted as asked": so Token.scope is the scope asked for,
    # wrongly here (the token's introspection has no scope: test_opaque_token_...)
    s = info()
    t = client(s, "conf-basic", "bogus").token()
    assert t.scope == "bogus" and "scope" not in t.extra


def test_resource_indicator_gives_a_jwt_the_api_accepts():
    s = info()
    c = client(s, "conf-basic", "read write", params={"resource": s["resource"]})
    t = c.token()
    assert t.expires_in == 300
    jc = claims(t.access_token)
    assert jc["aud"] == s["resource"] and jc["client_id"] == "conf-basic"
    assert jc["scope"] == "read write" and jc["iss"] == s["issuer"]
    r = c.request("GET", s["api_url"])  # the same origin as the token URL
    assert r.status == 200, r.body
    assert r.json()["claims"]["sub"] == "conf-basic"


def test_resource_indicator_with_post_and_special_secret():
    s = info()
    c = client(s, "conf-special-post", "read", auth="post", params=[("resource", s["resource"])])
    assert claims(c.token().access_token)["aud"] == s["resource"]
    assert c.request("GET", s["api_url"]).status == 200


def test_unknown_resource_is_invalid_target_and_latches():
    s = info()
    c = client(s, "conf-basic", "read", params={"resource": "https://elsewhere.test/"})
    e = raises(OAuthError, c.token)
    assert e.error == "invalid_target" and e.status == 400 and not e.retryable
    assert c.latched is e and c.next_attempt_in_ms() > 1_700_000  # a configuration error


def test_api_refuses_a_token_for_no_resource_after_one_renewal():
    s = info()
    rec = Recorder()
    c = client(s, "conf-basic", "read", transport=rec)  # opaque: the API wants a JWT for it
    check_401_after_one_renewal(s, rec, c.request("GET", s["api_url"]))


def test_opaque_token_accepted_by_introspection():
    s = info()
    c = client(s, "conf-post", "read", auth="post")
    r = c.request("GET", s["opaque_api_url"])
    assert r.status == 200, r.body
    got = r.json()["claims"]
    assert got["active"] and got["client_id"] == "conf-post" and got["scope"] == "read"
    bad = Transport().request("GET", s["opaque_api_url"], None,
                              {"Authorization": "Bearer " + "x" * 43})
    assert bad.status == 401


def test_audience_parameter_is_ignored_use_resource():
    # the "generic" profile's audience= is not RFC 8707: oidc-provider wants resource=
    s = info()
    t = client(s, "conf-basic", "read", audience=s["resource"]).token()
    raises(ValueError, claims, t.access_token)  # opaque: no audience was applied


def test_expiry_makes_a_new_grant_without_refresh_token():
    assert check_expiry_makes_a_new_grant(info()) == 1  # kept alive: one connection


def test_https_with_the_test_ca():
    s = info()
    assert client(s, "conf-special-basic", "read", tls=True).token().scope == "read"
    assert client(s, "conf-special-post", "read", tls=True, auth="post").token().scope == "read"


def test_a_client_registered_for_basic_may_post_too():
    # its token_endpoint_auth_method only tells secret-based from other methods
    assert client(info(), "conf-basic", "read", auth="post").token().scope == "read"


def test_default_options_special_secret_basic_at_once_then_one_request():
    assert check_auto_finds_it_then_one_request(info()) == ([200], "basic")
    assert check_auto_finds_it_then_one_request(info(), tls=True) == ([200], "basic")


def test_wrong_special_secret_costs_three_requests():
    # Basic RFC: invalid_client; raw: invalid_request ("%w&" is no escape); the body:
    # invalid_client. The first refusal is the answer, and it latches
    assert check_wrong_special_secret_costs_three(info()) == ("invalid_client", 401)


def test_client_secret_jwt_aud_is_the_token_url_of_the_listener():
    check_client_secret_jwt(info())
    check_client_secret_jwt(info(), tls=True)


def test_tls_client_auth_and_self_signed():
    check_mutual_tls(info())
    check_mutual_tls(info(), "conf-selfsigned", "selfsigned")
