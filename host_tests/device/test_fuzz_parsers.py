# A bounded, seeded random-input loop over every parser of untrusted bytes, on both runtimes.
# MicroPython's json accepts inputs CPython rejects and raises MemoryError or RuntimeError on
# deep nesting: each parser must still raise only its documented exception types, and whole
# token answers driven through the clients only OAuthError, OSError or MemoryError.
import asyncio
import json
import random

from oauthcc import OAuthError, Token, TokenClient, httpdate
from oauthcc._port import ticks_add, ticks_ms
from oauthcc.aio import AsyncTokenClient
from oauthcc.answer import parse
from oauthcc.encoding import b64url_decode
from oauthcc.http import Reader, Response, read_response
from oauthcc.httpdate import retry_after
from oauthcc.jwt import claims
from oauthcc.roles import active_roles
from oauthcc.store import MemoryStore
from oauthcc.tlsctx import ca_certs
from oauthcc.transport import _within
from support import FakeClock, FakeSocket, b64url_encode, make_jwt

ROUNDS = 1000
SEEDS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\"a\": [1,2]}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.0 503 x\r\nRetry-After: 5\r\n\r\n",
    b'{"access_token":"t","token_type":"bearer","expires_in":"60","refresh_token":"r"}',
    b'{"error":"invalid_grant","error_description":"x"}',
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b"Sun, 06 Nov 1994 08:49:37 GMT",
    b"0\x82\x00\x050\x03\x02\x01\x050\x81\x01\x00",
    b"-----BEGIN CERTIFICATE-----\nMAMCAQU=\n-----END CERTIFICATE-----\n"
    b"-----BEGIN CERTIFICATE-----\nMIIABTADAgEF\n-----END CERTIFICATE-----\n",
]
ALPHABET = b'{}[]":,0123456789.-+eE \r\n\t\\/abcfnrtuHTP:;=xX\x00\xff'


def _mutate(rng, data):
    # bytes slicing only: MicroPython's bytearray supports no item deletion or insertion
    for _ in range(rng.getrandbits(3) + 1):
        op = rng.getrandbits(2)
        i = rng.getrandbits(16) % (len(data) + 1)
        if op == 0:
            data = data[:i] + data[i + 1 :]
        elif op == 1:
            c = ALPHABET[rng.getrandbits(8) % len(ALPHABET)]
            data = data[:i] + bytes([c]) + data[i:]
        elif op == 2:
            data = data[:i] + bytes([rng.getrandbits(8)]) + data[i + 1 :]
        else:
            data = data[:i] + data[: rng.getrandbits(4)] + data[i:]
    return data


def latin1(data):
    return "".join(chr(b) for b in data)  # MicroPython decodes only UTF-8


def check_http(data):
    s = FakeSocket(data, 4096)
    try:
        r = read_response(Reader(_within, s.settimeout, 1000, ticks_add(ticks_ms(), 60000),
                                 s.recv, 512), "GET", 4096)
        assert isinstance(r.status, int) and isinstance(r.body, bytes)
    except (OAuthError, OSError):
        pass


def check_token(data, status=200):
    try:
        t = parse(status, {"retry-after": latin1(data)[:40]}, data)
        assert isinstance(t, Token) and isinstance(t.access_token, str)
    except OAuthError as e:
        assert isinstance(e.error, str)


def check_ca(data):
    try:
        certs = ca_certs(data)
        assert certs and all(c[0] == 0x30 for c in certs)
    except ValueError:
        pass


def check_text(data):
    text = latin1(data)
    try:
        b64url_decode(text)
    except ValueError:
        pass
    for tok in (text, "a." + text + ".b", make_jwt({"x": 1})[:-3] + text):
        try:
            assert isinstance(claims(tok), dict)
        except ValueError:
            pass
    assert httpdate.parse(text) is None or isinstance(httpdate.parse(text), int)
    r = retry_after({"retry-after": text, "date": text})
    assert r is None or r >= 0


def test_random_inputs_raise_only_documented_errors():
    rng = random.Random(20261123) if hasattr(random, "Random") else random
    if rng is random:
        random.seed(20261123)
    for i in range(ROUNDS):
        data = _mutate(rng, SEEDS[i % len(SEEDS)])
        check_http(data)
        check_token(data, (200, 400, 503)[i % 3])
        check_text(data)
        check_ca(data)


def test_ca_seeds_parse():
    assert len(ca_certs(SEEDS[7])) == 2 and len(ca_certs(SEEDS[8])) == 2


def test_deep_nesting_is_an_error_not_a_crash():
    deep = b"[" * 5000 + b"]" * 5000
    check_token(deep)
    check_token(b'{"access_token": ' + deep + b"}")
    try:
        claims("a." + b64url_encode(deep) + ".b")
    except ValueError:
        pass


def test_token_roundtrip_of_generated_json():
    # valid documents of many shapes parse to a Token whose fields have the documented types
    for i in range(200):
        d = {"access_token": "t%d" % i, "token_type": ("bearer", "Bearer", None)[i % 3],
             "expires_in": (i, str(i), None, 1.5, "x")[i % 5]}
        if d["token_type"] is None:
            del d["token_type"]
        t = parse(200, {}, json.dumps(d).encode())
        assert t.token_type == "Bearer"
        assert t.expires_in is None or isinstance(t.expires_in, int)


# -- whole token answers through the clients ---------------------------------------------------

ESCAPES = (OAuthError, OSError, MemoryError)  # all that token() and request() may raise
B64TOKEN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="
TOKEN_URL = "http://as.example/token"
API = "http://as.example/api"
ANSWERS = [
    b'{"access_token":"tok","token_type":"bearer","expires_in":599,"refresh_token":"r",'
    b'"scope":"zaikio.machines.rw","audiences":["directory"],"bearer":{"id":"b","type":'
    b'"Organization"},"bearer_on_behalf_of":{"id":"p","type":"Person","roles":["owner",1]}}',
    ('{"access_token":"%s","token_type":"Bearer"}' % make_jwt({"iat": 10, "exp": 1e308,
                                                              "roles": 5})).encode(),
    b'{"access_token":"a.b.c","expires_in":1e999,"error":null,"scope":["a",2,null]}',
    b'{"access_token":"t==","expires_in":"-7","token_type":"BEARER","x":[[[[[[[1]]]]]]]}',
    b'{"error":"invalid_scope","error_description":"\\u001b[31m\\r\\nno"}',
    b'{"access_token":"t\r\nX-Evil: 1","expires_in":0}',
    b'{"access_token":"tok","x":' + b"[" * 40 + b"]" * 40 + b"}",
]
ORDERS = [b'["owner","admin","member"]', b'[1,null,"admin",{"a":1}]', b'{"owner":0}', b"7"]


class Script:
    """A transport: the token URL answers `answer`, any other URL 200; counts API calls."""

    def __init__(self, answer):
        self.answer = answer
        self.api = 0

    def request(self, method, url, body=None, headers=None, max_body=None):
        if url == TOKEN_URL:
            return self.answer
        v = headers["Authorization"][len("Bearer "):]
        assert v and all(b in B64TOKEN for b in v.encode()), v  # only a b64token is sent
        self.api += 1
        return Response(200, {}, b"ok")


class AsyncScript(Script):
    async def request(self, *args, **kw):
        return Script.request(self, *args, **kw)


def check_token_cycle(t, c, store, order):
    # what came out of the client is well formed, survives the store, and roles never crash
    assert isinstance(t.access_token, str) and all(b in B64TOKEN for b in
                                                   t.access_token.encode())
    assert isinstance(t.expires_in, int) and 10 <= t.expires_in <= 86400, t.expires_in
    assert isinstance(t.extra, dict) and len(json.dumps(t.extra)) <= 2048
    assert store.state is not None and "token" in store.state
    for r in active_roles(t, order):
        assert isinstance(r, str)


def check_client(body, status, order_raw, aio=False):
    try:
        order = json.loads(order_raw)
    except (ValueError, MemoryError, RuntimeError):
        order = None
    script = (AsyncScript if aio else Script)(Response(status, {"retry-after": "1"}, body))
    store = MemoryStore()  # json.dumps and loads of every state, as the real stores do
    c = (AsyncTokenClient if aio else TokenClient)(
        TOKEN_URL, "id", "secret", api_origins=[API], transport=script, clock=FakeClock(),
        store=store, rand=lambda n: n // 2)
    try:
        if aio:
            async def both():
                return await c.token(), await c.request("GET", API)

            t, r = asyncio.run(both())
        else:
            t, r = c.token(), c.request("GET", API)
    except ESCAPES:
        assert script.api == 0
        return False
    assert r.status == 200 and script.api == 1
    check_token_cycle(t, c, store, order)
    return True


def test_whole_token_answers_through_the_clients_raise_only_documented_errors():
    rng = random.Random(20261201) if hasattr(random, "Random") else random
    if rng is random:
        random.seed(20261201)
    ok = 0
    for i in range(ROUNDS):
        body = ANSWERS[i % len(ANSWERS)]
        if i % 3:  # a third as they are: answers good enough to reach the store and the API
            body = _mutate(rng, body)
        order = _mutate(rng, ORDERS[i % len(ORDERS)])
        ok += check_client(body, (200, 200, 201, 400, 401, 429, 503)[i % 7], order, i % 5 == 0)
    assert ok > 150, ok
