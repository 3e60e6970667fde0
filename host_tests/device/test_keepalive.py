# HTTP/1.1 keep-alive, on both runtimes and both transports: back-to-back requests to one
# origin share a connection (the stub's log numbers them), another origin closes it first
# (never two sockets), a connection the server closed while idle is retried once on a fresh
# one, never once an answer started; Connection: close, HTTP/1.0 and answers read to the end
# are not kept; HTTPS reuse is one handshake; close() closes, and so does the client's.
import asyncio
import os
import time
from errno import ETIMEDOUT

import oauthcc
from oauthcc import OAuthError
from oauthcc._port import MICROPYTHON, ticks_add, ticks_diff, ticks_ms
from oauthcc.aio import AsyncTokenClient
from oauthcc.aio import from_profile as aio_profile
from oauthcc.aiotransport import AsyncTransport
from oauthcc.transport import Transport
from support import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeClock,
    OnePool,
    Script,
    ScriptedSocket,
    admin_url,
    faults,
    log,
    raises,
    reset,
    url,
)

NEEDS_STUB = True
NEEDS_TLS_STUB = True
TRANSPORTS = (Transport, AsyncTransport)
API = "/api/v1/resource"


class Session:
    """Requests through one keepalive transport of `make`, the asyncio one in one event loop of
    its own (a connection is kept for its loop)."""

    def __init__(self, make, **kw):
        self.pool = OnePool()
        self.t = make(pool=self.pool, keepalive=True, **kw)
        self.loop = asyncio.new_event_loop() if make is AsyncTransport else None

    def __call__(self, method="GET", u=None, body=None, headers=None):
        aw = self.t.request(method, u or url(API), body, headers)
        return self.loop.run_until_complete(aw) if self.loop else aw

    def fails(self, exc, *args):
        return raises(exc, self, *args)

    def close(self):
        self.t.close()
        if self.loop:
            self.loop.close()


def served():
    """The stub log's (path, connection number) since the last reset."""
    return [(e["path"], e["connection"]) for e in log()]


def test_back_to_back_requests_to_one_origin_share_one_connection():
    for make in TRANSPORTS:
        reset(profile="generic")
        s = Session(make)
        try:
            for _ in range(3):
                assert s().status == 401  # answered: no bearer sent
            n = [c for _, c in served()]
            assert len(n) == 3 and n[0] == n[1] == n[2], (make, n)
            assert len(s.pool.opened) == 1 and s.t._conn is not None
            assert "connection" not in log()[0]["headers"]  # HTTP/1.1: kept unless said
        finally:
            s.close()
        assert s.t._conn is None and s.pool.still_open() == [], make  # close() closes
        s.close()  # twice: nothing to do


def test_a_bare_transport_keeps_nothing_and_says_so():
    reset(profile="generic")
    for make in TRANSPORTS:
        pool = OnePool()
        t = make(pool=pool)
        for _ in range(2):
            if make is AsyncTransport:
                asyncio.run(t.request("GET", url(API)))
            else:
                t.request("GET", url(API))
            assert pool.still_open() == [] and t._conn is None, make
        assert log()[-1]["headers"]["connection"] == "close"
    n = [c for _, c in served()]
    assert len(set(n)) == len(n) == 4, n


def test_another_origin_closes_the_kept_connection_first():
    for make in TRANSPORTS:
        reset(profile="generic")
        s = Session(make)
        try:
            s()
            assert s("GET", admin_url("/client")).status == 404  # another port: another origin
            assert s.pool.two == 0 and len(s.pool.opened) == 2, make  # never two at once
            s()
            assert s.pool.two == 0 and len(s.pool.opened) == 3, make
            a, b = [c for _, c in served()]
            assert a != b, make
        finally:
            s.close()
        assert s.pool.still_open() == [], make


def test_a_connection_the_server_closed_while_idle_is_retried_once_on_a_fresh_one():
    for make in TRANSPORTS:
        for hangup in ({"kind": "hangup"}, {"kind": "hangup", "seconds": 0.2}):
            reset(profile="generic")
            s = Session(make)
            try:
                faults(hangup)
                assert s().status == 401
                if "seconds" in hangup:
                    time.sleep(0.5)  # the stub's idle timeout passes (the client's is longer)
                assert s().status == 401  # sent again on a fresh connection, transparently
                (_, a), (_, b) = served()  # the stub saw the second request once, elsewhere
                assert a != b and len(s.pool.opened) == 2 and s.pool.two == 0, (make, hangup)
                assert s().status == 401 and served()[-1][1] == b  # the fresh one is kept
            finally:
                s.close()
            assert s.pool.still_open() == []


def test_a_server_that_closes_after_every_answer_costs_one_retry_each():
    for make in TRANSPORTS:
        reset(profile="generic", requests_per_connection=1)
        s = Session(make)
        try:
            for _ in range(4):
                assert s().status == 401
            n = [c for _, c in served()]
            assert len(set(n)) == len(n) == 4 and len(s.pool.opened) == 4, (make, n)
            assert s.pool.two == 0
        finally:
            s.close()
            reset(profile="generic")


def test_a_connection_cut_once_the_answer_started_is_not_retried():
    for make in TRANSPORTS:
        for cut in ({"kind": "truncate", "keep": 3}, {"kind": "raw", "data": "HTTP/1.1 2"}):
            reset(profile="generic")
            s = Session(make)
            try:
                s()
                faults(cut)
                e = s.fails(OSError)
                assert not isinstance(e, OAuthError), (make, cut, repr(e))
                assert len(served()) == 2 and len(s.pool.opened) == 1, (make, cut)
                assert s.t._conn is None and s.pool.still_open() == []  # the error closed it
                assert s().status == 401 and len(s.pool.opened) == 2  # the next connects anew
            finally:
                s.close()


def test_connection_close_and_answers_read_to_their_end_are_not_kept():
    for make in TRANSPORTS:
        reset(profile="generic")
        s = Session(make)
        try:
            for fault in ({"kind": "status", "status": 503, "headers": {"Connection": "close"}},
                          {"kind": "raw", "data": "HTTP/1.1 200 OK\r\n\r\nto the end"},
                          {"kind": "raw", "data": "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n"
                                                  "ok"}):
                faults(fault)
                s()
                assert s.t._conn is None and s.pool.still_open() == [], (make, fault)
            assert s().status == 401 and len(s.pool.opened) == 4  # each on its own
            # HTTP/1.0 with keep-alive is kept (here the stub closes after raw bytes: the
            # next request finds it closed and goes on a fresh connection)
            faults({"kind": "raw", "data": "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                                           "Content-Length: 2\r\n\r\nok"})
            assert s().body == b"ok" and s.t._conn is not None and len(s.pool.opened) == 4
            assert s().status == 401 and len(s.pool.opened) == 5
        finally:
            s.close()


def test_a_connection_idle_too_long_is_closed_not_reused():
    for make in TRANSPORTS:
        reset(profile="generic")
        s = Session(make)
        try:
            s()
            c = s.t._conn
            s.t._conn = c[:-1] + (ticks_add(ticks_ms(), -5000),)  # kept 5 s ago
            s()
            assert len(s.pool.opened) == 2 and s.pool.two == 0, make  # closed first
            assert len(served()) == 2  # and not tried first: no failed attempt
        finally:
            s.close()


def test_https_reuse_is_one_handshake():
    base = os.getenv("STUB_TLS_URL")
    for make in TRANSPORTS:
        reset(profile="generic")
        s = Session(make, ca=os.getenv("STUB_CA_DER"))
        try:
            for _ in range(3):
                assert s("GET", base + API).status == 401
            n = [c for _, c in served()]
            assert len(s.pool.opened) == 1 and n[0] == n[1] == n[2], (make, n)  # one connection
        finally:
            s.close()
        assert s.t._conn is None


def test_the_client_sends_token_request_and_api_calls_on_one_connection():
    for tls in (False, True):
        base = os.getenv("STUB_TLS_URL") if tls else url()
        ca = os.getenv("STUB_CA_DER") if tls else None
        reset(profile="generic")
        c = oauthcc.from_profile("generic", CLIENT_ID, CLIENT_SECRET, None, base, ca=ca,
                                 clock=FakeClock(), api_origins=[base])
        assert c._transport.keepalive
        for _ in range(2):
            assert c.request("GET", base + API).status == 200
        n = [e["connection"] for e in log()]
        assert len(n) == 3 and n[0] == n[1] == n[2], (tls, n)
        assert c._transport._conn is not None
        c.close()
        assert c._transport._conn is None
        c.close()
        assert c.request("GET", base + API).status == 200  # still usable: connects anew
        c.close()
        assert log()[-1]["connection"] != n[0]


def test_the_async_client_too():
    async def main(base, ca):
        c = aio_profile("generic", CLIENT_ID, CLIENT_SECRET, None, base, ca=ca,
                                     clock=FakeClock(), api_origins=[base])
        assert isinstance(c, AsyncTokenClient) and c._transport.keepalive
        try:
            for _ in range(2):
                assert (await c.request("GET", base + API)).status == 200
            assert c._transport._conn is not None
        finally:
            c.close()  # not a coroutine
        assert c._transport._conn is None

    for tls in (False, True):
        base = os.getenv("STUB_TLS_URL") if tls else url()
        reset(profile="generic")
        asyncio.run(main(base, os.getenv("STUB_CA_DER") if tls else None))
        n = [e["connection"] for e in log()]
        assert len(n) == 3 and n[0] == n[1] == n[2], (tls, n)


def test_an_async_connection_is_kept_for_its_event_loop_only():
    # CPython: a new loop cannot use the streams of one that has ended, so the connection
    # is closed and a new one made; MicroPython has one loop, and keeps it
    reset(profile="generic")
    pool = OnePool()
    t = AsyncTransport(pool=pool, keepalive=True)
    for _ in range(2):
        assert asyncio.run(t.request("GET", url(API))).status == 401
    assert len(pool.opened) == (1 if MICROPYTHON else 2) and pool.two == 0
    t.close()
    assert pool.still_open() == []


# -- what the transport decides, on canned sockets ------------------------------------------

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_a_kept_connection_closed_by_eof_reset_or_broken_pipe_is_retried_once():
    for then in ("eof", "reset", "pipe"):
        pool = Script(([OK], then), ([OK], then))
        t = Transport(pool=pool, keepalive=True)
        assert t.request("POST", "http://h/t", "a=1").body == b"ok"
        assert t.request("POST", "http://h/t", "a=2").body == b"ok", then  # the token POST too
        a, b = pool.sockets
        assert a.closes == 1 and b.closes == 0 and b.sent.endswith(b"\r\n\r\na=2"), then
        assert b"Connection:" not in a.sent  # HTTP/1.1's default: keep
        t.close()
        assert b.closes == 1


def test_a_fresh_connection_or_a_timeout_is_never_retried():
    pool = Script(([], "eof"), ([OK],))
    t = Transport(pool=pool, keepalive=True)
    raises(OSError, t.request, "GET", "http://h/")  # closed at once, but not a kept one
    assert len(pool.sockets) == 1 and pool.sockets[0].closes == 1
    pool = Script(([OK], "timeout"), ([OK],))
    t = Transport(pool=pool, keepalive=True)
    t.request("GET", "http://h/")
    e = raises(OSError, t.request, "GET", "http://h/")  # a live server, only slow: no retry
    assert e.args[0] == ETIMEDOUT and len(pool.sockets) == 1 and pool.sockets[0].closes == 1
    pool = Script(([OK, b"HTTP/1.1 20"], "eof"), ([OK],))  # the second answer began, then EOF
    t = Transport(pool=pool, keepalive=True)
    t.request("GET", "http://h/")
    raises(OSError, t.request, "GET", "http://h/")
    assert len(pool.sockets) == 1 and pool.sockets[0].closes == 1


def test_what_an_answer_allows_to_keep():
    cases = [
        (OK, True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n",
         False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", True),
        (b"HTTP/1.1 200 OK\r\n\r\nto the end", False),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + OK, True),
        (OK + b"HTTP/1.1 200 OK\r\n", False),  # more than was asked for: not to be trusted
    ]
    for raw, kept in cases:
        pool = Script(([raw],))
        t = Transport(pool=pool, keepalive=True)
        t.request("GET", "http://h/")
        assert (t._conn is not None) == kept and pool.sockets[0].closes == (0 if kept else 1), raw
        t.close()
        assert pool.sockets[0].closes == 1


def test_a_tls_connection_the_server_closed_while_idle_is_retried_once_too():
    # the TLS forms of a closed connection (close_notify, EOF, a reset under the record
    # layer) differ by runtime and by transport: each one retried, once
    base = os.getenv("STUB_TLS_URL")
    for make in TRANSPORTS:
        for hangup in ({"kind": "hangup"}, {"kind": "hangup", "seconds": 0.2}):
            reset(profile="generic")
            s = Session(make, ca=os.getenv("STUB_CA_DER"))
            try:
                faults(hangup)
                assert s("GET", base + API).status == 401
                if "seconds" in hangup:
                    time.sleep(0.5)
                assert s("GET", base + API).status == 401, (make, hangup)
                (_, a), (_, b) = served()
                assert a != b and len(s.pool.opened) == 2, (make, hangup)
            finally:
                s.close()


def test_a_send_that_times_out_on_a_kept_connection_is_not_retried():
    # CPython's socket.timeout has no errno: the send is bounded like a read and its timeout
    # is ETIMEDOUT, never taken for a closed connection
    pool = Script(([OK], "sendtimeout"), ([OK],))
    t = Transport(pool=pool, keepalive=True)
    t.request("GET", "http://h/")
    e = raises(OSError, t.request, "POST", "http://h/t", "a=1")
    assert e.args[0] == ETIMEDOUT and len(pool.sockets) == 1 and pool.sockets[0].closes == 1


class Slow(ScriptedSocket):
    """A scripted socket whose reads each take `ms` of real time first (a slow server)."""

    def __init__(self, answers, ms):
        ScriptedSocket.__init__(self, answers)
        self.ms = ms

    def recv(self, n):
        time.sleep_ms(self.ms) if hasattr(time, "sleep_ms") else time.sleep(self.ms / 1000)
        return ScriptedSocket.recv(self, n)


def test_a_kept_connection_that_ends_after_a_wait_is_not_retried():
    # the server held the POST 500 ms and closed unanswered: it had read it, so no second
    # POST, and the request ends within its one deadline (0.6 s); red15 saw 0.9 s, two POSTs
    pool = Script()
    plans = [Slow([OK], 0), Slow([OK], 400)]
    pool.socket = lambda f, k: pool.sockets.append(plans.pop(0)) or pool.sockets[-1]
    t = Transport(pool=pool, keepalive=True, timeout=2, deadline=0.6)
    assert t.request("GET", "http://h/").body == b"ok"
    pool.sockets[0].ms = 500
    start = ticks_ms()
    raises(OSError, t.request, "POST", "http://h/", "grant_type=client_credentials")
    took = ticks_diff(ticks_ms(), start)
    t.close()
    assert took <= 600 + 100 and len(pool.sockets) == 1, (took, len(pool.sockets))


def test_a_header_sent_twice_is_one_list_for_the_framing():
    # Connection: close in any line wins (RFC 9110 5.3: one list); two Content-Length values
    # that differ are refused (RFC 9112 6.3); either way the connection is closed
    cases = [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\n"
        b"Content-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nContent-Length: 2\r\n\r\nok",
    ]
    for raw in cases:
        pool = Script(([raw],))
        t = Transport(pool=pool, keepalive=True)
        try:
            t.request("GET", "http://h/")
        except OAuthError as e:
            assert e.error == "invalid_response", raw
        assert t._conn is None and pool.sockets[0].closes == 1, raw


def test_chunked_framing_only_when_it_is_the_last_coding():
    # "chunked, gzip": not chunked framing; the body runs to the end of the stream, not kept
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    pool = Script(([raw],))
    t = Transport(pool=pool, keepalive=True)
    assert t.request("GET", "http://h/").body == b"2\r\nok\r\n0\r\n\r\n"
    assert t._conn is None and pool.sockets[0].closes == 1


def test_concurrent_async_requests_take_turns_on_one_socket():
    # two tasks calling one AsyncTransport at once: the second waits for the connection (a
    # lock), so the pool never holds two open sockets (red15 saw a second one beside it)
    reset(profile="generic")
    pool = OnePool()
    t = AsyncTransport(pool=pool, keepalive=True)

    async def main():
        await t.request("GET", url(API))
        rs = await asyncio.gather(t.request("GET", url(API)), t.request("GET", url(API)))
        return [r.status for r in rs]

    try:
        assert asyncio.run(main()) == [401, 401]
    finally:
        t.close()
    assert len(log()) == 3 and pool.two == 0, (len(log()), pool.two, len(pool.opened))
