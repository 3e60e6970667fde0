# The HTTP core (oauthcc.http) under both transports, on both runtimes: the same arguments
# refused at the same moment, one socket factory, the same errors, a request head that cannot
# be broken.
import asyncio
import os
import socket
from errno import ECONNABORTED, ECONNREFUSED, ETIMEDOUT

from oauthcc import OAuthError, TokenClient
from oauthcc.aio import AsyncTokenClient
from oauthcc.aiotransport import AsyncTransport
from oauthcc.transport import Transport
from support import faults, log, raises, reset, url

NEEDS_STUB = True
NEEDS_TLS_STUB = True
TRANSPORTS = (Transport, AsyncTransport)
def fetch(t, method, u, body=None, headers=None):
    """One request through either transport."""
    if isinstance(t, AsyncTransport):
        return asyncio.run(t.request(method, u, body, headers))
    return t.request(method, u, body, headers)


class Pool:
    """The socket module, counting what it is asked for and keeping every socket it opens."""

    def __init__(self):
        self.SOCK_STREAM = socket.SOCK_STREAM
        self.asked = []
        self.opened = []

    def getaddrinfo(self, host, port, *a):
        self.asked.append((host, port))
        return socket.getaddrinfo(host, port, *a)

    def socket(self, *a):
        s = socket.socket(*a)
        self.opened.append(s)
        return s


def test_a_bad_ca_is_refused_when_built_by_both():
    for ca in ("/nonexistent/ca.pem", b"", b"not a certificate"):
        for make in TRANSPORTS:
            e = raises(ValueError, make, ca)
            assert "ca" in str(e), (make, ca, str(e))
        for make in (TokenClient, AsyncTokenClient):
            raises(ValueError, make, "https://h/token", "id", "secret", ca=ca)


def test_both_take_the_same_socket_factory_and_close_its_sockets():
    reset(profile="generic")
    for make in TRANSPORTS:
        pool = Pool()
        r = fetch(make(pool=pool), "GET", url("/api/v1/resource"))
        assert r.status == 401, make  # answered: no bearer sent
        assert pool.asked == [("127.0.0.1", int(url().rsplit(":", 1)[1]))], pool.asked
        assert len(pool.opened) == 1 and pool.opened[0].fileno() == -1, make  # closed


def test_both_map_network_errors_alike():
    reset(profile="generic")
    for make in TRANSPORTS:
        e = raises(OSError, fetch, make(timeout=1, deadline=2), "GET", "http://127.0.0.1:1/")
        assert e.args[0] == ECONNREFUSED and not isinstance(e, OAuthError), (make, repr(e))
        for fault, kw, errno, text in (({"kind": "close"}, {}, ECONNABORTED, "closed"),
                                       ({"kind": "slow", "seconds": 1}, {"timeout": 0.3},
                                        ETIMEDOUT, "timed out"),
                                       ({"kind": "drip", "interval": 0.1}, {"deadline": 0.4},
                                        ETIMEDOUT, "deadline")):
            faults(fault)
            e = raises(OSError, fetch, make(**kw), "GET", url("/api/v1/resource"))
            assert e.args[0] == errno and text in str(e), (make, fault, repr(e))


def test_both_map_a_refused_certificate_alike():
    for make in TRANSPORTS:
        t = make(os.getenv("STUB_CA_PEM"))
        e = raises(OAuthError, fetch, t, "GET", os.getenv("STUB_TLS_OTHER_HOST_URL") + "/")
        assert e.error == "tls_verification_failed" and not e.retryable, (make, repr(e))


UNSAFE = [  # (method, url, headers): each could break the request head
    ("GET\r\nX: y", "http://h/", None), ("GE T", "http://h/", None), ("", "http://h/", None),
    ("GET", "http://h/a\r\nX: y", None), ("GET", "http://h/a b", None),
    ("GET", "http://h/a\tb", None), ("GET", "http://h\r\nX: y/", None),
    ("GET", "http://h/", {"X\r\nY": "1"}), ("GET", "http://h/", {"X Y": "1"}),
    ("GET", "http://h/", {"X:": "1"}), ("GET", "http://h/", {"": "1"}),
    ("GET", "http://h/", {"N\u00e4me": "1"}), ("GET", "http://h/", {"X": "a\r\nInjected: 1"}),
    ("GET", "http://h/", {"X": "a\nb"}), ("GET", "http://h/", {"X": "a\rb"}),
    ("GET", "http://h/", {"X": "a\x00b"}), ("GET", "http://h/", {"X": "a\x7fb"}),
    ("GET", "http://h/", {"Authorization": "Bearer t\r\n\r\nGET /steal HTTP/1.1"}),
]


def test_an_unsafe_request_head_is_refused_before_anything_is_sent():
    for make in TRANSPORTS:
        pool = Pool()
        t = make(pool=pool)
        for method, u, headers in UNSAFE:
            e = raises(ValueError, fetch, t, method, u, None, headers)
            assert "Bearer" not in str(e) and "Injected" not in str(e), str(e)  # no value shown
        assert pool.asked == [] and pool.opened == [], make  # not even a connection


def test_a_safe_head_passes_as_it_is():
    reset(profile="generic")
    for make in TRANSPORTS:
        h = {"X-Tab": "a\tb", "X-Empty": "", "X-Utf8": "gr\u00fc\u00dfe", "X-Int": 7}
        assert fetch(make(), "GET", url("/api/v1/resource"), None, h).status == 401
        got = log()[-1]["headers"]
        assert (got["x-tab"], got["x-empty"], got["x-int"]) == ("a\tb", "", "7"), got

