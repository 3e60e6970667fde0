import json

from oauthcc import OAuthError, Token, httpdate
from oauthcc.answer import parse
from oauthcc.grant import build
from oauthcc.httpdate import retry_after
from support import make_jwt, raises

JSON = {"content-type": "application/json"}


def _ok(**fields):
    d = {"access_token": "tok", "token_type": "bearer", "expires_in": 599}
    d.update(fields)
    return json.dumps(d).encode()


def test_build_basic_client_credentials():
    body, h = build("id", "sec", "client_credentials", "a,b", params={"audience": "x"})
    assert body == "grant_type=client_credentials&scope=a%2Cb&audience=x"
    assert h["Authorization"].startswith("Basic ")
    assert h["Content-Type"] == "application/x-www-form-urlencoded"


def test_build_post_and_refresh():
    body, h = build("id", "s&=", "refresh_token", "ignored", refresh_token="rt+1", auth="post")
    assert body == (
        "grant_type=refresh_token&refresh_token=rt%2B1&client_id=id&client_secret=s%26%3D")
    assert "Authorization" not in h


def test_build_raw_basic_and_the_methods_without_a_secret_in_the_request():
    from oauthcc._port import a2b_base64

    _, h = build("i d", "s:+", "client_credentials", auth="raw")
    assert a2b_base64(h["Authorization"][6:]) == b"i d:s:+"
    _, h = build("i d", "s:+", "client_credentials")
    assert a2b_base64(h["Authorization"][6:]) == b"i%20d:s%3A%2B"
    body, h = build("id", None, "client_credentials", "read", auth="tls")
    assert body == "grant_type=client_credentials&scope=read&client_id=id"
    assert "Authorization" not in h
    body, h = build("id", "secret", "client_credentials", auth="jwt")  # + assertion.build's
    assert body == "grant_type=client_credentials&client_id=id" and "Authorization" not in h


def test_parse_success_keeps_extra_fields():
    t = parse(200, JSON, _ok(scope="zaikio.machines.rw", refresh_token="rt",
                             audiences=["directory"], bearer={"id": "b", "type": "Organization"}))
    assert t.access_token == "tok" and t.token_type == "Bearer" and t.expires_in == 599
    assert t.refresh_token == "rt" and t.scope == "zaikio.machines.rw"
    assert t.extra == {"audiences": ["directory"], "bearer": {"id": "b", "type": "Organization"}}


def test_parse_token_type_any_case_and_mac_refused():
    for tt in ("Bearer", "bearer", "BEARER"):
        assert parse(200, JSON, _ok(token_type=tt)).token_type == "Bearer"
    e = raises(OAuthError, parse, 200, JSON, _ok(token_type="mac"))
    assert e.error == "unsupported_token_type" and not e.retryable


def test_parse_expires_in_number_string_or_missing():
    assert parse(200, JSON, _ok(expires_in="3600")).expires_in == 3600
    assert parse(200, JSON, _ok(expires_in=59.9)).expires_in == 59
    assert parse(200, JSON, _ok(expires_in="soon")).expires_in is None
    assert parse(200, JSON, _ok(expires_in=-5)).expires_in == 0
    d = {"access_token": make_jwt({"iat": 10, "exp": 70}), "token_type": "bearer"}
    assert parse(200, JSON, json.dumps(d).encode()).expires_in is None  # the client uses the JWT


def test_parse_error_field_in_200_is_a_failure():
    e = raises(OAuthError, parse, 200, JSON, b'{"error": "invalid_scope", "access_token": "x"}')
    assert e.error == "invalid_scope" and not e.retryable
    assert not e.permanent  # only a 4xx answer can be permanent: backed off, not latched


def test_parse_missing_access_token_and_non_object():
    for body in (b'{"token_type": "bearer"}', b'{"access_token": ""}', b"[1]", b"<html>",
                 b'{"a":', b"", b'"str"', b"null", b"\xff\xfe"):
        e = raises(OAuthError, parse, 200, JSON, body)
        assert e.error == "invalid_response", (body, e.error)
        assert not e.retryable


def test_parse_rfc_error_responses():
    e = raises(OAuthError, parse, 400, JSON,
               b'{"error":"ungranted_scope","error_description":"Org/x.a.r not granted"}')
    assert (e.error, e.description, e.status) == ("ungranted_scope", "Org/x.a.r not granted", 400)
    assert e.permanent and not e.retryable
    e = raises(OAuthError, parse, 401, JSON, b'{"error":"invalid_client"}')
    assert e.permanent and str(e) == "invalid_client (HTTP 401)"
    e = raises(OAuthError, parse, 400, JSON, b'{"error":"invalid_grant"}')
    assert not e.permanent and not e.retryable
    e = raises(OAuthError, parse, 400, JSON, b'{"error":"something_new"}')
    assert not e.retryable and not e.permanent


def test_invalid_target_is_permanent():
    # RFC 8707: the resource indicator is unknown or malformed (oidc-provider answers so):
    # a configuration error that no retry can fix
    e = raises(OAuthError, parse, 400, JSON,
               b'{"error":"invalid_target","error_description":"resource indicator is missing"}')
    assert e.permanent and not e.retryable


def test_parse_status_without_json_body():
    e = raises(OAuthError, parse, 404, {}, b"<html>not found</html>")
    assert e.error == "http_404" and not e.retryable
    e = raises(OAuthError, parse, 302, {"location": "https://evil/"}, b"")
    assert e.error == "http_302" and not e.retryable
    for status in (408, 429, 500, 502, 503, 504):
        e = raises(OAuthError, parse, status, {}, b"<html>busy</html>")
        assert e.error == "http_%d" % status and e.retryable and e.status == status
    e = raises(OAuthError, parse, 400, JSON, b'{"error":"temporarily_unavailable"}')
    assert e.retryable
    e = raises(OAuthError, parse, 500, JSON, b'{"error":"server_error"}')
    assert e.retryable


def test_retry_after_seconds_and_http_date():
    e = raises(OAuthError, parse, 503, {"retry-after": "7"}, b"")
    assert e.retry_after == 7
    h = {"retry-after": "Wed, 21 Oct 2026 07:28:30 GMT", "date": "Wed, 21 Oct 2026 07:28:00 GMT"}
    assert retry_after(h) == 30  # measured against the server's Date: device clock not needed
    h = {"retry-after": "Wed, 21 Oct 2026 07:28:30 GMT"}
    assert retry_after(h) is None  # no Date header and an unknown wall clock
    assert retry_after(h, now=httpdate.parse("Wed, 21 Oct 2026 07:28:00 GMT")) == 30
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_httpdate_parse():
    assert httpdate.parse("Thu, 01 Jan 1970 00:00:00 GMT") == 0
    assert httpdate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777
    assert httpdate.parse("Sat, 29 Feb 2000 12:00:00 GMT") == 951825600
    for bad in ("", "Sun, 06 Xyz 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 CET",
                "Sun, 06 anN 1994 08:49:37 GMT", "06 Nov 1994", "Sun, 32 Nov 1994 08:49:37 GMT"):
        assert httpdate.parse(bad) is None, bad


def test_token_and_error_repr_hold_no_secret():
    t = Token("SECRET-ACCESS", refresh_token="SECRET-REFRESH", scope="a")
    assert "SECRET" not in repr(t) and "SECRET" not in str(t)
    e = OAuthError("invalid_client", "bad", 401)
    assert repr(e) == "OAuthError(invalid_client: bad (HTTP 401))"
