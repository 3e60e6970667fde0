# Hundreds of faulty cycles, on both runtimes: every socket closed (open file descriptors of
# the process unchanged, with the garbage collector off so no finaliser closes a leaked one),
# at most one kept per client (HTTP/1.1 keep-alive: the client's close() closes it), the
# MicroPython heap flat after gc.collect(), and no secret in any log line, repr or error.
import gc
import os
import time

import oauthcc
from oauthcc import OAuthError
from oauthcc.encoding import basic_auth
from support import CLIENT_ID, CLIENT_SECRET, ORG, FakeClock, faults, reset, url

NEEDS_STUB = True
NEEDS_TLS_STUB = True
BATCHES = 10
TOKEN = {"path": "/oauth/"}  # faults hit token requests only; API calls go through
MIX = [dict(TOKEN, **f) for f in (
    {"kind": "status", "status": 500, "body": "oops"},
    {"kind": "patch", "fields": {}},
    {"kind": "status", "status": 503, "headers": {"Retry-After": "2"}},
    {"kind": "close"},
    {"kind": "reset"},
    {"kind": "truncate", "keep": 3},
    {"kind": "raw", "data": "garbage\r\n\r\n"},
    {"kind": "json", "status": 200, "body": [1, 2]},
    {"kind": "status", "status": 200, "body": "{\"access_token\": ", "content_type": "json"},
    {"kind": "oversize", "size": 40000},
    {"kind": "chunked"},
    {"kind": "patch", "fields": {"token_type": "mac"}},
    {"kind": "patch", "fields": {"access_token": None}},
    {"kind": "status", "status": 502, "body": "<html>bad gateway</html>"},
    {"kind": "status", "status": 302, "headers": {"Location": "/elsewhere"}},
    {"kind": "json", "status": 401, "body": {"error": "invalid_client"}},
    {"kind": "json", "status": 200, "body": {"error": "temporarily_unavailable"}},
    {"kind": "status", "status": 429, "headers": {"Retry-After": "1"}},
    {"kind": "patch", "fields": {"expires_in": "60"}},
    {"kind": "slow", "seconds": 0.5},
    {"kind": "drip", "interval": 0.05},
    {"kind": "reset"},
    {"kind": "close"},
    {"kind": "truncate", "keep": 0},
    {"kind": "patch", "fields": {}},
    {"kind": "chunked"},
    {"kind": "status", "status": 500, "body": "oops"},
    {"kind": "raw", "data": "HTTP/1.1 200 OK\r\nContent-Length: 9999\r\n\r\n{"},
    {"kind": "json", "status": 400, "body": {"error": "invalid_request"}},
    {"kind": "patch", "fields": {"token_type": "Bearer"}},
)]


class Pool:
    """The socket module, keeping every socket it hands out: a leaked one stays open (no
    finaliser can close it while referenced) and shows up in still_open(). `two` counts the
    sockets opened while another was open: a kept connection not closed first (one pool per
    client; plain sockets only, CPython's TLS detaches them)."""

    def __init__(self):
        import socket

        self._s = socket
        self.SOCK_STREAM = socket.SOCK_STREAM
        self.opened = []
        self.two = 0

    def getaddrinfo(self, *a):
        return self._s.getaddrinfo(*a)

    def socket(self, *a):
        if self.still_open():
            self.two += 1
        s = self._s.socket(*a)
        self.opened.append(s)
        return s

    def still_open(self):
        return [s for s in self.opened if s.fileno() != -1]


def open_fds(expect=None):
    # under CPython the stub serves from this very process: give its threads a moment to
    # close their side (a leak stays; the server's sockets go within a few seconds)
    for _ in range(100):
        n = len(os.listdir("/proc/self/fd"))
        if expect is None or n <= expect:
            return n
        time.sleep(0.05)
    return n


def heap():
    gc.collect()
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else None


def make(base, clock, pool, log=None, ca=None, secret=CLIENT_SECRET, profile="generic"):
    from oauthcc.transport import Transport

    scope = ORG + ".zaikio.machines.rw" if profile == "zaikio" else None
    return oauthcc.from_profile(profile, CLIENT_ID, secret, scope, base, clock=clock,
                                rand=lambda n: n // 2, log=log, api_origins=[base],
                                transport=Transport(ca, timeout=0.2, deadline=0.4, pool=pool,
                                                    keepalive=True))


def cycle(c, clock, base, seen=None):
    """One round: a new token, then an API call with it. True when both worked."""
    c.invalidate()
    try:
        t = c.token()
        r = c.request("GET", base + "/api/v1/resource")
        if seen is not None:
            seen.extend((repr(t), repr(r), repr(c), t.access_token))
        return True
    except (OAuthError, OSError) as e:
        if seen is not None:
            seen.extend((str(e), repr(e), repr(c)))
        if c.latched is not None:
            c.reset()  # a permanent error (its wait is long): "the configuration changed"
        else:
            clock.advance(c.next_attempt_in_ms())
        return False


def run(mix, base, clock, c, seen=None):
    faults(*mix)
    ok = 0
    for _ in mix:
        ok += cycle(c, clock, base, seen)
    return ok


def test_no_socket_or_memory_leaks_over_hundreds_of_faulty_cycles():
    reset(profile="generic")
    clock = FakeClock()
    pools = [Pool() for _ in range(4)]
    tls = os.getenv("STUB_TLS_URL")
    plain = make(url(), clock, pools[0])
    good = make(tls, clock, pools[1], ca=os.getenv("STUB_CA_DER"))
    wrong_ca = make(tls, clock, pools[2], ca=os.getenv("STUB_WRONG_CA"))
    wrong_host = make(os.getenv("STUB_TLS_OTHER_HOST_URL"), clock, pools[3],
                      ca=os.getenv("STUB_CA_PEM"))
    clients = (plain, good, wrong_ca, wrong_host)
    run(MIX, url(), clock, plain)  # warm up: imports, interned names, first allocations
    run(MIX[:3], tls, clock, good)
    for c in clients:
        c.close()
    for pool in pools:
        del pool.opened[:]
    fds, mem = open_fds(), heap()
    fds0 = fds
    ok = n = 0
    for i in range(BATCHES):
        gc.disable()
        try:
            ok += run(MIX, url(), clock, plain)
            k = i * 3 % len(MIX)  # over TLS: a few faults of the mix per batch, in turn
            ok += run(MIX[k : k + 3], tls, clock, good)
            for c in (wrong_ca, wrong_host):
                cycle(c, clock, tls)
            n += len(MIX) + len(MIX[k : k + 3]) + 2
            assert len(pools[0].still_open()) <= 1, "batch %d: more than the kept one" % i
            assert pools[0].two == 0, "batch %d: two sockets at once" % i
            for c in clients:
                c.close()  # before sleeping: the kept connections
            for pool in pools:
                assert pool.still_open() == [], "batch %d: sockets left open" % i
            now = open_fds(fds)
            assert now <= fds, "batch %d: %d open file descriptors, %d before" % (i, now, fds)
            fds = now  # under CPython a stub socket of the warm-up may have closed since
        finally:
            gc.enable()
        for pool in pools:
            del pool.opened[:]
        gc.collect()
    mem_after = heap()
    print("LEAKS cycles=%d ok=%d fds=%d/%d heap=%s/%s" % (n, ok, fds0, open_fds(), mem,
                                                           mem_after))
    assert 0 < ok < n  # both faults and recoveries happened
    if mem is not None:
        assert mem_after - mem < 2048, "heap grew from %d to %d" % (mem, mem_after)


def test_no_secret_in_logs_reprs_or_errors():
    secret = "Sup3r:s3cret/+%&= \u00fc-" + "x" * 8
    reset(profile="zaikio", clients=[{"client_id": CLIENT_ID, "client_secret": secret,
                                      "granted_scopes": None}])
    lines, seen, clock = [], [], FakeClock()
    c = make(url(), clock, Pool(), lines.append, secret=secret, profile="zaikio")
    assert run(MIX, url(), clock, c, seen) + run(MIX, url(), clock, c, seen) > 0
    refresh = c._refresh
    tokens = [s for s in seen if s.count(".") == 2 and len(s) > 100]  # the JWTs handed out
    assert tokens and refresh
    text = "\n".join([s for s in seen if s not in tokens] + lines)
    needles = [secret, basic_auth(CLIENT_ID, secret).split()[1], refresh, "s3cret/"]
    for t in tokens:
        needles += [t, t.split(".")[2]]  # the whole token, and its signature alone
    for needle in needles:
        assert needle not in text, "a secret appears in logs, reprs or errors"
    assert "token request failed" in text and len(lines) > 10  # the log really was written


def test_the_asyncio_transport_closes_every_socket_of_its_pool():
    # the same faults through AsyncTokenClient, its transport given the counting pool
    import asyncio

    from oauthcc.aio import from_profile
    from oauthcc.aiotransport import AsyncTransport

    async def main():
        reset(profile="generic")
        pool, clock = Pool(), FakeClock()
        tls = os.getenv("STUB_TLS_URL")
        fds, ok = open_fds(), 0
        for base, ca, mix in ((url(), None, MIX), (tls, os.getenv("STUB_CA_DER"), MIX[:6])):
            c = from_profile("generic", CLIENT_ID, CLIENT_SECRET, None, base, clock=clock,
                             rand=lambda n: n // 2, api_origins=[base],
                             transport=AsyncTransport(ca, timeout=0.2, deadline=0.4, pool=pool,
                                                      keepalive=True))
            faults(*mix)
            for _ in mix:
                c.invalidate()
                try:
                    await c.token()
                    ok += (await c.request("GET", base + "/api/v1/resource")).status == 200
                except (OAuthError, OSError):
                    if c.latched is not None:
                        c.reset()
                    else:
                        clock.advance(c.next_attempt_in_ms())
            c.close()  # its kept connection
        for _ in range(50):  # CPython closes an aborted transport's socket at the next turn
            await asyncio.sleep(0.02)
            if not pool.still_open():
                break
        assert pool.opened and pool.still_open() == [], "sockets left open"
        assert 0 < ok < len(MIX) + 6 and open_fds(fds) <= fds

    asyncio.run(main())
