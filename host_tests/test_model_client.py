"""A model-based test of the client's decisions (CPython: hypothesis does not run on
MicroPython). A RuleBasedStateMachine drives one TokenClient, with the wrapping FakeClock and
a scripted server, through random sequences of server behaviour (good with lifetimes from
zero to absurd, 5xx, 429 + Retry-After, permanent 4xx, malformed answers, network errors),
clock jumps (past the ticks wrap too), reboots through the store (a new client restoring the
state, the ticks restarting as after deep sleep), configuration changes and reset(); after
every step:

- no token is served past its lifetime (the one the client works with, at most a day, and
  never longer than the server's when that is a minute or more);
- no request goes out before the wait the client named after a failure has passed (one
  attempt per backoff window, across reboots), unless the configuration changed or reset();
  and without a new failure that wait never ends later (an old wait read after a ticks wrap
  looked six days long);
- a 5xx, a 429 or a network error is backed off short (at most the 15-minute cap, or twice
  Retry-After), never latched, whatever the body says;
- token() raises only OAuthError, OSError or MemoryError;
- next_attempt_in_ms() after each call is an int in [0, a day + 3 s] (restored waits are
  rounded up to whole seconds);
- once the server is healthy and the configuration right, waiting what next_attempt_in_ms()
  says and asking once gets a token: within the documented longest wait, a day (+ 3 s).

Derandomized, no example database, bounded examples and steps: a few seconds, the same
sequences on every run.
"""
import json
import random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from oauthcc import OAuthError, TokenClient
from oauthcc.clientstate import _key
from oauthcc.store import MemoryStore
from oauthcc.transport import Response
from support import FakeClock

DAY = 86_400_000
LONGEST = DAY + 3000  # the longest wait, and what rounding to whole seconds may add on restore
URL = "https://auth.example/token"
RIGHT, WRONG = "s3cret", "wrong"

LIFETIMES = [0, 1, 10, 30, 59, 60, 600, 3600, 86_400, 86_401, 10 ** 7, 10 ** 12, -5, "120",
             "1e999", None]
# "@": a new access token each time (some of these are tokens, odd but usable)
MALFORMED = [b"", b"not json", b"[1, 2]", b'"str"', b"null", b'{"token_type": "bearer"}',
             b'{"access_token": 5}', b'{"access_token": ""}', b'{"access_token": null}',
             b'{"access_token": "@", "token_type": "mac"}', b'{"error": null}',
             b'{"access_token": "@", "expires_in": NaN}', b"\xff\xfe",
             b'{"access_token": "@", "extra": ' + b"[" * 3000 + b"]" * 3000 + b"}",
             b'{"access_token": "@", "extra": ' + b"[" * 50 + b"]" * 50 + b"}",
             b'{"access_token": "@", "expires_in": "-7"}',
             b'{"error": 5, "access_token": "@"}', b"<html>portal</html>"]
MODES = st.one_of(
    st.tuples(st.just("good"), st.sampled_from(LIFETIMES)),
    st.tuples(st.just("5xx"), st.sampled_from([500, 502, 503, 504])),
    st.tuples(st.just("429"), st.sampled_from([0, 1, 7, 60, 3600, 2 * 86_400])),  # Retry-After
    st.tuples(st.just("4xx"), st.sampled_from(["invalid_scope", "ungranted_scope",
                                               "unauthorized_client", "invalid_target",
                                               "invalid_grant", "something_new"])),
    st.tuples(st.just("malformed"), st.sampled_from(MALFORMED)),
    st.tuples(st.just("oserror"), st.none()))
STEPS = [0, 1, 999, 1000, 15_000, 60_000, 900_000, 3_600_000, 7_200_000, DAY - 1, DAY,
         DAY + 1]
PAUSES = [int(6.3 * DAY), 7 * DAY, int(12.4 * DAY), 13 * DAY, 25 * DAY]  # past the ticks wrap


class Server:
    """The token endpoint: answers by its current mode, and remembers every token it issued
    (when, for how long) and when each request came."""

    def __init__(self, model):
        self.model = model
        self.mode = ("good", 600)
        self.issued = {}  # access token -> (model time issued, lifetime as sent)
        self.requests = []  # model times

    def request(self, method, url, body=None, headers=None):
        m = self.model
        self.requests.append(m.elapsed)
        kind, arg = self.mode
        if kind == "oserror":
            raise OSError(104, "connection reset")
        if kind == "5xx":
            return Response(arg, {}, b'{"error": "invalid_client"}')  # a 5xx never latches
        if kind == "429":
            return Response(429, {"retry-after": str(arg)}, b"")
        if kind == "4xx":
            return Response(400, {}, b'{"error": "%s"}' % arg.encode())
        n = len(self.issued)
        at = "tok%d" % n
        self.issued[at] = (m.elapsed, arg if kind == "good" else None)
        if kind == "malformed":
            return Response(200, {}, arg.replace(b"@", at.encode()))
        if m.secret != RIGHT:
            return Response(401, {}, b'{"error": "invalid_client"}')
        doc = {"access_token": at, "token_type": "bearer", "refresh_token": "rt%d" % n}
        if arg is not None:
            doc["expires_in"] = arg
        return Response(200, {}, json.dumps(doc).encode())


class Model(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 2 ** 32), start=st.integers(0, (1 << 30) - 1))
    def start(self, seed, start):
        self.rng = random.Random(seed)
        self.clock = FakeClock(start=start)
        self.elapsed = 0  # model time in ms: monotonic, unlike the ticks across reboots
        self.srv = Server(self)
        self.store = MemoryStore()
        self.secret = RIGHT
        self.waits = {}  # secret -> model time before which no request (its last failure's)
        self.client = self.new_client()

    def new_client(self):
        c = TokenClient(URL, "device-1", self.secret, "read", transport=self.srv,
                        clock=self.clock, store=self.store, rand=lambda n: self.rng.randint(0, n))
        s = self.store.state
        if not (s and s.get("key") == _key(c)):  # the store holds another configuration's
            self.waits[self.secret] = 0  # state (or none): this one starts afresh
        return c

    @property
    def not_before(self):
        return self.waits.get(self.secret, 0)

    @not_before.setter
    def not_before(self, t):
        self.waits[self.secret] = t

    # -- the world ---------------------------------------------------------------------------

    @rule(ms=st.one_of(st.sampled_from(STEPS), st.integers(0, 2 * DAY)))
    def advance(self, ms):
        self.clock.advance(ms)
        self.elapsed += ms

    @rule(ms=st.sampled_from(PAUSES))
    def pause(self, ms):
        self.advance(ms)

    @rule(ticks_restart=st.booleans())
    def reboot(self, ticks_restart):
        if ticks_restart:  # deep sleep: the ticks start again, the wall clock ran on
            self.clock.t = self.rng.randrange(1 << 30)
        self.client = self.new_client()

    @rule(right=st.booleans())
    def change_configuration(self, right):
        # asks at once, unless the store holds this configuration's own wait (changed back)
        self.secret = RIGHT if right else WRONG
        self.client = self.new_client()

    @rule()
    def reset(self):
        self.client.reset()
        self.not_before = 0

    # -- the client --------------------------------------------------------------------------

    @rule(mode=MODES)
    def token(self, mode):
        self.srv.mode = mode  # how the server answers this call's requests
        self.ask()

    def ask(self):
        """token() once, checked; the Token or the exception."""
        before = len(self.srv.requests)
        try:
            out = self.client.token()
        except Exception as e:
            assert isinstance(e, (OAuthError, OSError, MemoryError)), repr(e)
            out = e
        wait = self.client.next_attempt_in_ms()  # read after the call: a pause is seen first
        assert isinstance(wait, int) and 0 <= wait <= LONGEST, wait
        if len(self.srv.requests) > before:  # one attempt, perhaps several requests
            assert self.elapsed >= self.not_before, (self.elapsed, self.not_before)
            failed = isinstance(out, Exception) or self.client.last_error is not None
            self.not_before = self.elapsed + wait if failed else 0
            kind, arg = self.srv.mode
            if kind in ("5xx", "429", "oserror"):  # retryable: the short backoff, no latch
                ra = arg * 1000 if kind == "429" else 0
                assert self.client.latched is None, self.srv.mode
                assert wait <= min(max(900_000, 2 * ra), DAY), (self.srv.mode, wait)
        else:  # no new failure: the wait named then ends no later (+ a restore's rounding)
            assert not wait or self.elapsed + wait <= self.not_before + 3000, (
                self.elapsed, wait, self.not_before)
        if not isinstance(out, Exception):
            self.check_served(out)
        return out

    def check_served(self, t):
        issued, lifetime = self.srv.issued[t.access_token]
        age = self.elapsed - issued
        assert isinstance(t.expires_in, int), t.expires_in
        assert age <= min(t.expires_in, 86_400) * 1000, (age, t.expires_in, lifetime)
        if isinstance(lifetime, int) and lifetime >= 60:
            assert t.expires_in <= lifetime, (t.expires_in, lifetime)

    @rule()
    def heal(self):
        # the grant is made in the hub, the server is back, the right configuration deployed
        self.srv.mode = ("good", 600)
        if self.secret != RIGHT:
            self.change_configuration(True)
        wait = self.client.next_attempt_in_ms()
        assert wait <= LONGEST, wait
        self.advance(wait)
        out = self.ask()
        assert not isinstance(out, Exception), (wait, repr(out))


Model.TestCase.settings = settings(max_examples=500, stateful_step_count=40, deadline=None,
                                   derandomize=True, database=None,
                                   suppress_health_check=[HealthCheck.too_slow])
TestClientModel = Model.TestCase
