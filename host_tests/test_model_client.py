"""A model-based test of the client's decisions (CPython: hypothesis does not run on
MicroPython). A RuleBasedStateMachine drives one TokenClient, with the wrapping FakeClock and
a scripted server, through random sequences of server behaviour (good with lifetimes from
zero to absurd, 5xx, 429 + Retry-After, permanent 4xx, malformed answers, network errors),
clock jumps (past the ticks wrap too), the wall clock set back alone (NTP after a skewed
clock), reboots through the store (a new client restoring the state, the ticks restarting as
after deep sleep), configuration changes and reset(), a refresh grant that fails on its own
(503) while client credentials work, a server that changes how it decodes Basic (the secret
has characters the two encodings send differently), and API calls answered 200 or 401; after
every step:

- no token is served past its lifetime (the one the client works with, at most a day, and
  never longer than the server's when that is a minute or more);
- no request goes out before the wait the client named after a failure has passed (one
  attempt per backoff window, across reboots), unless the configuration changed or reset();
  and without a new failure that wait never ends later (an old wait read after a ticks wrap
  looked six days long);
- a 5xx, a 429 or a network error is backed off short (at most the 15-minute cap, or twice
  Retry-After), never latched, whatever the body says; a permanent error waits long (at least
  30 min), the first of them in a row at most an hour (network errors before it do not count);
- one attempt sends at most three token requests (auth="auto"'s search included);
- an API call whose token was refused right after its renewal forces no further renewal (a
  401 storm is not a token request per call);
- token() raises only OAuthError, OSError or MemoryError;
- next_attempt_in_ms() after each call is an int in [0, a day + 3 s] (restored waits are
  rounded up to whole seconds);
- once the server is healthy and the configuration right, waiting what next_attempt_in_ms()
  says and asking gets a token: within the documented longest wait, a day (+ 3 s), at the
  first attempt, or at the second when the refresh grant still fails (503) and the next
  attempt takes the client credentials.

Derandomized, no example database, bounded examples and steps: a few seconds, the same
sequences on every run.
"""
import json
import random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from oauthcc import OAuthError, Token, TokenClient
from oauthcc.clientstate import _key
from oauthcc.encoding import basic_auth
from oauthcc.store import MemoryStore
from oauthcc.transport import Response
from support import FakeClock

DAY = 86_400_000
LONGEST = DAY + 3000  # the longest wait, and what rounding to whole seconds may add on restore
URL = "https://auth.example/token"
API = "https://api.example/v1/thing"
RIGHT, WRONG = "s3:cr+t", "wr:ng"  # Basic RFC-encoded and raw differ: auth="auto" searches

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
    (when, for how long) and when each request came. Its refresh grant may fail alone (503);
    it takes the secret in Basic as `decoding` says ("rfc": RFC 6749 2.3.1, or "raw"). The API
    (at API) answers `api` (200 or 401) and records the bearer token of each call."""

    def __init__(self, model):
        self.model = model
        self.mode = ("good", 600)
        self.refresh_broken = False
        self.decoding = "rfc"
        self.api = 200
        self.bearers = []
        self.issued = {}  # access token -> (model time issued, lifetime as sent)
        self.requests = []  # model times

    def request(self, method, url, body=None, headers=None):
        m = self.model
        if url == API:
            self.bearers.append(headers["Authorization"][len("Bearer "):])
            return Response(self.api, {}, b"{}")
        self.requests.append(m.elapsed)
        if self.refresh_broken and "grant_type=refresh_token" in body:
            return Response(503, {}, b"")
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
        if headers.get("Authorization") != basic_auth("device-1", RIGHT, self.decoding == "rfc"):
            return Response(401, {}, b'{"error": "invalid_client"}')
        doc = {"access_token": at, "token_type": "bearer", "refresh_token": "rt%d" % n}
        if arg is not None:
            doc["expires_in"] = arg
        return Response(200, {}, json.dumps(doc).encode())


class Store(MemoryStore):
    """The model's store: remembers when (model time) it was last written."""

    def __init__(self, model):
        MemoryStore.__init__(self)
        self.model = model
        self.saved_at = 0

    def save(self, state):
        MemoryStore.save(self, state)
        self.saved_at = self.model.elapsed


class Model(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 2 ** 32), start=st.integers(0, (1 << 30) - 1))
    def start(self, seed, start):
        self.rng = random.Random(seed)
        self.clock = FakeClock(start=start)
        self.elapsed = 0  # model time in ms: monotonic, unlike the ticks across reboots
        self.srv = Server(self)
        self.store = Store(self)
        self.secret = RIGHT
        self.waits = {}  # secret -> model time before which no request (its last failure's)
        self.latches = {}  # secret -> permanent errors in a row
        self.named = {}  # secret -> model time its wait was named
        self.set_back = []  # (model time, ms) of each wall clock set back
        self.restores = []  # (model time, token may gain ms, wait may gain ms), see hidden
        self.client = self.new_client()

    def new_client(self):
        self.restored()
        c = TokenClient(URL, "device-1", self.secret, "read", transport=self.srv,
                        clock=self.clock, store=self.store, api_origins=[API],
                        rand=lambda n: self.rng.randint(0, n))
        s = self.store.state
        if not (s and s.get("key") == _key(c)):  # the store holds another configuration's
            self.waits[self.secret] = 0  # state (or none): this one starts afresh
            self.latches[self.secret] = 0
        self.refused = None  # a new client may renew a refused token once more
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

    @rule(hours=st.sampled_from([1, 24, 24 * 365]))
    def wall_clock_set_back(self, hours):
        # NTP sets the wall clock back while the ticks run on: no time passes, only what the
        # board believes the time is. (Not forward: a clock set forward cannot be told from
        # time that passed, 13 days look like 13 hours to the ticks, so the client rightly
        # drops its waits then.)
        self.clock.wall_ms -= hours * 3_600_000
        self.set_back.append((self.elapsed, hours * 3_600_000))

    def hidden(self, since, wait=False):
        """How much longer than its own a restored token (or wait) may last, from the restores
        since `since` (model time): a wall clock set back B between the save and the restore,
        E later, cannot be told from time that stood still. A token is dropped when the clock
        reads earlier than at the save (B > E), else may gain B; a wait is restored as it
        was left at the save, so gains what passed meanwhile, min(B, E)."""
        return sum(w if wait else t for at, t, w in self.restores if at >= since)

    def restored(self):
        # a new client restores: what a set back since the last save may hide (see hidden)
        saved = self.store.saved_at
        back = sum(ms for t, ms in self.set_back if t >= saved)
        e = self.elapsed - saved
        self.restores.append((self.elapsed, back if back <= e else 0, min(back, e)))

    @rule(broken=st.booleans())
    def refresh_grant(self, broken):
        self.srv.refresh_broken = broken  # a refresh-token database down, a proxy rule

    @rule(rfc=st.booleans())
    def basic_decoding(self, rfc):
        self.srv.decoding = "rfc" if rfc else "raw"  # an upgrade, another backend

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
        self.latches[self.secret] = 0

    # -- the client --------------------------------------------------------------------------

    @rule(mode=MODES)
    def token(self, mode):
        self.srv.mode = mode  # how the server answers this call's requests
        self.ask()

    def ask(self, call=None, most=3):
        """token() once (or call(), which calls it), checked; the Token (its result) or the
        exception. most: token requests at most (one attempt: three)."""
        before = len(self.srv.requests)
        try:
            out = call() if call else self.client.token()
        except Exception as e:
            assert isinstance(e, (OAuthError, OSError, MemoryError)), repr(e)
            out = e
        wait = self.client.next_attempt_in_ms()  # read after the call: a pause is seen first
        assert isinstance(wait, int) and 0 <= wait <= LONGEST, wait
        sent = len(self.srv.requests) - before
        assert sent <= most, (sent, self.srv.mode)  # one attempt: at most three requests
        if sent:  # one attempt, perhaps several requests
            assert self.elapsed >= self.not_before, (self.elapsed, self.not_before)
            failed = isinstance(out, Exception) or self.client.last_error is not None
            self.not_before = self.elapsed + wait if failed else 0
            self.named[self.secret] = self.elapsed
            n = self.latches.get(self.secret, 0)
            if not failed:
                n = 0
            elif self.client.latched is not None:  # long, the first in a row an hour at most
                n += 1
                assert 1_800_000 <= wait <= (3_600_000 << min(n - 1, 5)) + 3000 or (
                    self.srv.mode[0] == "429"), (n, wait)
            self.latches[self.secret] = n
            kind, arg = self.srv.mode
            if kind in ("5xx", "429", "oserror"):  # retryable: the short backoff, no latch
                ra = arg * 1000 if kind == "429" else 0
                assert self.client.latched is None, self.srv.mode
                assert wait <= min(max(900_000, 2 * ra), DAY), (self.srv.mode, wait)
        else:  # no new failure: the wait named then ends no later (+ a restore's rounding)
            hidden = self.hidden(self.named.get(self.secret, 0), True)
            assert not wait or self.elapsed + wait <= self.not_before + 3000 + hidden, (
                self.elapsed, wait, self.not_before)
        if isinstance(out, Token):
            self.check_served(out)
        return out

    def check_served(self, t):
        issued, lifetime = self.srv.issued[t.access_token]
        age = self.elapsed - issued
        assert isinstance(t.expires_in, int), t.expires_in
        assert age <= min(t.expires_in, 86_400) * 1000 + self.hidden(issued), (
            age, t.expires_in, lifetime)
        if isinstance(lifetime, int) and lifetime >= 60:
            assert t.expires_in <= lifetime, (t.expires_in, lifetime)

    @rule(api=st.sampled_from([200, 401]))
    def api_call(self, api):
        # one API call; a 401 storm (the API refuses every token) is not a token request per
        # call: a token refused right after its renewal is not renewed again
        srv = self.srv
        srv.api = api
        before, calls = len(srv.requests), len(srv.bearers)
        refused = self.refused
        # checked as token() is: a token and, after a 401, one forced renewal: two attempts
        self.ask(lambda: self.client.request("GET", API), 6)
        bearers = srv.bearers[calls:]
        if api == 401 and bearers and bearers[0] == refused:
            assert len(srv.requests) == before and len(bearers) == 1, (refused, bearers)
        if api == 401 and len(bearers) == 2:
            self.refused = bearers[1]  # the renewed token, refused too
        elif api == 200:
            self.refused = None
        for at in bearers:  # every token sent was within its lifetime
            issued, _ = srv.issued[at]
            assert self.elapsed - issued <= 86_400_000, (at, issued)

    @rule(refresh_broken=st.booleans())
    def heal(self, refresh_broken):
        # the grant is made in the hub, the server is back, the right configuration deployed;
        # perhaps its refresh grant still fails, then the second attempt takes the client
        # credentials: either way a token within the longest wait
        self.srv.mode = ("good", 600)
        self.srv.refresh_broken = refresh_broken
        if self.secret != RIGHT:
            self.change_configuration(True)
        waited = 0
        for _ in range(2):
            wait = self.client.next_attempt_in_ms()
            waited += wait
            assert waited <= LONGEST, (waited, wait)
            self.advance(wait)
            out = self.ask()
            if not isinstance(out, Exception):
                return
        raise AssertionError("no token in two attempts (%d ms): %r" % (waited, out))


Model.TestCase.settings = settings(max_examples=500, stateful_step_count=40, deadline=None,
                                   derandomize=True, database=None,
                                   suppress_health_check=[HealthCheck.too_slow])
TestClientModel = Model.TestCase
