# TokenClient: the token cache, expiry, renewal, fallback, backoff and the bearer API call.
# ClientCore holds every decision and no I/O; TokenClient (here) and aio.AsyncTokenClient are
# the two thin shells that carry its requests over a blocking or an asyncio transport.
from . import _port
from .errors import OAuthError
from .http import origin

# A renewal's code serves the renewal only: grant (the request, with the encoders) is loaded
# to build each token request and let go before it is sent, answer (the parse, the accept)
# is loaded once the answer has arrived and let go after the renewal, so that neither is in
# the heap while the answer is read, the renewal's tightest moment, nor in a cached-token
# call's (make bench). Token lives in errors.py, or every cached token would hold their
# code. With them go the modules a renewal may load: scopes, clientstate (a store's) and
# clientauth (a refusal's), which hold their code too, and configure (the construction's).
# _RENEWAL: what every renewal loads (bench: the .mpy of a fetch).
_RENEWAL = ("grant", "answer")
_AFTER = _RENEWAL + ("scopes", "clientstate", "clientauth", "configure")


def _collect():
    if _port.MICROPYTHON:  # CPython needs no help, and a full collection there costs ms
        import gc

        gc.collect()


class ClientCore:
    """The token cache and every decision about it, without I/O (shared by both shells).

    The renewal is a generator (_renewal) that yields each token request as
    (method, url, body, headers), is sent the Response (or thrown the transport's error) and
    returns the Token; a shell only carries the requests (see TokenClient._drive).
    """

    _Transport = None  # the shell's default transport class (None: transport.Transport)
    # called with no arguments before each request sent (a watchdog's feed): the caller's
    # hook, not part of the request, so its exception propagates as it is and changes nothing
    on_request = None

    def __init__(self, token_url, client_id, client_secret, scope=None, **options):
        # the options (docs/library.md: an unknown one is a TypeError), checked and kept by
        # configure.py, which only the construction needs: let go after it, with what the
        # saved state's load took (_AFTER)
        from .configure import configure

        try:
            configure(self, token_url, client_id, client_secret, scope, **options)
        finally:
            _port.release(_AFTER)

    def __repr__(self):  # no secret, no token
        return "<%s %s client_id=%r>" % (type(self).__name__, self.token_url, self.client_id)

    def _say(self, msg):
        if self._log:
            self._log(msg)

    # -- the cache ---------------------------------------------------------------------------

    def _now(self):
        """ticks_ms(), for every read of the deadlines: first it drops those that have passed,
        so that no later wrap can bring them back (ticks_diff is right within 2**29 ms, 6.2
        days). No deadline lies more than a day ahead of the call that set it, so after a
        pause of more than a day, told by the ticks (a wrap makes it negative) or by the wall
        clock once set (13 days look like 13 hours to the ticks), all of them have passed."""
        c = self._clock
        now = c.ticks_ms()
        w = c.unix_time()
        s = self._seen_wall
        gap = c.ticks_diff(now, self._seen)
        gap = gap < 0 or gap > _port.DAY_MS or (w and s and w - s > _port.DAY_MS // 1000)
        if gap or self._token is not None and c.ticks_diff(self._expires_at, now) <= 0:
            self._token = None
        if gap or self._next is not None and c.ticks_diff(self._next, now) <= 0:
            self._next = None
        self._seen = now
        self._seen_wall = w
        return now

    def _cached(self, now, until):
        """The cached token while now is before until, else None: until _renew_at, while it
        needs no renewal; until _expires_at, while it is within its lifetime (the leeway may
        have passed)."""
        t = self._token
        if t is not None and self._clock.ticks_diff(until, now) > 0:
            return t
        return None

    def _renewal(self, now):
        # While renewal fails, a token still within its lifetime keeps being served.
        t = self._cached(now, self._expires_at)
        try:
            wait = self._wait(now)
            if wait:
                if self.latched is not None:  # the permanent error again, without traffic
                    raise self.latched
                raise OAuthError("backoff", "next attempt in %d ms after: %s"
                                 % (wait, self.last_error),
                                 retry_after=(wait + 999) // 1000, retryable=True)
            return (yield from self._obtain())
        except (OAuthError, OSError, MemoryError) as e:
            if t is not None and self._token is t:
                self._say("renewal failed, token still valid: %s" % e)
                return t
            raise
        finally:
            _port.release(_AFTER)

    def _obtain(self):
        # the refresh grant while it holds a refresh token, else the client-credentials
        # grant; yields each request, returns the Token, accepted. A failure goes to
        # backoff.failed before it is raised. grant and answer: see _RENEWAL
        k = self._clock
        rt = self._refresh
        try:
            while True:  # one pass a grant: the refresh grant's refusal falls to the next pass
                try:
                    m = self._method or self._tries[0]
                    gt = "client_credentials" if rt is None else "refresh_token"
                    if m == "jwt":
                        from . import assertion  # client_secret_jwt: the secret stays here

                        body, headers = assertion.build(self, gt, rt)
                    else:
                        _collect()  # grant's code lands low, not between garbage (make bench)
                        from .grant import build

                        body, headers = build(self.client_id, self._secret, gt, self.scope, rt,
                                              self.params, m)
                        build = None  # its code is garbage once released: not held while the
                        _port.release(("grant",))  # answer is read
                    start = k.ticks_ms()
                    r = yield "POST", self.token_url, body, headers
                    body = headers = None
                    _collect()  # answer's code lands low, in what the request left
                    from . import answer

                    try:
                        t = answer.parse(r.status, r.headers, r.body, k.unix_time())
                    except OAuthError as e:
                        from .clientauth import search  # a refusal: auto's other methods

                        t = yield from search(self, e, rt)
                    break
                except (OAuthError, OSError, MemoryError) as e:
                    if rt is None:
                        raise
                    from .backoff import refresh_failed  # a failure's code: loaded by one

                    if not refresh_failed(self, e):
                        raise
                    rt = None
        except (OAuthError, OSError, MemoryError) as e:
            # the backoff, or a permanent error's long wait: in backoff.py, loaded at the
            # first failure, so that a plain fetch never carries it
            from .backoff import failed

            failed(self, e)
            raise
        if t.refresh_token is None:
            # the server keeps the old refresh token valid (None after a refused refresh)
            t.refresh_token = self._refresh
        if t.expires_in is None:
            from . import jwt

            try:
                t.expires_in = jwt.lifetime(jwt.claims(t.access_token))
            except ValueError:
                pass
            t.expires_in = t.expires_in or self.default_expires_in
        # 10 s to a day, whatever the server says: 0 would mean a request per call, more than
        # a day (DAY_MS) a deadline beyond what the ticks can hold (docs/security.md). The
        # minimum counts from the answer: a server slower than 10 s would be one per call too
        if t.expires_in < 10:
            start = k.ticks_ms()
        t.expires_in = min(max(t.expires_in, 10), 86400)
        g = t.scope
        if g is None:
            t.scope = self.scope  # RFC 6749 5.1: no scope in the answer, the one asked for
        # the scope answered as asked, without bearer prefixes (Org/, Per/): no need to load
        # scopes ("/" is in the firmware's strings, "Org/" would be one more on the heap)
        elif g != self.scope or "/" in g:
            from .scopes import differs

            if differs(self.scope, g):
                self._say("granted scope %.200r differs from requested" % g)  # repr: no CR
        answer.accept(self, t, start, t.expires_in * 1000)
        self._failures = 0
        self._next = None
        self.latched = self.last_error = None
        self._save()
        return t

    def invalidate(self):
        """Forget the access token (the refresh token is kept for the renewal)."""
        self._token = None

    def close(self):
        """Close the connection the transport keeps between requests (HTTP/1.1 keep-alive:
        the token request, the API calls after it), if any. Call it before sleeping: a socket
        held through a sleep is one the board lacks, and the server drops it anyway. The
        client stays usable; the next request connects anew. Not a coroutine, in both
        shells: it waits for nothing."""
        close = getattr(self._transport, "close", None)  # a transport may keep nothing
        if close is not None:
            close()

    def reset(self):
        """Clear the latch and the backoff at once (a new configuration does so by itself)."""
        self.latched = None
        self._failures = 0
        self._next = None
        self._save()

    def next_attempt_in_ms(self):
        """0 when a network attempt is allowed now, else ms to wait: after a permanent error
        too (its long wait, 30 min to a day; `latched` is then that error). Never None."""
        return self._wait(self._now())

    def _wait(self, now):
        n = self._next
        return 0 if n is None else max(0, self._clock.ticks_diff(n, now))

    # -- persistence (optional): a store sees only state() and restore(). Their code is in
    # clientstate.py, loaded only by a client that has a store: a fetch never carries it.

    def state(self):
        """What survives a reboot, as a JSON-able dict (its fields: see clientstate.py)."""
        from .clientstate import state

        return state(self)

    def restore(self, state):
        """Take back a state() saved for this configuration; anything else changes nothing."""
        from .clientstate import restore

        restore(self, state)

    def _save(self):
        if self._store is not None:
            _collect()  # clientstate's code lands low, not between garbage (make bench)
            from .clientstate import save

            save(self)  # best effort: a failed save is logged, the token in RAM stays

    # -- the API call ------------------------------------------------------------------------

    def _api_prepare(self, url, body, headers):
        """(body, headers) of an API call; ValueError for an origin the token must not see."""
        if origin(url) not in self._origins:
            raise ValueError("bearer token not sent to %s: not in api_origins" % origin(url))
        h = {"Accept": "application/json"}
        if isinstance(body, (dict, list)):
            import json

            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        return body, h

    _refused = None  # the renewed token the API refused too (see backoff.unauthorized)

    def _unauthorized(self, r, t, attempt):
        # the 401 rule (backoff.unauthorized), let go before the renewal it may ask for: that
        # renewal's heap does not hold its code (make bench: 401 + refresh)
        from .backoff import unauthorized

        try:
            return unauthorized(self, r, t, attempt)
        finally:
            _port.release(("backoff",))

    def _hook(self):
        # before every request of both shells, token and API alike, so a blocking app feeds
        # its watchdog between the requests of one call. Outside the renewal's failure
        # accounting (_drive): a feed that raises is the caller's failure, not the server's,
        # so no backoff, no last_error, no dropped token
        f = self.on_request
        if f is not None:
            f()


class TokenClient(ClientCore):
    """An OAuth 2.0 client-credentials client for one token endpoint (blocking).

    The library never sleeps: after a failure it refuses further attempts until
    next_attempt_in_ms() is 0 (raising OAuthError("backoff") without network traffic). After
    a permanent error (a 4xx invalid_client, invalid_scope, ..., or tls_verification_failed)
    that wait is long (30 min to a day) and the same error is raised again meanwhile; a new
    configuration or reset() ends it at once.
    """

    def token(self):
        """A valid Token: the cached one, or a new one from the server.

        Raises OAuthError or OSError when none can be had. While renewal fails, a token that
        is still within its lifetime (only the leeway has passed) keeps being served.
        """
        now = self._now()
        return self._cached(now, self._renew_at) or self._drive(self._renewal(now))

    def _drive(self, steps):
        # carry each request of the renewal, hand back its answer or its failure
        r = err = None
        while True:
            try:
                req = steps.throw(err) if err is not None else steps.send(r)
            except StopIteration as e:
                return e.value
            r = err = None
            self._hook()
            try:
                r = self._transport.request(*req)
            except (OAuthError, OSError, MemoryError) as e:
                err = e

    def request(self, method, url, body=None, headers=None):
        """Call an API with the bearer token. A 401 answer gets one forced renewal and one
        retry, none while the token it renewed to was refused too (backoff.unauthorized). The
        token is only sent to the token URL's origin and api_origins."""
        body, h = self._api_prepare(url, body, headers)
        for attempt in (0, 1):
            t = self.token()
            h["Authorization"] = "Bearer " + t.access_token
            self._hook()
            r = self._transport.request(method, url, body, h)
            if r.status != 401 and self._refused is not t:
                return r  # no 401 rule to apply: its code is loaded only when there is
            if not self._unauthorized(r, t, attempt):
                return r
