# What a server sends is data, never trusted (issue 13), on both runtimes: the access token's
# characters, lifetimes, nesting and sizes of a token answer, roles of any type, a TLS
# handshake that drips, server text in logs and errors, network errors that name their peer.
import asyncio
import json
import os
import sys
import time
from errno import ECONNREFUSED, ETIMEDOUT

from oauthcc import OAuthError, Token, TokenClient, from_profile
from oauthcc.aio import AsyncTokenClient
from oauthcc.aiotransport import AsyncTransport
from oauthcc.answer import parse
from oauthcc.http import Response
from oauthcc.roles import active_roles
from oauthcc.store import MemoryStore
from oauthcc.transport import Transport
from support import CLIENT_ID, CLIENT_SECRET, FakeClock, b64url_encode, make_jwt, raises, reset, url

NEEDS_STUB = True
NEEDS_TLS_STUB = True
TOKEN_URL = "http://as.example/token"
API = "http://as.example/api"
JSON = {"content-type": "application/json"}
CONTROL = "\r\n\x1b[31m\x00\x07\x7f\u009b"  # what must never reach a log line raw


def answer(fields=None, status=200, raw=None):
    """A token endpoint's Response: a good answer with `fields` changed (None: removed)."""
    if raw is None:
        d = {"access_token": "tok", "token_type": "bearer", "expires_in": 600}
        for k, v in (fields or {}).items():
            if v is None:
                d.pop(k, None)
            else:
                d[k] = v
        raw = json.dumps(d).encode()
    return Response(status, dict(JSON), raw)


class Script:
    """A transport: the token URL answers from `answers` (the last one repeats; an exception
    is raised), any other URL 200 "ok". Keeps what was asked in `sent`."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def request(self, method, url, body=None, headers=None, max_body=None):
        self.sent.append((method, url, dict(headers or {})))
        if url != TOKEN_URL:
            return Response(200, {}, b"ok")
        a = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(a, BaseException):
            raise a
        return a

    def api_calls(self):
        return [s for s in self.sent if s[1] != TOKEN_URL]

    def token_calls(self):
        return [s for s in self.sent if s[1] == TOKEN_URL]


class AsyncScript(Script):
    async def request(self, *args, **kw):
        await asyncio.sleep(0)
        return Script.request(self, *args, **kw)


def client(transport, clock=None, store=None, log=None, cls=TokenClient):
    return cls(TOKEN_URL, "id", "secret", api_origins=[API], transport=transport,
               clock=clock or FakeClock(), store=store, log=log, rand=lambda n: n // 2)


# -- the access token goes into a header: only RFC 6750 b64token characters ------------------

BAD_TOKENS = ["a\r\nX-Evil: 1", "a\r\n\r\nDELETE /things/1 HTTP/1.1\r\nHost: api\r\n\r\n",
              "a b", "a\tb", "t\x00", "t\x7f", "t\u00f6k", "=abc", "a=b", "ab==c", "a,b",
              "a;b", "a\"b", "a:b", "(a)", "", " "]
GOOD_TOKENS = ["abc", "a.b-c_d~e+f/g", "x=", "x==", "0", make_jwt({"sub": "x", "roles": 3})]


def test_access_token_must_be_b64token_characters():
    for at in GOOD_TOKENS:
        assert parse(200, JSON, answer({"access_token": at}).body).access_token == at
    for at in BAD_TOKENS:
        e = raises(OAuthError, parse, 200, JSON, answer({"access_token": at}).body)
        assert e.error == "invalid_response" and not e.retryable, (at, e)
        assert at not in str(e) or not at.strip(), (at, str(e))  # the token is not shown


def test_a_bad_token_is_refused_at_receipt_never_sent_cached_or_stored():
    for at in BAD_TOKENS:
        t = Script(answer({"access_token": at}))
        store = MemoryStore()
        c = client(t, store=store)
        e = raises(OAuthError, c.token)
        assert e.error == "invalid_response", (at, e)
        e = raises(OAuthError, c.request, "GET", API)  # backing off: no token, no API call
        assert t.api_calls() == [] and len(t.token_calls()) == 1, (at, t.sent)
        assert c._token is None and "token" not in (store.state or {}), at


# -- lifetimes: clamped to [10 s, one day] ------------------------------------------------------

def jwt_raw(payload_json):
    return ".".join((b64url_encode('{"alg":"HS256"}'), b64url_encode(payload_json),
                     b64url_encode("sig")))


def test_lifetimes_at_or_below_zero_are_clamped_to_ten_seconds():
    # expires_in 0 gave one token request per API call (20 calls, 20 requests)
    for v in ("0", "-5", '"0"', '"-1"', "0.4", "-1e999", '"-1e999"'):
        t = Script(answer(raw=('{"access_token": "tok", "expires_in": %s}' % v).encode()))
        clock = FakeClock()
        c = client(t, clock)
        for _ in range(20):
            assert c.request("GET", API).status == 200
            clock.advance(300)  # 6 s in all: within the 10 s minimum, and its leeway
        assert len(t.token_calls()) == 1, (v, len(t.token_calls()))
        assert c.token().expires_in == 10, (v, c.token().expires_in)


def test_absurd_lifetimes_are_clamped_to_a_day():
    for raw in (b'{"access_token": "tok", "expires_in": 1e999}',
                b'{"access_token": "tok", "expires_in": "1e999"}',
                b'{"access_token": "tok", "expires_in": 100000000000000000000000000000}',
                b'{"access_token": "tok", "expires_in": 86401}'):
        t = Script(answer(raw=raw))
        clock = FakeClock()
        c = client(t, clock)
        assert c.token().expires_in == 86400, raw
        clock.advance(86_400_000 - 31_000)  # the leeway of 30 s before the day ends
        c.token()
        assert len(t.token_calls()) == 1, raw
        clock.advance(2_000)
        c.token()
        assert len(t.token_calls()) == 2, raw


def test_jwt_lifetimes_that_overflow_are_clamped_not_a_crash():
    # a JWT with exp 1e999 and no expires_in raised OverflowError, with no backoff
    cases = (('{"iat": 10, "exp": 1e999}', 86400), ('{"nbf": -1e999, "exp": 1e999}', 86400),
             ('{"iat": 10, "exp": 1000000000000000000000000000000}', 86400),
             ('{"iat": 10, "exp": 10.5}', 10), ('{"iat": 1e999, "exp": 1e999}', 600),
             ('{"iat": 10, "exp": 3610}', 3600))
    for payload, lifetime in cases:
        t = Script(answer({"access_token": jwt_raw(payload), "expires_in": None}))
        c = client(t)
        for _ in range(5):
            assert c.token().expires_in == lifetime, (payload, c.token().expires_in)
        assert len(t.token_calls()) == 1, payload


def test_fifty_tasks_share_one_request_for_a_zero_lifetime():
    async def main():
        t = AsyncScript(answer({"expires_in": 0}))
        c = client(t, cls=AsyncTokenClient)
        got = await asyncio.gather(*[c.request("GET", API) for _ in range(50)])
        assert [r.status for r in got] == [200] * 50
        assert len(t.token_calls()) == 1, len(t.token_calls())

    asyncio.run(main())


# -- the shape of an answer ---------------------------------------------------------------------

def test_error_null_in_a_success_answer_is_no_error():
    for v in (None, ""):
        raw = json.dumps({"access_token": "tok", "token_type": "bearer", "expires_in": 60,
                          "error": v}).encode()
        t = parse(200, JSON, raw)
        assert t.access_token == "tok", v
    e = raises(OAuthError, parse, 200, JSON, b'{"access_token": "tok", "error": "invalid_scope"}')
    assert e.error == "invalid_scope"


def deep(n):
    return "[" * n + "]" * n


def test_deep_nesting_is_refused_before_anything_reaches_the_store():
    # MicroPython's json accepted 7,000 levels, then the store's json.dumps raised RuntimeError
    for n in (7000, 500, 8):
        raw = ('{"access_token": "tok", "token_type": "bearer", "expires_in": 60, "x": %s}'
               % deep(n)).encode()
        store = MemoryStore()  # json.dumps of every state, as FileStore and the RTC store do
        c = client(Script(answer(raw=raw)), store=store)
        e = raises(OAuthError, c.token)
        assert e.error == "invalid_response" and "nest" in str(e), (n, e)
        assert "token" not in (store.state or {}), n
    for raw in (b'{"error": %s}' % deep(7000).encode(), deep(7000).encode()):
        e = raises(OAuthError, parse, 400, JSON, raw)
        assert e.error == "http_400", e
    from oauthcc.untrusted import deeper

    assert deeper(b"]" * 9 + b"[" * 9 + b"]" * 9, 8)  # stray closers lower no later count
    assert not deeper(b'["]]]]]]]]]", "\\", [[[[[[1]]]]]]]', 8)


def test_nesting_within_the_bound_is_kept_and_brackets_in_strings_do_not_count():
    x = {"a": {"b": {"c": {"d": {"e": {"f": [1]}}}}}}  # 7 deep inside the answer: 8 levels
    s = "[[[[{{{{" * 10 + "\\\"[[[["
    t = parse(200, JSON, answer({"x": x, "s": s, "l": [[1], [2], [3], [4], [5], [6]]}).body)
    assert t.extra["x"] == x and t.extra["s"] == s and len(t.extra["l"]) == 6
    e = raises(OAuthError, parse, 200, JSON, answer({"x": {"y": x}}).body)
    assert e.error == "invalid_response"


def test_extra_fields_are_bounded_in_size():
    # they go to RTC memory or flash with the token: a 2 KB bound, else none is kept
    t = parse(200, JSON, answer({"audiences": ["directory"], "big": "x" * 5000}).body)
    assert t.access_token == "tok" and t.extra == {}, list(t.extra)
    long_jwt = make_jwt({"sub": "x" * 3000})  # a long token is no extra field
    t = parse(200, JSON, answer({"access_token": long_jwt, "audiences": ["directory"],
                                 "refresh_token": "r" * 3000}).body)
    assert t.extra == {"audiences": ["directory"]} and t.refresh_token == "r" * 3000


def test_extra_fields_with_inf_or_nan_are_not_kept():
    # found by the fuzzer: MicroPython's json.dumps writes 1e999 as inf, which no json reads
    # back (MemoryStore raised ValueError; a FileStore's state was lost at the next boot)
    for raw in (b'{"access_token": "tok", "x": {"y": [1, 1e999]}, "z": 1}',
                b'{"access_token": "tok", "x": -1e999}'):
        store = MemoryStore()  # json.dumps, then json.loads, of every state
        c = client(Script(answer(raw=raw)), store=store)
        assert c.token().extra == {}, raw
        assert store.state["token"]["extra"] == {}
    t = parse(200, JSON, b'{"access_token": "tok", "x": 1.5, "y": [0.25]}')
    assert t.extra == {"x": 1.5, "y": [0.25]}


def test_scope_lists_keep_only_strings():
    t = parse(200, JSON, answer({"scope": ["a", 1, None, ["b"], {"c": 1}, "d"]}).body)
    assert t.scope == "a d", t.scope


# -- roles: any type, never a crash ----------------------------------------------------------

ORDER = ["owner", "admin", "member"]


def test_roles_of_any_type_are_ignored_never_a_type_error():
    def opaque(roles):
        return Token("opaque", extra={"bearer_on_behalf_of": {"roles": roles}})

    for names, want in (([1, 2], []), ([None], []), ({"owner": 1}, []), ("owner", []),
                        (["owner", 3, None, {"x": 1}, ["admin"], "extra"], ["owner", "extra"]),
                        ([True, 1.5, "admin"], ["admin"])):
        got = active_roles(opaque(names), ORDER)
        assert got == want, (names, got)
        assert all(isinstance(r, str) for r in got)
    # a role order (GET /api/v1/roles) with non-strings: their bits stay in place
    jwt = Token(make_jwt({"roles": 0b1011}))
    assert active_roles(jwt, [1, "owner", None, "admin"]) == ["owner", "admin"]
    for order in (None, {"owner": 0}, "owner", 7, [[1], {"a": 2}]):
        assert active_roles(jwt, order) == [], order
        assert active_roles(opaque(["owner", 2]), order) == ["owner"], order
    for bits in (True, -1, 1 << 200, 1.5, "3", None, [1]):
        got = active_roles(Token(make_jwt({"roles": bits})), ORDER)
        assert all(isinstance(r, str) for r in got), (bits, got)


# -- server text in logs and errors ----------------------------------------------------------

def clean(s):
    return not any(c in s for c in "\r\n\x1b\x00\x07\x7f\u009b")


def test_server_text_is_sanitised_and_capped_before_it_is_logged():
    desc = "bad" + CONTROL + "FAKE: token request ok" + "y" * 5000
    lines = []
    c = client(Script(answer(raw=json.dumps({"error": "invalid_scope" + CONTROL,
                                             "error_description": desc}).encode(),
                             status=400)), log=lines.append)
    e = raises(OAuthError, c.token)
    assert clean(e.error) and clean(e.description) and clean(str(e)) and clean(repr(e))
    assert len(e.description) <= 210 and e.description.startswith("bad"), e.description
    assert lines and all(clean(s) and len(s) < 600 for s in lines), lines
    e = raises(OAuthError, parse, 200, JSON, answer({"token_type": "mac" + CONTROL * 900}).body)
    assert e.error == "unsupported_token_type" and clean(str(e)) and len(str(e)) < 300
    lines = []
    c = client(Script(answer({"scope": "other" + CONTROL + "z" * 3000})), log=lines.append)
    assert c.token().access_token == "tok"
    assert lines and all(clean(s) and len(s) < 600 for s in lines), lines


def test_an_unencodable_caller_header_is_a_clean_value_error():
    # CPython: "\ud800" raised UnicodeEncodeError, whose repr held the value (and the head)
    reset(profile="generic")
    for cls in (TokenClient, AsyncTokenClient):
        c = from_profile("generic", CLIENT_ID, CLIENT_SECRET, None, url(), cls=cls,
                         api_origins=[url()], clock=FakeClock())
        for headers in ({"X-Key": "k\ud800ey"}, {"X-Key\ud800": "v"}):
            try:
                r = c.request("GET", url("/api/v1/resource"), headers=headers)
                if cls is AsyncTokenClient:
                    r = asyncio.run(r)
            except ValueError as e:
                assert type(e) is ValueError, repr(e)
                token = c._token.access_token
                assert token not in repr(e) and "d800" not in repr(e), repr(e)
                assert "X-Key" in str(e) or "header name" in str(e), str(e)
            else:  # MicroPython's str holds a surrogate as UTF-8 bytes: any non-ASCII passes
                assert sys.implementation.name == "micropython" and r.status == 200, r


def test_only_real_verification_failures_become_tls_verification_failed():
    from oauthcc.untrusted import verify_failed

    assert verify_failed(OSError(104, "reset")) is None
    assert verify_failed(OSError(-0x2700, "verify")).error == "tls_verification_failed"
    e = verify_failed(ValueError("x"))
    if sys.implementation.name == "micropython":  # mbedTLS: a host name mismatch
        assert e.error == "tls_verification_failed"
    else:  # CPython raises ssl.SSLCertVerificationError: a ValueError is something else
        assert e is None


def test_network_errors_name_host_and_port():
    for make in (Transport, AsyncTransport):
        t = make(timeout=1, deadline=2)
        e = raises(OSError, fetch, t, "GET", "http://127.0.0.1:1/")
        assert e.args[0] == ECONNREFUSED and e.errno == ECONNREFUSED, repr(e)
        assert "127.0.0.1:1" in str(e) and not isinstance(e, OAuthError), (make, repr(e))
        e = raises(OSError, fetch, t, "GET", "http://no-such-host.invalid:8080/")
        assert "no-such-host.invalid:8080" in str(e), (make, repr(e))


def test_a_named_network_error_keeps_its_type_and_errno():
    from oauthcc.untrusted import named

    class Refused(OSError):
        pass

    for e, text in ((Refused(111, "refused"), "refused (h:1)"), (OSError(-2), "(h:1)"),
                    (OSError("[addrinfo error -2]"), "[addrinfo error -2] (h:1)")):
        n = named(e, "h", 1)
        assert type(n) is type(e), repr(n)
        assert n.args[0] == e.args[0] or isinstance(e.args[0], str), repr(n)
        assert text in str(n), (str(n), text)  # MicroPython shows a negative errno as a tuple


def fetch(t, method, u, body=None, headers=None):
    if isinstance(t, AsyncTransport):
        return asyncio.run(t.request(method, u, body, headers))
    return t.request(method, u, body, headers)


# -- a TLS handshake that drips is bounded by the deadline -------------------------------------

def drip_server(connections, interval=0.5, seconds=8):
    """A listener on 127.0.0.1 whose connections get a TLS record header announcing 16 KB,
    then one byte per `interval` for at most `seconds`: a handshake that never ends."""
    import _thread
    import socket

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for port in range(47300, 47400):  # MicroPython's socket has no getsockname
        try:
            ls.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            break
        except OSError:
            pass
    ls.listen(2)

    def serve():
        try:
            for _ in range(connections):
                s = ls.accept()[0]
                try:
                    data = b"\x16\x03\x03\x40\x00" + b"\x00" * int(seconds / interval)
                    for i in range(len(data)):
                        s.send(data[i : i + 1])
                        time.sleep(interval)
                except OSError:
                    pass  # the client gave up
                finally:
                    s.close()
        finally:
            ls.close()

    _thread.start_new_thread(serve, ())
    return "https://127.0.0.1:%d/token" % port


def test_a_dripping_tls_handshake_is_dropped_within_the_deadline():
    # MicroPython's blocking handshake held 25 s with timeout=1, deadline=3
    u = drip_server(2)
    for make in (Transport, AsyncTransport):
        t = make(os.getenv("STUB_CA_PEM"), timeout=1, deadline=3)
        t0 = time.time()
        e = raises(OSError, fetch, t, "POST", u, "grant_type=client_credentials")
        took = time.time() - t0
        assert e.args[0] == ETIMEDOUT, (make, repr(e))
        assert took < 3 + 1, (make, took)
