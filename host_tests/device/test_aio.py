# AsyncTokenClient end to end against the stub server, on both runtimes: the same decisions as
# TokenClient, one renewal for many tasks, deadlines, cancellation, the stub's faults.
import asyncio
import os

from oauthcc import OAuthError
from oauthcc.aio import AsyncTokenClient, from_profile
from oauthcc.http import Response
from oauthcc.store import MemoryStore
from support import (
    CLIENT_ID,
    CLIENT_SECRET,
    ORG,
    SCRIPTED_API,
    SCRIPTED_TOKEN_URL,
    FakeClock,
    answer,
    control,
    faults,
    log,
    reset,
    token_requests,
    url,
)

NEEDS_STUB = True
MACHINES = ORG + ".zaikio.machines.rw"
TOKEN_PATH = "/oauth/access_token"


def zaikio(clock=None, scope=MACHINES, **kw):
    kw.setdefault("rand", lambda n: n // 2)
    kw.setdefault("api_origins", [url()])
    return from_profile("zaikio", kw.pop("client_id", CLIENT_ID), CLIENT_SECRET, scope, url(),
                        clock=clock or FakeClock(), **kw)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


async def no_socket_left(fds):
    # Let cancelled tasks clean up (MicroPython's wait_for does not wait for them), and on
    # CPython the stub's own handler threads, which share this process, finish their faults.
    for _ in range(100):
        await asyncio.sleep(0.02)
        if open_fds() <= fds:  # the stub may have closed one of its own meanwhile
            return True
    return False


async def araises(exc_type, aw):
    try:
        await aw
    except exc_type as e:
        return e
    raise AssertionError("%s not raised" % exc_type.__name__)


def test_aio_fetch_cache_hit_and_api_call():
    async def main():
        reset(profile="zaikio")
        c = zaikio()
        assert isinstance(c, AsyncTokenClient) and "s3cret" not in repr(c)
        t = await c.token()
        assert t.token_type == "Bearer" and t.expires_in == 599 and t.refresh_token
        assert t.extra["audiences"] == ["directory"]
        assert await c.token() is t
        r = await c.request("GET", url("/api/v1/resource"), {"a": 1})
        assert r.status == 200 and r.json()["ok"] is True
        reqs = token_requests()
        assert len(reqs) == 1 and reqs[0]["basic"] == [CLIENT_ID, CLIENT_SECRET]
        assert reqs[0]["form"] == {"grant_type": "client_credentials", "scope": MACHINES}
        api = log()[1]
        assert api["headers"]["authorization"] == "Bearer " + t.access_token
        assert api["headers"]["content-type"] == "application/json"

    asyncio.run(main())


def test_aio_401_renews_once_and_retries_once():
    async def main():
        reset(profile="zaikio")
        c = zaikio()
        await c.request("GET", url("/api/v1/resource"))
        control("/_stub/expire", {})
        r = await c.request("GET", url("/api/v1/resource"))
        assert r.status == 200
        api401 = {"kind": "status", "status": 401, "path": "/api/"}
        faults(api401, api401)
        assert (await c.request("GET", url("/api/v1/resource"))).status == 401
        assert [(e["path"], e["status"]) for e in log()] == [
            (TOKEN_PATH, 200), ("/api/v1/resource", 200),
            ("/api/v1/resource", 401), (TOKEN_PATH, 200), ("/api/v1/resource", 200),
            ("/api/v1/resource", 401), (TOKEN_PATH, 200), ("/api/v1/resource", 401)]
        e = await araises(ValueError, c.request("GET", "http://127.0.0.2:9/steal"))
        assert "not sent" in str(e) and len(log()) == 8

    asyncio.run(main())


def test_aio_on_request_is_called_before_every_request():
    async def main():
        reset(profile="zaikio")
        c = zaikio()
        seen = []
        c.on_request = lambda: seen.append(len(log()))
        await c.request("GET", url("/api/v1/resource"))
        control("/_stub/expire", {})
        assert (await c.request("GET", url("/api/v1/resource"))).status == 200
        assert seen == [0, 1, 2, 3, 4] and len(log()) == 5

    asyncio.run(main())


def test_aio_a_failing_on_request_propagates_and_is_not_a_failed_token_request():
    # as TokenClient's: the hook's exception escapes unchanged, nothing sent, no failure
    class Async:
        sent = 0

        async def request(self, method, u, body=None, headers=None, max_body=None):
            self.sent += 1
            return answer("tok-1", expires_in=600)

    async def main():
        t = Async()
        c = AsyncTokenClient(SCRIPTED_TOKEN_URL, "dev-1", "s3cret", transport=t,
                             clock=FakeClock())
        fail = [ValueError("feed")]

        def feed():
            if fail:
                raise fail.pop()

        c.on_request = feed
        try:
            await c.token()
            raise AssertionError("no exception")
        except ValueError:
            pass
        assert t.sent == 0 and c.next_attempt_in_ms() == 0 and c.last_error is None
        assert (await c.token()).access_token == "tok-1"

    asyncio.run(main())


def test_aio_many_tasks_share_one_renewal():
    async def main():
        reset(profile="zaikio")
        c = zaikio()
        faults({"kind": "slow", "seconds": 0.3, "path": TOKEN_PATH})
        tokens = await asyncio.gather(*[c.token() for _ in range(20)])
        assert all(t is tokens[0] for t in tokens)
        assert len(token_requests()) == 1
        # ten API calls that all meet a 401 still cause only one renewal
        control("/_stub/expire", {})
        rs = await asyncio.gather(*[c.request("GET", url("/api/v1/resource"))
                                    for _ in range(10)])
        assert [r.status for r in rs] == [200] * 10
        assert len(token_requests()) == 2

    asyncio.run(main())


def test_aio_waiters_survive_the_fetching_task_being_cancelled():
    async def main():
        reset(profile="zaikio")
        c = zaikio()
        faults({"kind": "slow", "seconds": 0.3, "path": TOKEN_PATH})
        fetcher = asyncio.create_task(c.token())
        await asyncio.sleep(0.05)  # the fetcher holds the renewal
        waiters = [asyncio.create_task(c.token()) for _ in range(5)]
        await asyncio.sleep(0.05)
        fetcher.cancel()
        await araises(asyncio.CancelledError, fetcher)
        tokens = []
        for w in waiters:  # one of them fetched for all (no await in a comprehension on MP)
            tokens.append(await w)
        assert all(t is tokens[0] for t in tokens) and tokens[0].access_token
        assert len(token_requests()) == 2

    asyncio.run(main())


def test_aio_valid_token_served_while_another_task_renews():
    async def main():
        reset(profile="zaikio", lifetime=60)
        clock = FakeClock()
        c = zaikio(clock)
        t1 = await c.token()
        clock.advance(50_000)  # due (leeway 15 s), valid for 10 s more
        faults({"kind": "slow", "seconds": 0.3, "path": TOKEN_PATH})
        renewal = asyncio.create_task(c.token())
        await asyncio.sleep(0.05)
        assert await c.token() is t1  # not held up by the renewal in flight
        t2 = await renewal
        assert t2 is not t1 and await c.token() is t2
        assert [r["form"]["grant_type"] for r in token_requests()] == [
            "client_credentials", "refresh_token"]

    asyncio.run(main())


def test_aio_same_decisions_as_the_blocking_client():
    async def main():
        reset(profile="zaikio", lifetime=60)
        clock = FakeClock()
        c = zaikio(clock)
        await c.token()
        control("/_stub/revoke", {"what": "refresh"})
        clock.advance(61_000)
        assert (await c.token()).refresh_token  # invalid_grant: back to client credentials
        assert [(r["form"]["grant_type"], r["status"]) for r in token_requests()] == [
            ("client_credentials", 200), ("refresh_token", 400), ("client_credentials", 200)]
        clock.advance(61_000)
        faults({"kind": "status", "status": 503, "headers": {"Retry-After": "7"}})
        e = await araises(OAuthError, c.token())
        assert e.error == "http_503" and c.last_error is e
        wait = c.next_attempt_in_ms()
        assert wait == 7000 + 7000 // 2  # Retry-After, then jitter over as long again
        assert (await araises(OAuthError, c.token())).error == "backoff"
        assert len(token_requests()) == 4  # the backoff touched no network
        clock.advance(wait)
        assert (await c.token()).access_token
        n = len(token_requests())
        store = MemoryStore()
        t = await zaikio(clock, store=store).token()
        assert (await zaikio(clock, store=store).token()).access_token == t.access_token
        assert len(token_requests()) == n + 1  # the second client used the saved token
        bad = zaikio(clock, scope=ORG + ".finance.invoices.rw")
        e = await araises(OAuthError, bad.token())
        assert e.error == "ungranted_scope" and bad.latched is e
        assert bad.next_attempt_in_ms() == 2_700_000  # the long wait, as TokenClient's
        assert await araises(OAuthError, bad.token()) is e
        bad.reset()
        assert bad.next_attempt_in_ms() == 0 and bad.latched is None

    asyncio.run(main())


def test_aio_stub_faults():
    async def fetch(fault, **kw):
        faults(fault)
        c = zaikio(**kw)
        try:
            return await c.token()
        except (OAuthError, OSError) as e:
            assert c.last_error is e and c.next_attempt_in_ms() != 0
            return e
        finally:
            c.close()  # an answer read whole leaves its connection kept for the next request

    async def main():
        reset(profile="zaikio")
        fds = open_fds()
        t = await fetch({"kind": "chunked"})
        assert t.access_token and t.expires_in == 599
        t = await fetch({"kind": "patch", "fields": {"expires_in": "120", "token_type": "BEARER",
                                                     "refresh_token": None}})
        assert t.expires_in == 120 and t.token_type == "Bearer" and t.refresh_token is None
        e = await fetch({"kind": "status", "status": 500, "body": "<html>", "content_type": "x"})
        assert e.error == "http_500" and e.retryable
        e = await fetch({"kind": "json", "status": 200, "body": {"error": "invalid_scope"}})
        assert e.error == "invalid_scope" and not e.permanent  # only a 4xx is permanent
        e = await fetch({"kind": "json", "status": 400, "body": {"error": "invalid_scope"}})
        assert e.error == "invalid_scope" and e.permanent
        e = await fetch({"kind": "raw", "data": "SSH-2.0-OpenSSH\r\n\r\n"})
        assert e.error == "invalid_response"
        e = await fetch({"kind": "oversize", "size": 100_000})
        assert e.error == "response_too_large"
        for kind in ("close", "reset", "truncate"):
            e = await fetch({"kind": kind})
            assert isinstance(e, OSError) and not isinstance(e, OAuthError), kind
        e = await fetch({"kind": "slow", "seconds": 2}, timeout=0.2)
        assert isinstance(e, OSError)
        e = await fetch({"kind": "drip", "interval": 0.02}, deadline=0.3)
        assert isinstance(e, OSError) and "deadline" in str(e)
        c = AsyncTokenClient("http://127.0.0.1:1/token", "id", "secret")  # nothing listens
        assert isinstance(await araises(OSError, c.token()), OSError)
        assert await no_socket_left(fds)

    asyncio.run(main())


def test_aio_cancelled_fetch_leaves_no_socket_and_no_state():
    async def main():
        reset(profile="zaikio")
        fds = open_fds()
        for fault in ({"kind": "slow", "seconds": 0.5}, {"kind": "drip", "interval": 0.05}):
            c = zaikio()
            faults(fault)
            task = asyncio.create_task(c.token())
            await asyncio.sleep(0.2)  # connected, request sent, answer awaited
            task.cancel()
            await araises(asyncio.CancelledError, task)
            assert await no_socket_left(fds), fault["kind"]
            assert c.last_error is None and c.next_attempt_in_ms() == 0
            assert c._token is None  # nothing half stored
            faults({"kind": "slow", "seconds": 0.5})
            await araises(asyncio.TimeoutError, asyncio.wait_for(c.token(), 0.2))
            assert await no_socket_left(fds) and c.last_error is None
            t = await c.token()  # and the client still works
            assert t.access_token and await c.token() is t
            c.close()  # its kept connection
        assert await no_socket_left(fds)

    asyncio.run(main())


def hanging_listener():
    """A listening socket whose accept queue is full: a further connect waits for ever."""
    import socket

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for port in range(47100, 47200):  # MicroPython's socket has no getsockname
        try:
            ls.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            break
        except OSError:
            pass
    ls.listen(0)
    socks = [ls]
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        except OSError:
            pass  # in progress
        socks.append(s)
    return "http://127.0.0.1:%d/token" % port, socks


def test_aio_connect_that_hangs_is_bounded_and_closes_its_socket():
    async def main():
        token_url, socks = hanging_listener()
        try:
            fds = open_fds()
            c = AsyncTokenClient(token_url, "id", "secret", timeout=0.2)
            e = await araises(OSError, c.token())
            assert "timed out" in str(e) and c.last_error is e
            assert await no_socket_left(fds)
            c = AsyncTokenClient(token_url, "id", "secret")
            task = asyncio.create_task(c.token())
            await asyncio.sleep(0.1)  # in the middle of connecting
            task.cancel()
            await araises(asyncio.CancelledError, task)
            assert await no_socket_left(fds)
            assert c.last_error is None and c.next_attempt_in_ms() == 0
        finally:
            for s in socks:
                s.close()

    asyncio.run(main())


def test_aio_a_401_storm_is_not_a_token_request_per_call():
    # the 401 rule is ClientCore's, shared: a renewed token refused too is not renewed again
    class Async:
        def __init__(self):
            self.tokens = 0

        async def request(self, method, u, body=None, headers=None, max_body=None):
            if u == SCRIPTED_TOKEN_URL:
                self.tokens += 1
                return answer("tok%d" % self.tokens, expires_in=60)
            return Response(401, {}, b"")

    async def main():
        t = Async()
        c = AsyncTokenClient(SCRIPTED_TOKEN_URL, "dev-1", "s3cret", "read", transport=t,
                             api_origins=[SCRIPTED_API], clock=FakeClock())
        for _ in range(10):
            assert (await c.request("GET", SCRIPTED_API)).status == 401
        assert t.tokens == 2, t.tokens

    asyncio.run(main())
