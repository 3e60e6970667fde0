# The HTTP core (oauthcc.http) under both transports, on both runtimes: the same arguments
# refused at the same moment, one socket factory, the same errors, a request head that cannot
# be broken, Host with its port, IPv6 literals, interim 1xx answers skipped.
import asyncio
import os
import socket
from errno import ECONNABORTED, ECONNREFUSED, ETIMEDOUT

from oauthcc import OAuthError, TokenClient
from oauthcc.aio import AsyncTokenClient
from oauthcc.aiotransport import AsyncTransport
from oauthcc.http import origin, split_url
from oauthcc.transport import Transport
from support import faults, log, raises, reset, url

NEEDS_STUB = True
NEEDS_TLS_STUB = True
TRANSPORTS = (Transport, AsyncTransport)
INTERIM = ("HTTP/1.1 100 Continue\r\n\r\n"
           "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


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


def test_host_carries_the_port_when_not_the_default():
    reset(profile="generic")
    port = int(url().rsplit(":", 1)[1])
    for make in TRANSPORTS:
        fetch(make(), "GET", url("/api/v1/resource"))
        assert log()[-1]["headers"]["host"] == "127.0.0.1:%d" % port, make
    t = Transport(verify=False)
    for u, host in (("http://h/", "h"), ("http://h:80/x", "h"), ("http://h:443/", "h:443"),
                    ("https://h/", "h"), ("https://h:443/", "h"), ("https://h:80/", "h:80"),
                    ("http://[::1]/", "[::1]"), ("http://[::1]:8080/", "[::1]:8080")):
        line = t._prepare("GET", u, None, None)[2]
        assert line.endswith("\r\nHost: %s\r\nConnection: close\r\n" % host), (u, line)


def test_ipv6_literals_are_parsed():
    assert split_url("http://[::1]:8080/x") == ("http", "[::1]", 8080, "/x")
    assert split_url("https://[2001:DB8::1]") == ("https", "[2001:DB8::1]", 443, "/")
    assert origin("http://[::1]:8080/x") == "http://[::1]:8080"
    assert origin("https://[2001:DB8::1]/") == origin("https://[2001:db8::1]:443/a")
    assert split_url("http://h:8080/x") == ("http", "h", 8080, "/x")
    for bad in ("http://[::1/", "http://[::1]x/", "http://[::1]8080/", "http://::1/",
                "http://h:0/", "http://h:65536/", "http://h:x/"):
        raises(ValueError, split_url, bad)


def _listener_v6():
    # a listening socket on ::1 and its port, or None where the host has no IPv6
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except (OSError, AttributeError):
        return None, 0
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for port in range(47500, 47600):  # MicroPython has no getsockname: try a few, bounded
        try:
            s.bind(socket.getaddrinfo("::1", port, 0, socket.SOCK_STREAM)[0][-1])
            s.listen(1)
            return s, port
        except OSError:
            pass
    s.close()
    return None, 0


class _V6Pool(Pool):
    """Connects for real, to the listener on ::1, whose side answers at once: the blocking
    transport then reads the answer without a second thread."""

    def __init__(self, listener):
        super().__init__()
        self.listener = listener
        self.peer = None

    def socket(self, *a):
        return _V6Socket(self, Pool.socket(self, *a))


class _V6Socket:
    def __init__(self, pool, s):
        self.pool, self.s = pool, s

    def connect(self, addr):
        self.s.connect(addr)
        self.pool.peer = self.pool.listener.accept()[0]
        self.pool.peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def settimeout(self, t):
        self.s.settimeout(t)

    def sendall(self, data):
        self.s.send(data)

    def recv(self, n):
        return self.s.recv(n)

    def close(self):
        self.s.close()


def test_ipv6_literals_connect_to_the_bare_address():
    ls, port = _listener_v6()
    if ls is None:
        print("no IPv6 on this host: the network part is skipped, the parsing is tested")
        return
    try:
        pool = _V6Pool(ls)
        u = "http://[::1]:%d/x" % port
        assert Transport(pool=pool, timeout=2).request("GET", u).body == b"ok"
        assert pool.asked == [("::1", port)]
        got = pool.peer.recv(1024)
        pool.peer.close()
        assert b"\r\nHost: [::1]:%d\r\n" % port in got, got
    finally:
        ls.close()

    async def main():
        seen = []

        async def serve(r, w):
            seen.append(await r.readline())
            for _ in range(20):  # to the empty line ending the head
                line = await r.readline()
                seen.append(line)
                if line in (b"\r\n", b""):
                    break
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await w.drain()
            w.close()
            await w.wait_closed()

        for p in range(47600, 47700):  # bounded, as above
            try:
                server = await asyncio.start_server(serve, "::1", p)
                break
            except OSError:
                pass
        else:
            raise AssertionError("no free port on ::1")
        try:
            r = await AsyncTransport(timeout=2).request("GET", "http://[::1]:%d/x" % p)
            assert r.body == b"ok"
            assert b"Host: [::1]:%d\r\n" % p in seen, seen
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def test_interim_answers_are_skipped_by_both():
    reset(profile="generic")
    for make in TRANSPORTS:
        faults({"kind": "raw", "data": INTERIM})
        r = fetch(make(), "GET", url("/api/v1/resource"))
        assert (r.status, r.body, r.headers) == (200, b"ok", {"content-length": "2"}), make
        faults({"kind": "raw", "data": "HTTP/1.1 100 Continue\r\n\r\n" * 20})
        e = raises(OAuthError, fetch, make(), "GET", url("/api/v1/resource"))
        assert e.error == "invalid_response", (make, repr(e))
