# The asyncio transport keeps the blocking one's TLS rules, from the same code (oauthcc.tls):
# the context is built once per transport, https is refused while the wall clock is unset,
# and a TLS handshake that never ends is bounded by the request's deadline. Both runtimes.
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


def _counting_context():
    # count the contexts built (both transports go through tls.context)
    made = []
    real = tls.context

    def context(ca, verify):
        made.append(1)
        return real(ca, verify)

    tls.context = context
    return made, real


def test_async_context_is_built_once_per_transport():
    reset(profile="zaikio")
    made, real = _counting_context()
    try:
        t = AsyncTransport(os.getenv("STUB_CA_DER"))
        for _ in range(3):
            assert _run(t.request("GET", _api())).status == 401  # answered: no bearer sent
        assert len(made) == 1
    finally:
        tls.context = real


def test_blocking_context_is_built_once_per_transport():
    reset(profile="zaikio")
    made, real = _counting_context()
    try:
        t = Transport(os.getenv("STUB_CA_DER"))
        for _ in range(3):
            assert t.request("GET", _api()).status == 401  # answered: no bearer sent
        assert len(made) == 1
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


def test_blocking_handshake_is_bounded_by_the_deadline():
    # a per-read timeout of 5 s would let the handshake outlive a 0.4 s deadline
    s, u = _silent_server()
    try:
        e = raises(OSError, Transport(verify=False, timeout=5, deadline=0.4).request, "POST", u)
        assert "deadline" in str(e), repr(e)
    finally:
        s.close()


def test_async_handshake_is_bounded_by_the_deadline():
    s, u = _silent_server()
    try:
        t = AsyncTransport(verify=False, timeout=5, deadline=0.4)
        e = raises(OSError, _run, t.request("POST", u))
        assert "deadline" in str(e), repr(e)
    finally:
        s.close()
