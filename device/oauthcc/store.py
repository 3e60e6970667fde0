# The only module that touches flash: a small JSON state file, written atomically and only
# when it changed (flash wears out).
import json
import os

from ._port import const


class FileStore:
    """load() -> dict or None; save(dict). A corrupt or missing file reads as None."""

    def __init__(self, path):
        self.path = path
        self._last = None

    def load(self):
        try:
            with open(self.path) as f:
                self._last = f.read()
            return json.loads(self._last)
        except (OSError, ValueError, MemoryError):
            return None

    def save(self, state):
        data = json.dumps(state)
        if data == self._last:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(data)
        os.rename(tmp, self.path)  # atomic on LittleFS and POSIX: never half a file
        self._last = data


class MemoryStore:
    """A store that forgets at reset: for tests, and as a model of the interface."""

    def __init__(self):
        self.state = None
        self.writes = 0

    def load(self):
        return self.state

    def save(self, state):
        if state != self.state:
            self.state = json.loads(json.dumps(state))
            self.writes += 1


# A TokenClient's state in a store: loaded by the client only when it was given a store,
# so a client without one never carries this code.

_DAY_MS = const(86_400_000)  # as client._DAY_MS: no ticks deadline further ahead


def _key(c):
    # which configuration a saved state belongs to; a new secret or scope starts afresh
    import hashlib

    from ._port import b64encode

    h = hashlib.sha256("\n".join((c.token_url, c.client_id, c._secret,
                                  c.scope or "")).encode())
    return b64encode(h.digest()[:12]).decode()


def save(c):
    """Save client c's state (token, refresh token, backoff, latch) to its store."""
    k = c._clock
    now = k.unix_time()
    state = {"key": _key(c), "failures": c._failures}
    if c.latched is not None:
        e = c.latched
        state["latched"] = [e.error, e.description, e.status]
    if c._next is not None and now is not None:
        state["next"] = now + max(0, k.ticks_diff(c._next, k.ticks_ms())) // 1000
    t = c._token
    if t is not None and now is not None:
        state["token"] = {"access_token": t.access_token, "token_type": t.token_type,
                          "expires_in": t.expires_in, "scope": t.scope, "extra": t.extra,
                          "exp": now + k.ticks_diff(c._expires_at, k.ticks_ms()) // 1000}
    if c._refresh is not None:
        state["refresh_token"] = c._refresh
    c._store.save(state)


def restore(c):
    """Load client c's state from its store, if it was saved for the same configuration."""
    state = c._store.load()
    if not isinstance(state, dict) or state.get("key") != _key(c):
        return
    k = c._clock
    now = k.unix_time()
    c._failures = state.get("failures", 0)
    if state.get("latched"):
        from .errors import OAuthError

        c.latched = OAuthError(*state["latched"], retryable=False)
    c._refresh = state.get("refresh_token")
    if now is None:
        return  # an unset wall clock cannot tell how old the saved token and backoff are
    if state.get("next") and state["next"] > now:
        c._next = k.ticks_add(k.ticks_ms(), min((state["next"] - now) * 1000, _DAY_MS))
    d = state.get("token")
    left = d.get("exp", 0) - now if isinstance(d, dict) else 0
    if left > 0:
        from .grant import Token

        t = Token(d["access_token"], d.get("token_type", "Bearer"), d.get("expires_in"),
                  c._refresh, d.get("scope"), d.get("extra"))
        c._accept(t, k.ticks_ms(), left * 1000)
