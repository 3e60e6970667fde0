# Keep-alive over real sockets and a server thread (CPython; the device half is
# host_tests/device/test_keepalive.py): a server that writes on a kept connection while it
# idles, and one that holds a request and closes unanswered (from the red15 review).
# The server listens on 127.0.0.1 only; every wait and loop is bounded.
import asyncio
import socket
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "device") not in sys.path:
    sys.path.insert(0, str(ROOT / "device"))

from oauthcc.aiotransport import AsyncTransport  # noqa: E402
from oauthcc.errors import OAuthError  # noqa: E402
from oauthcc.transport import Transport  # noqa: E402


def _answer(body):
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _next_head(c, buf):
    # the next request head on connection c, buf what came after the last one: (head, what
    # came after it), or None at EOF
    while b"\r\n\r\n" not in buf:
        data = c.recv(4096)
        if not data:
            return None
        buf += data
    head, _, buf = buf.partition(b"\r\n\r\n")
    return head, buf


def _listen():
    # a listening socket on 127.0.0.1 (accept bounded by 5 s) and the URL that reaches it
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    ls.settimeout(5)
    return ls, "http://127.0.0.1:%d/x" % ls.getsockname()[1]


class Idler:
    """A 127.0.0.1 server: each connection answers every request with a 200 whose body names
    the connection and the request ("c1r1", ...); after the first answer of the first
    connection it waits `after` s and writes `stray` while the connection idles, then closes
    it when `close` is true. Counts connections and requests."""

    def __init__(self, stray, close, after=0.05):
        self.stray, self.close, self.after = stray, close, after
        self.ls, self.url = _listen()
        self.conns = 0
        self.requests = []
        self.stop = False
        self.th = threading.Thread(target=self._serve, daemon=True)
        self.th.start()

    def _serve(self):
        for _ in range(4):  # bounded: a test makes two or three connections
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self._conn, args=(c, self.conns), daemon=True).start()
            if self.stop:
                return

    def _conn(self, c, n):
        c.settimeout(5)
        buf = b""
        try:
            for r in range(1, 5):  # bounded: a few requests per connection
                got = _next_head(c, buf)
                if got is None:
                    return
                head, buf = got
                self.requests.append((n, head.split(b"\r\n")[0]))
                c.sendall(_answer(b"c%dr%d" % (n, r)))
                if n == 1 and r == 1:
                    time.sleep(self.after)
                    c.sendall(self.stray)
                    if self.close:
                        return
        except OSError:
            pass
        finally:
            c.close()

    def shut(self):
        self.stop = True
        self.ls.close()


CASES = [
    # a server's (a proxy's) idle timeout: it says 408 on the idle connection, then closes
    # (golang.org/issue/32310: Go's transport drops such a connection, is408Message)
    ("408 on idle", b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
     b"Content-Length: 0\r\n\r\n", True),
    # an unasked-for whole answer, the connection left open (a late duplicate, a server bug)
    ("stray answer", _answer(b"STALE"), False),
    # a body one CRLF longer than its Content-Length, the CRLF written apart (two writes)
    ("trailing CRLF", b"\r\n", False),
]


def _both(t, server, loop):
    def call():
        aw = t.request("GET", server.url)
        return loop.run_until_complete(aw) if loop else aw

    first = call()
    time.sleep(0.3)  # idle, well within _IDLE_MS: the stray bytes have arrived
    try:
        second = call()
    except (OAuthError, OSError) as e:
        second = e
    return first, second


def test_a_kept_connection_with_bytes_to_read_is_dropped_not_reused():
    # Scenario: after the first answer the server writes on the kept connection before the
    # next request (CASES: a 408 and close, a whole unasked-for answer, a trailing CRLF), as
    # separate TCP segments, so they were not in the Reader's buffer when the first answer
    # ended (the only check of "nothing unasked-for after it").
    # Observed by red15: the next request went on that connection and took the idle bytes
    # as its answer: a 408 that the server sent before it ever read the request (for the token POST:
    # a retryable failure and a backoff, no retry on a fresh connection, since an answer
    # "started"), the stale body "STALE" returned as the answer of a request it never
    # answered (for the token request that could be a stray 401 invalid_client: a latch of an
    # hour), or "bad status line" (invalid_response) from the CRLF.
    # Expected: a kept connection is checked before reuse (readable while idle: EOF or bytes
    # nobody asked for; urllib3's is_connection_dropped, Go's readLoop peek) and dropped, so
    # the request goes on a fresh connection and gets its own answer ("c2r1").
    bad = []
    for make in (Transport, AsyncTransport):
        for name, stray, close in CASES:
            server = Idler(stray, close)
            loop = asyncio.new_event_loop() if make is AsyncTransport else None
            t = make(keepalive=True, timeout=3, deadline=5)
            try:
                first, second = _both(t, server, loop)
            finally:
                t.close()
                if loop:
                    loop.close()
                server.shut()
            assert first.body == b"c1r1", (make.__name__, name, first)
            if not (getattr(second, "status", None) == 200 and second.body == b"c2r1"):
                bad.append((make.__name__, name, second if isinstance(second, Exception)
                            else (second.status, second.body)))
    assert not bad, bad


class Closer:
    """A 127.0.0.1 server: connection 1 answers its first request, holds the second for
    `hold` s and closes without an answer; later connections answer after `slow` s."""

    def __init__(self, hold=0.5, slow=0.4):
        self.hold, self.slow = hold, slow
        self.ls, self.url = _listen()
        self.posts = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        for n in range(1, 4):  # bounded
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c, n), daemon=True).start()

    def _conn(self, c, n):
        c.settimeout(5)
        buf = b""
        try:
            for r in range(1, 4):
                got = _next_head(c, buf)
                if got is None:
                    return
                head, buf = got
                if head.startswith(b"POST"):
                    self.posts += 1
                if n == 1 and r == 2:
                    time.sleep(self.hold)
                    return  # closed, unanswered
                if n > 1:
                    time.sleep(self.slow)
                c.sendall(_answer(b"c%dr%d" % (n, r)))
        except OSError:
            pass
        finally:
            c.close()

    def shut(self):
        self.ls.close()


def _call(t, loop, method, u, body=None):
    aw = t.request(method, u, body)
    return loop.run_until_complete(aw) if loop else aw


def test_a_kept_connection_closed_after_a_wait_is_not_retried_past_the_deadline():
    # Scenario: as test_keepalive's test_a_kept_connection_that_ends_after_a_wait_is_not_
    # retried, over real sockets and both transports: a kept connection, the POST held 0.5 s
    # and closed unanswered; the fresh connection answers after 0.4 s; deadline 0.6 s.
    # Observed by red15: ~0.9 s for one request() (each transport's retry had a deadline of
    # its own), and the server saw the POST twice.
    # Expected: one request() within its deadline (+ slack), the POST sent once.
    bad = []
    for make in (Transport, AsyncTransport):
        server = Closer()
        loop = asyncio.new_event_loop() if make is AsyncTransport else None
        t = make(keepalive=True, timeout=2, deadline=0.6)

        try:
            assert _call(t, loop, "GET", server.url).body == b"c1r1"
            start = time.monotonic()
            try:
                _call(t, loop, "POST", server.url, "grant_type=client_credentials")
            except (OAuthError, OSError):
                pass
            took = time.monotonic() - start
        finally:
            t.close()
            if loop:
                loop.close()
            server.shut()
        if took > 0.6 + 0.1 or server.posts != 1:
            bad.append((make.__name__, round(took, 2), "POSTs seen: %d" % server.posts))
    assert not bad, bad
