# client_secret_jwt (RFC 7523 2.2): HMAC-SHA256 written for firmware without hmac, checked
# against RFC 4231; the assertion's claims; the token request carries it and never the
# secret; an unset wall clock is clock_not_set (retryable) before anything is sent. Both
# runtimes; real servers take it in test_conformance_{oidc_provider,glewlwyd,authlib}.py.
import json

from oauthcc import OAuthError, TokenClient
from oauthcc.assertion import TYPE, assertion, b64url, hmac_sha256
from oauthcc.encoding import quote
from oauthcc.jwt import b64url_decode, claims
from oauthcc.transport import Response
from support import CLIENT_ID, FakeClock, raises

SECRET = "p:a+s/s%w&o=r d-0123456789abcdef-é"
URL = "https://auth.example/oauth/token"

# RFC 4231 section 4: (key, data, HMAC-SHA-256 in hex); case 5 is truncated to 128 bits
RFC4231 = (
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than "
     b"block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
)


def hexlify(b):
    return "".join("%02x" % x for x in b)


def test_hmac_sha256_rfc4231_vectors():
    for key, data, want in RFC4231:
        assert hexlify(hmac_sha256(key, data))[: len(want)] == want, want
    assert len(hmac_sha256(b"k" * 64, b"")) == 32  # a key of exactly one block: not hashed


def test_the_assertion_claims_and_signature():
    a = assertion(CLIENT_ID, SECRET, URL, 1767225600, jti="j1")
    head, body, sig = a.split(".")
    assert json.loads(b64url_decode(head)) == {"alg": "HS256", "typ": "JWT"}
    assert claims(a) == {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": URL, "jti": "j1",
                         "iat": 1767225600, "exp": 1767225660}
    assert sig == b64url(hmac_sha256(SECRET.encode(), (head + "." + body).encode()))
    assert "=" not in a and "+" not in a and "/" not in a  # base64url without padding
    jtis = {claims(assertion(CLIENT_ID, SECRET, URL, 1767225600))["jti"] for _ in range(20)}
    assert len(jtis) == 20 and min(len(j) for j in jtis) >= 21  # 16 random bytes each


def test_an_unset_wall_clock_is_clock_not_set():
    e = raises(OAuthError, assertion, CLIENT_ID, SECRET, URL, None)
    assert e.error == "clock_not_set" and e.retryable and "NTP" in str(e)


class Answers:
    """A transport that keeps each request and answers with a token."""

    def __init__(self):
        self.seen = []

    def request(self, method, url, body=None, headers=None):
        self.seen.append((url, body, headers))
        return Response(200, {}, b'{"access_token": "t", "expires_in": 600}')


def _form(body):
    return dict(p.split("=", 1) for p in body.split("&"))


def test_the_token_request_carries_the_assertion_never_the_secret():
    t = Answers()
    clock = FakeClock()
    c = TokenClient(URL, CLIENT_ID, SECRET, "read", auth="jwt", transport=t, clock=clock)
    c.token()
    c.invalidate()
    c.token()
    assert len(t.seen) == 2
    jtis = set()
    for url, body, headers in t.seen:
        assert url == URL and "Authorization" not in headers
        f = _form(body)
        assert sorted(f) == ["client_assertion", "client_assertion_type", "client_id",
                             "grant_type", "scope"]
        assert body.startswith("grant_type=client_credentials&scope=read&client_id=" + CLIENT_ID)
        assert body.endswith("&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-"
                             "assertion-type%3Ajwt-bearer&client_assertion="
                             + f["client_assertion"])
        assert f["client_id"] == CLIENT_ID and f["client_assertion_type"] == quote(TYPE)
        jc = claims(f["client_assertion"])
        assert jc["aud"] == URL and jc["iat"] == clock.unix_time()
        jtis.add(jc["jti"])
        assert "p:a" not in body and "p%3Aa" not in body  # the secret, in no form
    assert len(jtis) == 2  # a new jti each time: servers take each one once


def test_jwt_waits_for_the_clock_without_sending_anything():
    t = Answers()
    clock = FakeClock(wall=None)
    c = TokenClient(URL, CLIENT_ID, SECRET, auth="jwt", transport=t, clock=clock,
                    rand=lambda n: n)
    e = raises(OAuthError, c.token)
    assert e.error == "clock_not_set" and e.retryable and t.seen == []
    assert c.latched is None and c.next_attempt_in_ms() > 0  # backing off, not latched
    clock.wall_ms = 1767225600000  # NTP answered
    clock.advance(c.next_attempt_in_ms())
    assert c.token().access_token == "t" and len(t.seen) == 1
