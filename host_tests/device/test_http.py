# The HTTP core (oauthcc.http) under both transports, on both runtimes: the same arguments
# refused at the same moment, one socket factory, the same errors.
import asyncio
import os
import socket
from errno import ECONNABORTED, ECONNREFUSED, ETIMEDOUT

from oauthcc import OAuthError, TokenClient
from oauthcc.aio import AsyncTokenClient
from oauthcc.aiotransport import AsyncTransport
from oauthcc.transport import Transport
from support import faults, raises, reset, url

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

