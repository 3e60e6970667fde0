# Conformance with authlib (PyPI): its AuthorizationServer, ClientCredentialsGrant, RFC 7523
# client assertions and RFC 7009 revocation, driven by our glue in conformance/launch.py
# (storage, HTTP, the client model). Opaque tokens; the resource beside it asks its store.
import conformance as cf

NEEDS_SERVERS = ("authlib",)


def info():
    return cf.server("authlib")


def test_plain_secret_every_style_opaque_token_no_refresh():
    t = cf.plain_secret_token(info())
    assert t.scope == "read write" and "." not in t.access_token  # opaque


def test_special_secret_every_style():
    # Basic is form-urldecoded (RFC 6749 2.3.1); raw works too, because its unquote leaves
    # this secret as it is ("%w&" is no escape): a secret with a valid %XX would not
    assert cf.secret_styles(info(), "conf-special") == {"rfc": "ok", "raw": "ok", "post": "ok",
                                                        "auto": "ok"}


def test_non_ascii_secret_every_style():
    assert cf.secret_styles(info(), "conf-utf8") == {"rfc": "ok", "raw": "ok", "post": "ok",
                                                     "auto": "ok"}


def test_bad_secret_is_invalid_client_401():
    assert cf.wrong_secret(info()) == {"basic": ("invalid_client", 401),
                                       "post": ("invalid_client", 401)}


def test_a_client_registered_for_basic_may_not_post():
    c = cf.client(info(), "conf-basic", "read", auth="post")
    assert cf.outcome(c) == ("invalid_client", 401)


def test_unknown_scope_is_invalid_scope():
    assert cf.outcome(cf.client(info(), "conf-basic", "bogus")) == ("invalid_scope", 400)


def test_scope_not_allowed_is_dropped_and_the_rest_echoed():
    assert cf.client(info(), "conf-basic", "read admin").token().scope == "read"


def test_no_scope_asked_none_granted_no_scope_field():
    t = cf.client(info(), "conf-basic").token()
    assert t.scope is None and "scope" not in t.extra


def test_revoked_token_gets_one_renewal_and_one_retry():
    cf.check_revoked_token_renewed_once(info())


def test_expiry_makes_a_new_grant_without_refresh_token():
    assert cf.check_expiry_makes_a_new_grant(info()) == 2  # http.server: HTTP/1.0, not kept


def test_https_with_the_test_ca():
    s = info()
    assert cf.secret_styles(s, "conf-special", tls=True) == {"rfc": "ok", "raw": "ok",
                                                             "post": "ok", "auto": "ok"}


def test_default_options_special_secret_basic_at_once_then_one_request():
    assert cf.check_auto_finds_it_then_one_request(info()) == ([200], "basic")
    assert cf.check_auto_finds_it_then_one_request(info(), tls=True) == ([200], "basic")


def test_wrong_special_secret_costs_three_requests():
    assert cf.check_wrong_special_secret_costs_three(info()) == ("invalid_client", 401)


def test_client_secret_jwt():
    cf.check_client_secret_jwt(info())
    cf.check_client_secret_jwt(info(), tls=True)
