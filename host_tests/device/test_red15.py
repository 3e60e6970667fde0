# Review of issue 15 (red15), round 2: what landed today (HTTP/1.1 keep-alive, on_request,
# the 401-storm rule, the refresh fallback) attacked as a hostile or buggy server, a broken
# network and a reboot would. Each test names its scenario, what was observed and what should
# happen instead; each FAILS on the code it was written against (device/ unchanged, the lead
# decides the fixes), on both runtimes, but those named test_holds_..., which check a claim
# that held (at the end). Canned sockets and scripted transports, the stub where a real
# asyncio socket is needed; a fake clock; every loop bounded. Host-only findings (a server
# that writes while the connection idles): host_tests/test_red15_host.py.
import asyncio
import socket
import time

from oauthcc._port import ticks_diff, ticks_ms
from oauthcc.aiotransport import AsyncTransport
from oauthcc.errors import OAuthError
from oauthcc.transport import Transport
from support import (
    faults,
    log,
    reset,
    url,
)

NEEDS_STUB = True  # the concurrent asyncio requests

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Script:
    """A socket module whose sockets each play a list of answers, one given as each request is
    sent, EOF when none is left (as test_keepalive's)."""

    SOCK_STREAM = 1

    def __init__(self, *plans):
        self.plans = list(plans)
        self.sockets = []

    def getaddrinfo(self, host, port, family=0, kind=0):
        return [(2, 1, 6, "", (host, port))]

    def socket(self, family, kind):
        s = Canned(self.plans.pop(0))
        self.sockets.append(s)
        return s


class Canned:
    def __init__(self, answers):
        self.answers = list(answers)
        self.data = self.sent = b""
        self.closes = 0

    def connect(self, addr):
        pass

    def settimeout(self, t):
        pass

    def sendall(self, data):
        if not self.data and self.answers:
            self.data = self.answers.pop(0)
        self.sent += data

    def recv(self, n):
        out, self.data = self.data[:n], self.data[n:]
        return out

    def close(self):
        self.closes += 1


# -- 3. framing headers given twice ----------------------------------------------------------


def test_an_answer_whose_framing_headers_conflict_is_not_kept():
    # Scenario: a server (or a proxy in front of it) sends a header twice: Connection: close
    # then Connection: keep-alive (RFC 9110 5.3: one list, "close, keep-alive"), or two
    # Content-Length values that differ (RFC 9112 6.3: unrecoverable, the client MUST close).
    # Observed: read_response keeps the last line of each name: the connection the server said
    # it closes is kept (the next request meets its EOF: a retry), and of two lengths the
    # last one frames the body, the rest of the bytes left for the next request to read as
    # its answer.
    # Expected: not kept (closed after the answer) when Connection says close in any line or
    # the lengths differ (refusing the answer as invalid_response is fine too).
    cases = [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\n"
        b"Content-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nContent-Length: 2\r\n\r\nok",
    ]
    for raw in cases:
        pool = Script([raw])
        t = Transport(pool=pool, keepalive=True)
        try:
            t.request("GET", "http://h/")
        except OAuthError:
            pass
        assert t._conn is None and pool.sockets[0].closes == 1, raw
        t.close()


# -- 4. concurrent asyncio requests: two sockets -------------------------------------------


class Pool:
    """The socket module, counting the sockets opened while another of them was still open."""

    def __init__(self):
        self.SOCK_STREAM = socket.SOCK_STREAM
        self.opened = []
        self.two = 0

    def getaddrinfo(self, *a):
        return socket.getaddrinfo(*a)

    def socket(self, *a):
        if [s for s in self.opened if s.fileno() != -1]:
            self.two += 1
        s = socket.socket(*a)
        self.opened.append(s)
        return s


def test_concurrent_async_requests_use_one_socket_at_a_time():
    # Scenario: an asyncio app with two tasks (a sensor upload and a status poll) calling
    # AsyncTransport.request (AsyncTokenClient.request) to one origin at the same time.
    # Observed: the first takes the kept connection out of _conn, the second finds none and
    # opens a second socket beside it (DESIGN "Connections: one socket at a time"; an ESP32
    # has about ten, and a TLS one is ~40 KB of heap: two handshakes at once is what a
    # fragmented heap does not survive).
    # Expected: the second request waits for the connection (a lock in the transport), so the
    # pool never holds two open sockets.
    reset(profile="generic")
    pool = Pool()
    t = AsyncTransport(pool=pool, keepalive=True)

    async def main():
        await t.request("GET", url("/api/v1/resource"))
        rs = await asyncio.gather(t.request("GET", url("/api/v1/resource")),
                                  t.request("GET", url("/api/v1/resource")))
        return [r.status for r in rs]

    try:
        assert asyncio.run(main()) == [401, 401]
    finally:
        t.close()
    assert len(log()) == 3
    assert pool.two == 0, (pool.two, len(pool.opened))


# -- 6. the stale retry outlives the deadline (and the watchdog) ---------------------------


class Slow(Canned):
    """A canned socket whose reads each take `ms` of real time first (a slow server)."""

    def __init__(self, answers, ms):
        Canned.__init__(self, answers)
        self.ms = ms

    def recv(self, n):
        time.sleep_ms(self.ms) if hasattr(time, "sleep_ms") else time.sleep(self.ms / 1000)
        return Canned.recv(self, n)


def test_a_kept_connection_that_ends_late_is_not_retried_past_the_deadline():
    # Scenario: a kept connection; the next request (the token POST) is sent, the server
    # thinks for most of the deadline and then closes without an answer (a worker killed at
    # its own timeout, a proxy that gives up): EOF, no byte of an answer, no timeout.
    # Observed: Transport takes it for a connection closed while idle and sends the request
    # again on a fresh connection with a fresh deadline: one request() takes almost two
    # deadlines (plus a DNS lookup), with one on_request feed before it: the watchdog that
    # settings sizes as "more than deadline + 20 s" resets the board; and the POST the server
    # had read is repeated after it was processed.
    # Expected: the whole request, retry included, within its one deadline (DESIGN
    # "Deadlines"); a kept connection that ends after waiting this long is not the idle case
    # (retry only what failed at once, or only within what is left of the deadline).
    pool = Script()
    pool.socket = lambda f, k: pool.sockets.append(plans.pop(0)) or pool.sockets[-1]
    # the kept one: an answer, then the POST's 500 ms and EOF; the fresh one: 400 ms a read
    plans = [Slow([OK], 0), Slow([OK], 400)]
    t = Transport(pool=pool, keepalive=True, timeout=2, deadline=0.6)
    assert t.request("GET", "http://h/").body == b"ok"
    pool.sockets[0].ms = 500
    start = ticks_ms()
    try:
        t.request("POST", "http://h/", "grant_type=client_credentials")
    except OSError:
        pass
    took = ticks_diff(ticks_ms(), start)
    t.close()
    posts = [x.sent.count(b"POST ") for x in pool.sockets]
    assert took <= 600 + 100, (took, posts)  # observed: 900 ms, the POST sent twice


# -- near-misses that held ------------------------------------------------------------------


def test_holds_a_chunked_answer_with_trailers_keeps_the_connection_in_step():
    # a chunked answer with trailer lines, then the next answer on the same connection: the
    # trailers are consumed up to their empty line, nothing left for the next request
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"2;ext=1\r\nok\r\n0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n")
    pool = Script([chunked, OK])
    t = Transport(pool=pool, keepalive=True)
    assert t.request("GET", "http://h/").body == b"ok"
    assert t._conn is not None
    assert t.request("GET", "http://h/").body == b"ok"
    assert len(pool.sockets) == 1
    t.close()
    assert pool.sockets[0].closes == 1


FAULTS = [
    None,
    {"kind": "hangup"},
    {"kind": "hangup", "seconds": 0.05},
    {"kind": "reset"},
    {"kind": "close"},
    {"kind": "truncate", "keep": 3},
    {"kind": "raw", "data": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"},
    {"kind": "chunked"},
    {"kind": "slow", "seconds": 0.5},  # past the 0.3 s timeout
]


def test_holds_no_socket_left_open_over_cycles_of_faults():
    # 27 cycles of a token request and an API call through one keepalive client of each
    # shell, a fault on one of them in each cycle (hangup at once or while idle, reset, close,
    # truncate, an answer with bytes after it, chunked, a timeout), the stub closing every
    # connection after 2 answers; close() at the cycle's end as App.rest: never two sockets
    # open, none left open after close()
    from oauthcc import TokenClient
    from oauthcc.aio import AsyncTokenClient

    for cls in (TokenClient, AsyncTokenClient):
        reset(profile="generic", requests_per_connection=2)
        pool = Pool()
        T = AsyncTransport if cls is AsyncTokenClient else Transport
        t = T(pool=pool, keepalive=True, timeout=0.3, deadline=1)
        c = cls(url("/oauth/token"), "device-1", "s3cret", transport=t,
                api_origins=[url()])
        loop = asyncio.new_event_loop() if cls is AsyncTokenClient else None
        try:
            for i in range(27):
                f = FAULTS[i % len(FAULTS)]
                if f is not None:
                    f = dict(f, path="/oauth" if i % 2 else "/api")
                    faults(f)
                c.reset()
                c.invalidate()
                try:
                    aw = c.request("GET", url("/api/v1/resource"))
                    loop.run_until_complete(aw) if loop else aw
                except (OAuthError, OSError):
                    pass
                c.close()
                open_now = [x for x in pool.opened if x.fileno() != -1]
                assert not open_now and pool.two == 0, (cls.__name__, i, f, len(open_now),
                                                         pool.two)
        finally:
            c.close()
            if loop:
                loop.close()
        assert len(pool.opened) >= 27, len(pool.opened)


def test_holds_a_head_answer_is_kept_and_a_204_with_a_body_is_not_reused_blindly():
    # HEAD and 204 have no body whatever their Content-Length says; bytes that came with them
    # (a body where none may be) are more than was asked for: not kept
    pool = Script([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", OK])
    t = Transport(pool=pool, keepalive=True)
    assert t.request("HEAD", "http://h/").body == b""
    assert t.request("GET", "http://h/").body == b"ok" and len(pool.sockets) == 1
    t.close()
    pool = Script([b"HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\nok"])
    t = Transport(pool=pool, keepalive=True)
    assert t.request("GET", "http://h/").status == 204
    assert t._conn is None and pool.sockets[0].closes == 1
