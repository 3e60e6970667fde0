# A bounded, seeded random-input loop over every parser of untrusted bytes, on both runtimes.
# MicroPython's json accepts inputs CPython rejects and raises MemoryError or RuntimeError on
# deep nesting: each parser must still raise only its documented exception types.
import json
import random

from oauthcc import OAuthError, httpdate
from oauthcc._port import ticks_add, ticks_ms
from oauthcc.encoding import b64url_decode
from oauthcc.grant import Token, parse, retry_after
from oauthcc.http import Reader, read_response
from oauthcc.jwt import claims
from oauthcc.tls import ca_certs
from oauthcc.transport import _within
from support import FakeSocket, b64url_encode, make_jwt

ROUNDS = 1500
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
