# Time that cannot lie (issue 13, finding 9): ticks_diff is right within 2**29 ms (6.2 days)
# only, so a deadline read after a long pause could turn around: a token not looked at for 6.3
# to 12.4 days was served as fresh, an old one-hour Retry-After came back as about 6.2 days.
# The wrapping FakeClock jumps 6.3, 7, 12.4 and 13 days, for the token, the backoff and the
# latch's long wait, blocking and asyncio, with the wall clock set and (ticks alone) unset.
import asyncio

from oauthcc import OAuthError, TokenClient
from oauthcc.aio import AsyncTokenClient
from oauthcc.store import MemoryStore
from oauthcc.transport import Response
from support import CLIENT_ID, CLIENT_SECRET, FakeClock, raises

DAY = 86_400_000
JUMPS = (int(6.3 * DAY), 7 * DAY, int(12.4 * DAY), 13 * DAY)  # ms
TICKS_ALONE = (int(6.3 * DAY), 7 * DAY, int(12.4 * DAY))  # what ticks can tell (docs/security.md)


def ok(n, lifetime=600):
    return 200, ('{"access_token": "t%d", "expires_in": %d}' % (n, lifetime)).encode()


class Script:
    """A transport that gives canned (status, body[, headers]) answers in order; the last one
    again and again."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    def request(self, method, url, body=None, headers=None):
        self.calls += 1
        a = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return Response(a[0], a[2] if len(a) > 2 else {}, a[1])


def client(transport, clock, cls=TokenClient, **kw):
    return cls("https://auth.example/token", CLIENT_ID, CLIENT_SECRET, "read",
               transport=transport, clock=clock, rand=lambda n: n, **kw)


def clocks(jumps):
    # the wall clock set, and unset (the ticks alone)
    for jump in jumps:
        yield jump, FakeClock()
    for jump in TICKS_ALONE:
        if jump in jumps:
            yield jump, FakeClock(wall=None)


def test_a_token_not_looked_at_for_days_is_renewed_not_served():
    for lifetime in (600, 86_400):
        for jump, clock in clocks(JUMPS):
            s = Script(ok(1, lifetime), ok(2, lifetime))
            c = client(s, clock)
            assert c.token().access_token == "t1"
            clock.advance(jump)
            assert c.token().access_token == "t2", (lifetime, jump, clock.wall_ms)
            assert s.calls == 2


def test_an_expired_token_stays_expired_while_renewal_fails_for_days():
    # asked every hour, the server down: the token that expired must never come back
    for clock in (FakeClock(), FakeClock(wall=None)):
        s = Script(ok(1), (503, b""))
        c = client(s, clock, backoff_cap=3000)
        c.token()
        for hour in range(8 * 24):
            clock.advance(3_600_000)
            e = raises(OAuthError, c.token)
            assert e.error == "http_503", (hour, e)


def test_an_old_retry_after_is_over_after_days_not_six_more():
    for jump, clock in clocks(JUMPS):
        s = Script((503, b"", {"retry-after": "3600"}), ok(1))
        c = client(s, clock)
        raises(OAuthError, c.token)
        assert c.next_attempt_in_ms() == 7_200_000  # Retry-After, and as long again (rand n)
        clock.advance(jump)
        assert c.next_attempt_in_ms() == 0, (jump, clock.wall_ms)
        assert c.token().access_token == "t1" and s.calls == 2


def test_the_latch_wait_of_a_day_is_over_after_days():
    for jump, clock in clocks(JUMPS):
        s = Script((400, b'{"error": "invalid_scope"}'))
        c = client(s, clock)
        c._failures = c._latches = 5  # the sixth latch in a row: the longest window, a day
        raises(OAuthError, c.token)
        assert c.next_attempt_in_ms() == DAY and c.latched is not None
        clock.advance(jump)
        assert c.next_attempt_in_ms() == 0, (jump, clock.wall_ms)
        raises(OAuthError, c.token)
        assert s.calls == 2


def test_every_read_of_the_deadlines_after_a_pause_is_right():
    # token(), next_attempt_in_ms() and state() first after the pause: each must see it
    for jump, clock in clocks(JUMPS):
        s = Script((503, b"", {"retry-after": "3600"}))
        store = MemoryStore()
        c = client(s, clock, store=store)
        raises(OAuthError, c.token)
        clock.advance(jump)
        assert "next" not in c.state(), jump


def test_the_async_client_sees_the_pause_too():
    class Async(Script):
        async def request(self, method, url, body=None, headers=None):
            return Script.request(self, method, url, body, headers)

    async def main():
        for jump, clock in clocks(JUMPS):
            s = Async(ok(1), ok(2))
            c = client(s, clock, AsyncTokenClient)
            assert (await c.token()).access_token == "t1"
            clock.advance(jump)
            assert (await c.token()).access_token == "t2", jump

    asyncio.run(main())


def test_a_pause_of_a_day_or_less_changes_nothing():
    clock = FakeClock()
    s = Script(ok(1, 86_400), ok(2))
    c = client(s, clock, leeway=0)
    t = c.token()
    clock.advance(DAY - 1)
    assert c.token() is t and s.calls == 1
    clock.advance(1)
    assert c.token().access_token == "t2"
