"""Property-based fuzzing of every parser that reads untrusted bytes (CPython only: hypothesis
does not run on MicroPython; host_tests/device/test_fuzz_parsers.py covers that runtime).

Five parsers x 2,500 examples and 1,000 whole token answers through the client = 13,500 cases
(teardown_module checks they really ran), with no deadline per example but a bounded total;
each parser may raise only its documented exception types, the client only OAuthError,
OSError or MemoryError."""
import base64
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz_parsers import API, ESCAPES, TOKEN_URL, Script, check_token_cycle

from oauthcc import OAuthError, Token, TokenClient, httpdate
from oauthcc._port import ticks_add, ticks_ms
from oauthcc.answer import parse
from oauthcc.encoding import b64url_decode
from oauthcc.http import Reader, Response, read_response
from oauthcc.httpdate import retry_after
from oauthcc.jwt import claims
from oauthcc.store import MemoryStore
from oauthcc.tlsctx import ca_certs
from oauthcc.transport import _within
from support import FakeClock, FakeSocket

EXAMPLES = 1500
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
CLIENT_EXAMPLES = 600  # each drives the whole client: ten times a parser's time
RAN = {}


def ran(name):
    RAN[name] = RAN.get(name, 0) + 1


def teardown_module(module):
    # hypothesis stops early when a strategy runs out of distinct inputs: make sure it did not
    if len(RAN) == 6:
        assert sum(RAN.values()) >= 5 * EXAMPLES + CLIENT_EXAMPLES, RAN


status_line = st.sampled_from([b"HTTP/1.1 200 OK", b"HTTP/1.0 503 x", b"HTTP/1.1 2000",
                               b"HTTP/2 200", b"", b"HTTP/1.1 401 No"])
header = st.tuples(st.sampled_from([b"Content-Length", b"Transfer-Encoding", b"Retry-After",
                                    b"X", b""]),
                   st.one_of(st.binary(max_size=12), st.sampled_from([b"chunked", b"5", b"-1"])))
http_message = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda s, hs, sep, body: s + sep + b"".join(k + b":" + v + sep for k, v in hs)
              + sep + body, status_line, st.lists(header, max_size=5),
              st.sampled_from([b"\r\n", b"\n"]), st.binary(max_size=200)),
)


@FUZZ
@given(http_message, st.integers(1, 64))
def test_http_response_parser(data, piece):
    ran("test_http_response_parser")
    s = FakeSocket(data, piece)
    try:
        r = read_response(Reader(_within, s.settimeout, 1000, ticks_add(ticks_ms(), 60000),
                                 s.recv, 512), "GET", 512)
    except (OAuthError, OSError):
        return
    assert 100 <= r.status <= 999 and len(r.body) <= 512


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                             max_size=4),
    max_leaves=20)
token_doc = st.fixed_dictionaries({}, optional={
    "access_token": json_values, "token_type": json_values, "expires_in": json_values,
    "refresh_token": json_values, "scope": json_values, "error": json_values,
    "error_description": json_values})


@FUZZ
@given(st.one_of(token_doc.map(lambda d: json.dumps(d).encode()), st.binary(max_size=200)),
       st.sampled_from([200, 201, 302, 400, 401, 429, 500, 503]),
       st.dictionaries(st.sampled_from(["retry-after", "date"]), st.text(max_size=40)))
def test_token_response_parser(body, status, headers):
    ran("test_token_response_parser")
    try:
        t = parse(status, headers, body)
    except OAuthError as e:
        assert isinstance(e.error, str) and e.error
        assert e.retry_after is None or e.retry_after >= 0
        return
    assert isinstance(t, Token) and isinstance(t.access_token, str) and t.access_token
    assert t.expires_in is None or (isinstance(t.expires_in, int) and t.expires_in >= 0)
    assert t.token_type == "Bearer"


# a token answer as a server may shape it: the known fields of any JSON type or of the right
# one with hostile values, extra fields of any JSON (nested, inf, huge), as text or raw bytes
hostile_token = st.one_of(st.text(max_size=40), st.sampled_from(
    ["tok", "a.b.c", "t==", "a\r\nX: 1", "a b", "\ud800", "=", "t\u00f6k", "x" * 3000]))
hostile_number = st.one_of(st.integers(-10, 10 ** 30), st.floats(), st.sampled_from(
    ["0", "-1", "1e999", "nan", "60", "0x10", ""]))
answer_doc = st.fixed_dictionaries({"access_token": st.one_of(hostile_token, json_values)},
                                   optional={
    "token_type": st.one_of(st.sampled_from(["bearer", "Bearer", "mac", None]), json_values),
    "expires_in": st.one_of(hostile_number, json_values), "refresh_token": json_values,
    "scope": json_values, "error": st.one_of(st.none(), st.just(""), json_values),
    "error_description": st.one_of(st.text(), json_values),
    "bearer_on_behalf_of": st.one_of(st.fixed_dictionaries({"roles": json_values}),
                                     json_values),
    "x": json_values, "deep": st.integers(1, 30).map(lambda n: json.loads("[" * n + "]" * n))})
roles_order = st.one_of(st.lists(st.one_of(st.text(max_size=8), json_values), max_size=6),
                        json_values)


@settings(FUZZ, max_examples=CLIENT_EXAMPLES)
@given(st.one_of(answer_doc.map(lambda d: json.dumps(d).encode()), st.binary(max_size=200)),
       st.sampled_from([200, 201, 400, 401, 429, 503]), roles_order)
def test_whole_token_answers_through_the_client(body, status, order):
    ran("test_whole_token_answers_through_the_client")
    script = Script(Response(status, {"retry-after": "5"}, body))
    store = MemoryStore()
    c = TokenClient(TOKEN_URL, "id", "secret", api_origins=[API], transport=script,
                    clock=FakeClock(), store=store, rand=lambda n: n // 2)
    try:
        t = c.token()
        r = c.request("GET", API)
    except ESCAPES:
        assert script.api == 0 and c._token is None
        return
    assert r.status == 200 and script.api == 1
    check_token_cycle(t, c, store, order)


@FUZZ
@given(st.one_of(st.text(max_size=120), st.builds(
    lambda a, b, c: a + "." + b + "." + c, st.text(max_size=10),
    st.one_of(st.text(alphabet="ABCDEFGHabcdefgh0123456789-_=", max_size=60),
              json_values.map(lambda v: _b64(json.dumps(v)))), st.text(max_size=10))))
def test_jwt_and_base64url(token):
    ran('test_jwt_and_base64url')
    try:
        assert isinstance(claims(token), dict)
    except ValueError:
        pass
    try:
        assert isinstance(b64url_decode(token), bytes)
    except ValueError:
        pass


@FUZZ
@given(st.one_of(st.text(max_size=40), st.builds(
    "{}, {:02d} {} {} {:02d}:{:02d}:{:02d} {}".format,
    st.sampled_from(["Sun", "Mon"]), st.integers(-1, 40), st.sampled_from(["Jan", "Feb", "Xyz"]),
    st.integers(0, 99999), st.integers(-1, 30), st.integers(0, 70), st.integers(0, 70),
    st.sampled_from(["GMT", "UTC"]))))
def test_http_dates(text):
    ran("test_http_dates")
    v = httpdate.parse(text)
    assert v is None or isinstance(v, int)
    r = retry_after({"retry-after": text, "date": "Sun, 06 Nov 1994 08:49:37 GMT"})
    assert r is None or r >= 0


def _b64(s):
    import base64

    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


der = st.builds(lambda n, body, k: bytes([0x30]) + (bytes([n]) if k == 0 else bytes([0x80 | k])
                + n.to_bytes(k, "big")) + body, st.integers(0, 127), st.binary(max_size=80),
                st.integers(0, 4))
pem = st.lists(st.one_of(der, st.binary(max_size=40)), max_size=3).map(
    lambda certs: b"".join(b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(c)
                           + b"-----END CERTIFICATE-----\n" for c in certs))


@FUZZ
@given(st.one_of(st.binary(max_size=120), der, pem, st.lists(der, max_size=3).map(b"".join),
                 pem.map(lambda p: p[: len(p) // 2])))
def test_ca_certificates(data):
    ran("test_ca_certificates")
    try:
        certs = ca_certs(data)
    except ValueError:
        return
    assert certs and all(isinstance(c, bytes) and c[0] == 0x30 for c in certs)
