# Review of issue 15 (red15), round 2: what landed today (HTTP/1.1 keep-alive, on_request,
# the 401-storm rule, the refresh fallback) attacked as a hostile or buggy server, a broken
# network and a reboot would. Its findings were fixed and their tests moved to the modules
# they belong to (test_keepalive, test_keepalive_host, test_client, test_clientauth,
# test_clientstate, test_board, test_app_recovery); what is left are the claims that held
# (test_holds_...), on both runtimes. Canned sockets, the stub where a real asyncio socket is
# needed; every loop bounded.
import asyncio

from oauthcc.aiotransport import AsyncTransport
from oauthcc.errors import OAuthError
from oauthcc.transport import Transport
from support import (
    OnePool,
    Script,
    faults,
    reset,
    url,
)

NEEDS_STUB = True  # the cycles of faults

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_holds_a_chunked_answer_with_trailers_keeps_the_connection_in_step():
    # a chunked answer with trailer lines, then the next answer on the same connection: the
    # trailers are consumed up to their empty line, nothing left for the next request
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"2;ext=1\r\nok\r\n0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n")
    pool = Script(([chunked, OK],))
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
        pool = OnePool()
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
    pool = Script(([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", OK],))
    t = Transport(pool=pool, keepalive=True)
    assert t.request("HEAD", "http://h/").body == b""
    assert t.request("GET", "http://h/").body == b"ok" and len(pool.sockets) == 1
    t.close()
    pool = Script(([b"HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\nok"],))
    t = Transport(pool=pool, keepalive=True)
    assert t.request("GET", "http://h/").status == 204
    assert t._conn is None and pool.sockets[0].closes == 1
