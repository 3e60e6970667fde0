# AsyncTokenClient: the asyncio shell around ClientCore, for applications built on asyncio.
import asyncio

from .aiotransport import AsyncTransport
from .client import ClientCore
from .errors import OAuthError


class AsyncTokenClient(ClientCore):
    """TokenClient for asyncio: the same options, decisions and attributes (next_attempt_in_ms,
    reset, invalidate, last_error, latched), with `await token()` and `await request(...)`.

    One renewal at a time: tasks that need a token while one is being fetched wait for that
    fetch instead of sending their own. A cancelled call changes nothing (no backoff, no half
    stored token) and leaves no socket open. Use one client per event loop.
    """

    _Transport = AsyncTransport

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._lock = asyncio.Lock()

    async def token(self):
        """A valid Token: the cached one, or a new one from the server (see TokenClient)."""
        now = self._now()
        t = self._cached(now, self._renew_at)
        if t is None and self._lock.locked():
            # still valid: serve it while another task renews it
            t = self._cached(now, self._expires_at)
        if t is not None:
            return t
        async with self._lock:  # one renewal in flight; the others wait here for it
            now = self._now()
            return self._cached(now, self._renew_at) or await self._drive(self._renewal(now))

    async def _drive(self, steps):
        # TokenClient._drive, awaiting the transport. A cancellation is not thrown into the
        # steps: the renewal is dropped where it stood, before it changed anything.
        r = err = None
        while True:
            try:
                req = steps.throw(err) if err is not None else steps.send(r)
            except StopIteration as e:
                return e.value
            r = err = None
            self._hook()  # its exception escapes as it is (see ClientCore.on_request)
            try:
                r = await self._transport.request(*req)
            except (OAuthError, OSError, MemoryError) as e:
                err = e

    async def request(self, method, url, body=None, headers=None):
        """Call an API with the bearer token (see TokenClient.request: one 401 renewal, the
        token only sent to the configured origins)."""
        body, h = self._api_prepare(url, body, headers)
        for attempt in (0, 1):
            t = await self.token()
            h["Authorization"] = "Bearer " + t.access_token
            self._hook()
            r = await self._transport.request(method, url, body, h)
            if r.status != 401 and self._refused is not t:
                return r  # no 401 rule to apply (see TokenClient.request)
            if not self._unauthorized(r, t, attempt):
                return r


def from_profile(profile, client_id, client_secret, scope=None, base_url=None, **kw):
    """oauthcc.from_profile for an AsyncTokenClient."""
    from .profiles import from_profile

    return from_profile(profile, client_id, client_secret, scope, base_url,
                        cls=AsyncTokenClient, **kw)
