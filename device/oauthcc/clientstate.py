# ClientCore's persistence half: its state as a JSON-able dict and back, behind
# ClientCore.state() and restore(). Kept apart so that a client without a store never loads
# it; the one module besides client.py that reads and writes ClientCore's fields.
from ._port import DAY_MS, b64encode
from .errors import OAuthError
from .grant import Token

# The fields, all optional but "key":
#   key            which configuration the state belongs to (a new secret or scope: afresh)
#   failures       failed attempts in a row (the backoff's exponent)
#   latched        [error, description, status] of the permanent error
#   next           Unix seconds before which no attempt is made
#   token          the access token's fields, "exp" its end in Unix seconds
#   refresh_token
#   auth           the client authentication auth="auto" found ("basic", "raw", "post"), so
#                  a fetch after a boot sends one request; a state of another client id,
#                  secret or token URL is not taken, so a new secret looks again
# Times are Unix seconds, as the ticks restart at boot; they are left out while the wall
# clock is unset, and not trusted on restore until it is set.


def state(c):
    k = c._clock
    now = k.unix_time()
    s = {"key": _key(c), "failures": c._failures}
    e = c.latched
    if e is not None:
        s["latched"] = [e.error, e.description, e.status]
    if now is not None:
        if c._next is not None:
            s["next"] = now + max(0, k.ticks_diff(c._next, k.ticks_ms())) // 1000
        t = c._token
        if t is not None:
            s["token"] = {"access_token": t.access_token, "token_type": t.token_type,
                          "expires_in": t.expires_in, "scope": t.scope, "extra": t.extra,
                          "exp": now + k.ticks_diff(c._expires_at, k.ticks_ms()) // 1000}
    if c._refresh is not None:
        s["refresh_token"] = c._refresh
    if c._method is not None:
        s["auth"] = c._method
    return s


def restore(c, s):
    if not isinstance(s, dict) or s.get("key") != _key(c):
        return
    k = c._clock
    now = k.unix_time()
    c._failures = s.get("failures", 0)
    if s.get("latched"):
        c.latched = OAuthError(*s["latched"], retryable=False)
    c._refresh = s.get("refresh_token")
    if s.get("auth") in c._tries:  # only a method this configuration may use
        c._method = s["auth"]
    if now is None:
        return  # an unset wall clock cannot tell how old the saved token and backoff are
    if s.get("next") and s["next"] > now:
        c._next = k.ticks_add(k.ticks_ms(), min((s["next"] - now) * 1000, DAY_MS))
    d = s.get("token")
    left = d.get("exp", 0) - now if isinstance(d, dict) else 0
    if left > 0:
        t = Token(d["access_token"], d.get("token_type", "Bearer"), d.get("expires_in"),
                  c._refresh, d.get("scope"), d.get("extra"))
        c._accept(t, k.ticks_ms(), left * 1000)


def _key(c):
    import hashlib

    h = hashlib.sha256("\n".join((c.token_url, c.client_id, c._secret,
                                  c.scope or "")).encode())
    return b64encode(h.digest()[:12]).decode()
