"""The simulations of `make bench`, on CPython: the library's own TokenClient driven with an
injected clock and transport, so a day or a fleet takes a fraction of a second.

tokens_per_day(): token-endpoint requests in 24 simulated hours, awake or across deep sleep.
fleet(): a thousand devices told the same Retry-After, and how their retries arrive.
fleet_latched(): a thousand devices latched on ungranted_scope until the grant is made in the
hub: how long until all of them hold a token, and how their requests arrive.
"""
import heapq
import json
import os
import random
import sys
import tempfile
from collections import Counter

from toolchain import DEVICE

if str(DEVICE) not in sys.path:
    sys.path.insert(0, str(DEVICE))

DAY_S = 86400
CALL_EVERY_S = 300
FLEET = 1000
RETRY_AFTER_S = 60
LONGEST_WAIT_S = 86400  # a permanent error's longest wait (oauthcc/backoff.py)
GRANT_FIXED_S = (3600, 36000, 3 * 86400)  # when the hub grants the scope, after the latch
UNGRANTED = (400, {"content-type": "application/json"},
             b'{"error": "ungranted_scope", "error_description": "not granted"}')
URL = "https://as.example/oauth/token"
API = "https://as.example/api/v1/resource"
CLIENT_ID, CLIENT_SECRET, SCOPE = "device-1", "s3cret", "read"


class SimClock:
    """Ticks that wrap at 2**30 ms like the ESP32, a wall clock, and elapsed ms for the bins."""

    def __init__(self, wall=1767225600, start=0):
        self.t = start
        self.elapsed = 0
        self.wall_ms = wall * 1000

    def ticks_ms(self):
        return self.t

    def ticks_add(self, t, delta):
        return (t + delta) & ((1 << 30) - 1)

    def ticks_diff(self, a, b):
        return ((a - b + (1 << 29)) & ((1 << 30) - 1)) - (1 << 29)

    def unix_time(self):
        return self.wall_ms // 1000

    def advance(self, ms):
        self.t = self.ticks_add(self.t, ms)
        self.elapsed += ms
        self.wall_ms += ms


class SimServer:
    """A transport: token requests answered 503 + Retry-After (or `refusal`, a (status,
    headers, body)) until up_at, then a token."""

    def __init__(self, clock, lifetime=3600, up_at=0, retry_after=RETRY_AFTER_S, refusal=None):
        self.clock = clock
        self.lifetime = lifetime
        self.up_at = up_at
        self.retry_after = retry_after
        self.refusal = refusal
        self.token_times = []
        self.api_calls = 0

    def request(self, method, url, body=None, headers=None):
        from oauthcc.transport import Response

        if not url.endswith("/token"):
            self.api_calls += 1
            return Response(200, {}, b"{}")
        self.token_times.append(self.clock.elapsed)
        if self.clock.elapsed < self.up_at:
            if self.refusal:
                return Response(*self.refusal)
            return Response(503, {"retry-after": str(self.retry_after)}, b"")
        body = {"access_token": "t%d" % len(self.token_times), "token_type": "bearer",
                "expires_in": self.lifetime}
        return Response(200, {"content-type": "application/json"}, json.dumps(body).encode())


def tokens_per_day(lifetime, deep_sleep):
    """(token requests, API calls) in 24 simulated hours, an API call every 5 minutes."""
    from oauthcc import TokenClient
    from oauthcc.store import FileStore

    clock = SimClock()
    server = SimServer(clock, lifetime)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "state.json")
        client = None
        for _ in range(DAY_S // CALL_EVERY_S):
            if deep_sleep or client is None:
                # deep sleep: a fresh interpreter, ticks restart at 0, only the store survives
                if deep_sleep:
                    clock.t = 0
                client = TokenClient(URL, CLIENT_ID, CLIENT_SECRET, SCOPE, transport=server,
                                     clock=clock, store=FileStore(path) if deep_sleep else None)
            client.request("GET", API)
            clock.advance(CALL_EVERY_S * 1000)
    return len(server.token_times), server.api_calls


def _until_tokens(clock, devices, due, refused):
    """Let the device due first ask, again and again, each at its own next_attempt_in_ms(),
    until all hold a token (bounded); refused(e, wait_ms) sees every refusal. Returns when
    each got its token {i: ms}, and the (ms, i) still due."""
    from oauthcc import OAuthError

    heapq.heapify(due)
    got = {}
    for _ in range(100 * len(devices)):  # every device gets a token long before this
        if not due:
            break
        t, i = heapq.heappop(due)
        clock.advance(t - clock.elapsed)
        try:
            devices[i].token()
            got[i] = clock.elapsed
        except OAuthError as e:
            wait = devices[i].next_attempt_in_ms()
            refused(e, wait)
            heapq.heappush(due, (clock.elapsed + wait, i))
    return got, due


def fleet(outage_s, n=FLEET, seed=1):
    """n devices asked at the same moment and all got 503 + the same Retry-After; the server is
    back outage_s seconds later. Every retry goes through TokenClient's own backoff (real
    jitter from its default rand, seeded). Returns the retry arrivals' figures."""
    from oauthcc import OAuthError, TokenClient

    random.seed(seed)
    clock = SimClock()
    server = SimServer(clock, up_at=max(1, outage_s * 1000))  # the first answer: 503
    devices = [TokenClient(URL, "device-%d" % i, CLIENT_SECRET, SCOPE, transport=server,
                           clock=clock) for i in range(n)]
    due = []
    for i, d in enumerate(devices):
        try:
            d.token()
        except OAuthError:
            due.append((clock.elapsed + d.next_attempt_in_ms(), i))
    early = []  # "backoff": next_attempt_in_ms() was wrong, must stay empty
    _, due = _until_tokens(clock, devices, due,
                           lambda e, wait: e.error == "backoff" and early.append(e))
    refused = len(early)
    retries = [t for t in server.token_times if t > 0]
    first, last = min(retries), max(retries)
    window_s = max(1.0, (last - first) / 1000)
    peak = max(Counter(t // 1000 for t in retries).values())
    mean = len(retries) / window_s
    return {"devices": n, "retry_after_s": RETRY_AFTER_S, "outage_s": outage_s,
            "retries": len(retries), "first_retry_s": first / 1000, "last_retry_s": last / 1000,
            "window_s": round(window_s, 1), "peak_per_s": peak, "mean_per_s": round(mean, 1),
            "peak_ratio": round(peak / mean, 2), "early_refusals": refused,
            "unfinished": len(due)}


def fleet_latched(fixed_after_s, n=FLEET, seed=1):
    """n devices asked at the same moment (all booted together: the worst case) and were
    refused ungranted_scope, a permanent error; the grant is made in the hub fixed_after_s
    later, and nobody visits a device. Each asks again when its own next_attempt_in_ms()
    says (TokenClient's latch wait with its default jitter, seeded). Returns when all hold a
    token, the attempts while latched, and how the densest wave arrives (the first retries,
    all in the first window's second half hour): its busiest second, against its mean, and
    in bins of 2% of the wave (a mean of 20)."""
    from oauthcc import OAuthError, TokenClient

    random.seed(seed)
    clock = SimClock()
    fix = fixed_after_s * 1000
    server = SimServer(clock, up_at=fix, refusal=UNGRANTED)
    devices = [TokenClient(URL, "device-%d" % i, CLIENT_SECRET, SCOPE, transport=server,
                           clock=clock) for i in range(n)]
    due, gaps = [], []
    for i, d in enumerate(devices):
        try:
            d.token()
        except OAuthError as e:
            if not (e.permanent and d.latched is e):
                raise
            gaps.append(d.next_attempt_in_ms())
            due.append((clock.elapsed + gaps[-1], i))
    early = []  # "backoff": the wait named was wrong, must stay empty

    def refused_again(e, wait):
        gaps.append(wait)
        if e.error != "ungranted_scope":
            early.append(e)

    got, _ = _until_tokens(clock, devices, due, refused_again)
    refused = len(early)
    asks = server.token_times[n:]  # the attempts after the first refusal
    before = [t for t in asks if t < fix]
    wave = sorted(asks)[:n] if len(asks) >= n else asks  # the first retry of each device
    span = max(1000, wave[-1] - wave[0])
    per_s = max(Counter(t // 1000 for t in wave).values())
    width = span // 50 + 1
    per_bin = max(Counter((t - wave[0]) // width for t in wave).values())
    last = max(got.values()) if len(got) == n else None
    return {"devices": n, "grant_fixed_s": fixed_after_s, "longest_wait_s": LONGEST_WAIT_S,
            "all_hold_a_token_s": None if last is None else round((last - fix) / 1000),
            "attempts_while_latched": len(before),
            "attempts_per_device_day": round(len(before) / n * 86400 / fixed_after_s, 2),
            "shortest_gap_s": round(min(gaps) / 1000) if gaps else None,
            "wave_span_s": round(span / 1000), "wave_peak_per_s": per_s,
            "wave_mean_per_s": round(n * 1000 / span, 2),
            "wave_peak_ratio_1s": round(per_s * span / (n * 1000), 1),
            "wave_peak_ratio_2pct": round(per_bin * 50 / n, 2),
            "early_refusals": refused, "unfinished": n - len(got)}
