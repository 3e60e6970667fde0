# ClientCore.__init__'s work: the options checked and kept, the transport made, the saved
# state loaded. It runs once, so it lives here, loaded for the construction and let go after
# it (client.py): the renewal's peak does not carry its code, names and defaults.
from . import _port
from .http import origin

# auth="auto": Basic with RFC 6749 2.3.1 encoding, Basic raw, the form body, in this order;
# the profiles that pin Basic try its two encodings, wicked the body only (see clientauth.py)
_AUTO = ("basic", "raw", "post")


def configure(c, token_url, client_id, client_secret, scope=None, *, auth="auto",
              scope_separator=" ", params=None, ca=None, verify=True, leeway=30,
              default_expires_in=600, basic_encode=None, api_origins=(), timeout=10,
              deadline=30, backoff_base=2, backoff_cap=900, transport=None, clock=None,
              store=None, log=None, rand=None, client_cert=None, client_key=None):
    """ClientCore(token_url, client_id, client_secret, scope=None, **options) on c (see
    docs/library.md; an unknown option is a TypeError, as the call of this function)."""
    tries = _AUTO if auth == "auto" else auth
    if (tries not in (_AUTO, ("basic", "raw"), ("post",)) or basic_encode is not None
            or not isinstance(client_secret, str) or not client_secret
            or not isinstance(client_id, str) or not client_id):
        from .clientauth import methods  # a pinned method, a list, no secret: checked there

        tries = methods(auth, basic_encode, client_id, client_secret, client_cert or transport)
    c._tries = tries  # the methods to try, in order
    c._method = None  # the one the search found (None: the first of _tries)
    c.token_url = token_url
    c.client_id = client_id
    c._secret = client_secret
    if scope is not None and not isinstance(scope, str):
        scope = scope_separator.join(scope)
    c.scope = scope or None
    c.params = params
    c.leeway_ms = int(leeway * 1000)
    c.default_expires_in = default_expires_in
    c.backoff_base_ms = int(backoff_base * 1000)
    c.backoff_cap_ms = int(backoff_cap * 1000)
    c._origins = [origin(token_url)] + [origin(u) for u in api_origins]
    c._clock = clock or _port
    if transport is None:
        T = c._Transport
        if T is None:  # imported only here: the asyncio client never loads it
            import gc

            gc.collect()  # the module's code lands low, not between garbage (make bench)
            from .transport import Transport as T
        # the transport asks the same clock whether certificate dates can be checked; it
        # keeps its connection for the next request (close() ends it)
        transport = T(ca, verify, timeout, deadline, clock=c._clock, keepalive=True)
        if client_cert or client_key:
            from .clientcert import attach  # mutual TLS: into the transport's context

            attach(transport, client_cert, client_key)
    c._transport = transport
    c._store = store
    c._log = log
    c._rand = rand  # None: backoff's default
    c._token = None
    c._refresh = None
    c._renew_at = 0
    c._expires_at = 0
    c._failures = 0
    c._next = None  # ticks before which no attempt is made, or None
    c.latched = None  # the permanent OAuthError of the last attempt, while it waits
    c.last_error = None
    c._seen = c._clock.ticks_ms()  # the last call, on both clocks (see ClientCore._now)
    c._seen_wall = c._clock.unix_time()
    if store is not None:
        from .clientstate import load

        load(c)  # best effort: a store that fails or holds junk changes nothing
