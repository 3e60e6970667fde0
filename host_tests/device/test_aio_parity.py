# Both transports keep the same TLS rules, from the same code (oauthcc.http.Base and
# oauthcc.tls): the context is the transport's, built when it is (with a CA) or at the first
# https request, and then kept; https is refused while the wall clock is unset; a TLS
# handshake that never ends is bounded by the request's deadline. Both runtimes.
import asyncio
import os
import socket

from oauthcc import OAuthError, tls
from oauthcc.aio import from_profile
from oauthcc.aiotransport import AsyncTransport
from oauthcc.transport import Transport
from support import CLIENT_ID, CLIENT_SECRET, ORG, FakeClock, control, log, raises, reset

NEEDS_STUB = True
NEEDS_TLS_STUB = True
TOKEN_PATH = "/oauth/access_token"


def _api():
    return os.getenv("STUB_TLS_URL") + "/api/v1/roles"


def _run(coro):
    return asyncio.run(coro)


def fetch(t, method, u):
    """One request through either transport."""
    if isinstance(t, AsyncTransport):
        return _run(t.request(method, u))
    return t.request(method, u)


def _counting_context():
    # count the contexts built (both transports go through tls.context)
    made = []
    real = tls.context

    def context(ca, verify):
        made.append(1)
        return real(ca, verify)

    tls.context = context
    return made, real


def test_the_context_is_built_once_and_kept_by_each_transport():
    reset(profile="zaikio")
    made, real = _counting_context()
    try:
        for make in (Transport, AsyncTransport):
            del made[:]
            t = make(os.getenv("STUB_CA_DER"))
            assert t._ctx is not None and made == [1], make  # with a CA: when built
            for _ in range(3):
                assert fetch(t, "GET", _api()).status == 401  # answered: no bearer sent
            assert made == [1], make
            t = make(verify=False)
            assert t._ctx is None, make  # without a CA: at the first https request
            fetch(t, "GET", _api())
            ctx = t._ctx
            fetch(t, "GET", _api())
            assert ctx is not None and t._ctx is ctx and made == [1, 1], make
    finally:
        tls.context = real


def test_async_unset_wall_clock_is_retryable_and_sends_nothing():
    # as the blocking transport (test_tls): certificate dates cannot be checked before NTP
    reset(profile="zaikio")
    t = AsyncTransport(os.getenv("STUB_CA_DER"), clock=FakeClock(wall=None))
    e = raises(OAuthError, _run, t.request("POST", os.getenv("STUB_TLS_URL") + TOKEN_PATH))
    assert e.error == "clock_not_set" and e.retryable and "NTP" in str(e)
    c = from_profile("zaikio", CLIENT_ID, CLIENT_SECRET, ORG + ".zaikio.machines.rw",
                     os.getenv("STUB_TLS_URL"), transport=t, clock=FakeClock(),
                     rand=lambda n: n // 2)
    e = raises(OAuthError, _run, c.token())
    assert e.error == "clock_not_set"
    assert c.next_attempt_in_ms() is not None and c.latched is None  # backing off
    assert control("/_stub/tls")["tls_failures"] == 0 and log() == []  # never connected
    t._clock = FakeClock()  # NTP has set the clock: the same transport now connects
    assert _run(t.request("GET", _api())).status == 401


def _silent_server():
    # accepts TCP (the kernel's backlog) but never answers the TLS handshake
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for port in range(47300, 47400):  # MicroPython has no getsockname: try a few, bounded
        try:
            s.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            break
        except OSError:
            pass
    else:
        raise AssertionError("no free port in 47300-47399")
    s.listen(1)
    return s, "https://127.0.0.1:%d/oauth/token" % port


def test_the_handshake_is_bounded_by_the_deadline_on_both():
    # a per-read timeout of 5 s would let the handshake outlive a 0.4 s deadline
    s, u = _silent_server()
    try:
        for make in (Transport, AsyncTransport):
            e = raises(OSError, fetch, make(verify=False, timeout=5, deadline=0.4), "POST", u)
            assert "deadline" in str(e), (make, repr(e))
    finally:
        s.close()
