# Conformance with @node-oauth/oauth2-server (npm): the library's token handler and
# client-credentials grant with an in-memory model (conformance/launch.mjs: the model compares
# the secret and checks scopes, as its documentation shows). Opaque tokens; the resource asks
# the library's authenticate(). Quirk: Basic is read with `basic-auth`, not url-decoded.
import conformance as cf

NEEDS_SERVERS = ("node_oauth2_server",)


def info():
    return cf.server("node_oauth2_server")


def test_plain_secret_every_style_opaque_token_no_refresh():
    assert cf.plain_secret_token(info()).scope == "read write"


def test_special_secret_only_raw_basic_or_post():
    assert cf.secret_styles(info(), "conf-special") == {"rfc": ("invalid_client", 401),
                                                        "raw": "ok", "post": "ok",
                                                        "auto": "ok"}


def test_non_ascii_secret_is_refused_in_every_style():
    # only printable ASCII may be a secret (RFC 6749 appendix A, VSCHAR), checked before the
    # model sees it; the RFC-encoded one is ASCII, and simply does not match
    # auto: all three tried, the first refusal is the answer
    assert cf.secret_styles(info(), "conf-utf8") == {"rfc": ("invalid_client", 401),
                                                     "raw": ("invalid_request", 400),
                                                     "post": ("invalid_request", 400),
                                                     "auto": ("invalid_client", 401)}


def test_bad_secret_is_invalid_client_401_for_basic_400_for_post():
    assert cf.wrong_secret(info()) == {"basic": ("invalid_client", 401),
                                       "post": ("invalid_client", 400)}


def test_unknown_scope_is_invalid_scope():
    assert cf.outcome(cf.client(info(), "conf-basic", "read bogus")) == ("invalid_scope", 400)


def test_no_scope_asked_an_empty_scope_field():
    assert cf.client(info(), "conf-basic").token().scope == ""


def test_revoked_token_gets_one_renewal_and_one_retry():
    cf.check_revoked_token_renewed_once(info())


def test_expiry_makes_a_new_grant_without_refresh_token():
    assert cf.check_expiry_makes_a_new_grant(info()) == 1  # kept alive: one connection


def test_default_options_special_secret_raw_basic_then_one_request():
    assert cf.check_auto_finds_it_then_one_request(info()) == ([401, 200], "raw")


def test_wrong_special_secret_costs_three_requests():
    assert cf.check_wrong_special_secret_costs_three(info()) == ("invalid_client", 401)
