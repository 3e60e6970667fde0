from errno import ETIMEDOUT

from oauthcc import OAuthError
from oauthcc._port import ticks_add, ticks_ms
from oauthcc.http import Reader, origin, read_response, split_url
from oauthcc.transport import _within
from support import FakeSocket, raises


def reader(s, deadline_ms=60000):
    # as Transport.request reads a socket: 512 bytes a read, under timeout and deadline
    return Reader(_within, s.settimeout, 1000, ticks_add(ticks_ms(), deadline_ms), s.recv, 512)


def _parse(raw, method="GET", max_body=1000):
    return read_response(reader(FakeSocket(raw)), method, max_body)


def test_content_length_body():
    r = _parse(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n"
               b'{"a": 1}extra')
    assert r.status == 200 and r.body == b'{"a": 1}' and r.json() == {"a": 1}
    assert r.headers["content-type"] == "application/json"


def test_header_names_case_insensitive_and_bare_lf():
    r = _parse(b"HTTP/1.0 503 Busy\nRETRY-AFTER:  7 \nContent-Length: 0\n\n")
    assert r.status == 503 and r.headers["retry-after"] == "7" and r.body == b""


def test_chunked_body():
    r = _parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4\r\n{\"a\"\r\n5;ext=1\r\n: 1}\n\r\n0\r\nX-Trailer: y\r\n\r\n")
    assert r.body == b'{"a": 1}\n'


def test_body_to_eof_without_length():
    r = _parse(b"HTTP/1.1 200 OK\r\n\r\nhello")
    assert r.body == b"hello"


def test_oversized_bodies_are_errors_not_crashes():
    for raw in (b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
                b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 2000,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + b"x" * 1024):
        e = raises(OAuthError, _parse, raw)
        assert e.error == "response_too_large"


def test_truncated_body_is_a_network_error():
    raises(OSError, _parse, b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort")
    raises(OSError, _parse, b"HTTP/1.1 200 OK\r\nContent-Le")
    raises(OSError, _parse, b"")


def test_malformed_responses_are_invalid_response():
    for raw in (b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n", b"HTTP/1.1 20 OK\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 100 + b"\r\n",
                b"HTTP/1.1 200 OK\r\nX: " + b"y" * 3000 + b"\r\n\r\n"):
        e = raises(OAuthError, _parse, raw)
        assert e.error == "invalid_response", raw[:40]


def test_interim_answers_are_skipped():
    r = _parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
               b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
    assert (r.status, r.headers, r.body) == (201, {"content-length": "2"}, b"ok")
    e = raises(OAuthError, _parse, b"HTTP/1.1 100 Continue\r\n\r\n" * 10)
    assert e.error == "invalid_response"
    raises(OSError, _parse, b"HTTP/1.1 100 Continue\r\n\r\n")  # closed before the answer


def test_head_and_204_have_no_body():
    assert _parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD").body == b""
    assert _parse(b"HTTP/1.1 204 No Content\r\n\r\n").body == b""


def test_deadline_passed_is_a_timeout():
    r = reader(FakeSocket(b"HTTP/1.1 200 OK\r\n\r\n"), -1)
    e = raises(OSError, read_response, r, "GET", 100)
    assert e.args[0] == ETIMEDOUT and "deadline" in str(e), repr(e)


def test_split_url_and_origin():
    assert split_url("https://hub.zaikio.com/oauth/access_token") == (
        "https", "hub.zaikio.com", 443, "/oauth/access_token")
    assert split_url("http://127.0.0.1:8080") == ("http", "127.0.0.1", 8080, "/")
    assert split_url("http://h/a?b=c") == ("http", "h", 80, "/a?b=c")
    assert origin("https://Hub.Zaikio.com/x") == origin("https://hub.zaikio.com:443/y")
    assert origin("http://h/") != origin("https://h/")
    for bad in ("ftp://h/", "hub.zaikio.com/x", "http:///x", "http://u:p@h/"):
        raises(ValueError, split_url, bad)


class FakePool:
    """A socket module whose sockets answer with canned bytes (or fail), counting close()."""

    SOCK_STREAM = 1

    def __init__(self, data=b"", fail=None, close_fails=False):
        self.data, self.fail, self.close_fails = data, fail, close_fails
        self.sockets = []

    def getaddrinfo(self, host, port, family=0, kind=0):
        return [(2, 1, 6, "", (host, port))]

    def socket(self, family, kind):
        s = PoolSocket(self)
        self.sockets.append(s)
        return s


class PoolSocket(FakeSocket):
    def __init__(self, pool):
        super().__init__(pool.data)
        self.pool = pool
        self.sent = b""
        self.closes = 0

    def connect(self, addr):
        if self.pool.fail == "connect":
            raise OSError(111, "refused")

    def sendall(self, data):
        if self.pool.fail == "send":
            raise OSError(104, "reset")
        self.sent += data

    def recv(self, n):
        if self.pool.fail == "recv":
            raise OSError(110, "timed out")
        return super().recv(n)

    def close(self):
        self.closes += 1
        if self.pool.close_fails:
            raise OSError(104, "reset")


def test_socket_closed_on_every_path():
    from oauthcc.transport import Transport

    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    cases = [(FakePool(ok), None), (FakePool(ok, close_fails=True), None),
             (FakePool(b"SSH-2.0\r\n\r\n"), OAuthError),  # requests' leak: a bad status line
             (FakePool(b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n"), OAuthError),
             (FakePool(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab"), OSError),
             (FakePool(ok, "connect"), OSError), (FakePool(ok, "send"), OSError),
             (FakePool(ok, "recv"), OSError)]
    for pool, exc in cases:
        t = Transport(pool=pool, max_body=100)
        if exc is None:
            assert t.request("POST", "http://h/t", "a=1").body == b"ok"  # a failing close
            assert pool.sockets[0].sent.endswith(b"\r\n\r\na=1")  # does not lose the answer
        else:
            raises(exc, t.request, "GET", "http://h/")
        assert [s.closes for s in pool.sockets] == [1], (exc, pool.fail)
