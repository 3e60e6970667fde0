# Conformance with LemonLDAP::NG (Debian liblemonldap-ng-portal-perl, a Perl single-sign-on
# suite we did not write): its portal's OpenID Connect issuer run by plackup, configured by
# conformance/launch.py. Opaque tokens; the resource beside it asks its introspection
# endpoint. Quirks: its Basic parser takes the Base64 up to the first "+", "/" or "=" and
# splits on every ":", so a special secret works only in the body; and the answer has no
# scope when everything asked was granted.
import conformance as cf

NEEDS_SERVERS = ("lemonldap",)


def info():
    return cf.server("lemonldap")


def test_plain_secret_every_style_opaque_token_no_refresh():
    # all asked was granted: the answer has no scope, so Token.scope is the one asked for
    assert cf.plain_secret_token(info(), "read").scope == "read"


def test_special_secret_only_in_the_body():
    assert cf.secret_styles(info(), "conf-special") == {"rfc": ("invalid_client", 401),
                                                        "raw": ("invalid_client", 401),
                                                        "post": "ok", "auto": "ok"}


def test_non_ascii_secret_refused_in_every_style():
    assert cf.secret_styles(info(), "conf-utf8") == {"rfc": ("invalid_client", 401),
                                                     "raw": ("invalid_client", 401),
                                                     "post": ("invalid_client", 400),
                                                     "auto": ("invalid_client", 401)}


def test_bad_secret_is_invalid_client_401_for_basic_400_for_post():
    assert cf.wrong_secret(info()) == {"basic": ("invalid_client", 401),
                                       "post": ("invalid_client", 400)}


def test_scope_omitted_when_all_asked_was_granted():
    # RFC 6749 5.1 allows it: the granted scope is then the one asked, and Token.scope says so
    s = info()
    t = cf.client(s, "conf-basic", "read write").token()
    assert t.scope == "read write" and "scope" not in t.extra
    assert cf.client(s, "conf-basic", "read bogus").token().scope == "read"  # narrowed: said


def test_unknown_scope_alone_is_invalid_scope():
    s = info()
    assert cf.outcome(cf.client(s, "conf-basic", "bogus")) == ("invalid_scope", 400)
    # none asked, none given
    assert cf.outcome(cf.client(s, "conf-basic")) == ("invalid_scope", 400)


def test_token_accepted_by_introspection():
    s = info()
    c = cf.client(s, "conf-special-post", "read", auth="post", api_origins=[s["api_url"]])
    r = c.request("GET", s["api_url"])
    assert r.status == 200, r.body
    assert r.json()["claims"]["client_id"] == "conf-special-post"


def test_expiry_makes_a_new_grant_without_refresh_token():
    assert cf.check_expiry_makes_a_new_grant(info()) == 2  # it closes after every answer


def test_https_with_the_test_ca():
    s = info()
    styles = cf.secret_styles(s, "conf-special", tls=True)
    assert styles["post"] == "ok" and styles["auto"] == "ok"


def test_default_options_special_secret_in_the_body_after_both_basic_then_one_request():
    assert cf.check_auto_finds_it_then_one_request(info()) == ([401, 401, 200], "post")
    assert cf.check_auto_finds_it_then_one_request(info(), tls=True) == ([401, 401, 200],
                                                                         "post")


def test_wrong_special_secret_costs_three_requests():
    assert cf.check_wrong_special_secret_costs_three(info()) == ("invalid_client", 401)
