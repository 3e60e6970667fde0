# ClientCore's persistence half: its state as a JSON-able dict and back, behind
# ClientCore.state() and restore(), and the best-effort load and save of a client with a
# store. Kept apart so that a client without a store never loads it. ClientCore's fields are
# written by client.py and the modules it loads for a moment: configure.py, answer.py,
# clientauth.py, backoff.py and this one.
from ._port import DAY_MS, b2a_base64, const
from .answer import accept, vschar
from .errors import OAuthError, Token

_VERSION = const(1)
_MAX_FAILURES = const(1_000_000)
_MAX_NESTING = const(8)  # a token whose extra fields nest deeper is not restored

# The fields. A state of another format version ("v") or another configuration ("key") is
# ignored whole; a field of the wrong type or range is dropped alone. Either way the next save
# writes the state clean.
#   v              _VERSION
#   key            the configuration's fingerprint (_key): a new one starts afresh
#   failures       failed attempts in a row (the exponent of the backoff)
#   latches        the permanent errors among them (the exponent of the long wait)
#   latched        [error, description, status] of the permanent error of the last attempt
#   at             Unix seconds when the state was saved (beside "next" or "token")
#   next           Unix seconds before which no attempt is made
#   token          the access token's fields, "exp" its end in Unix seconds, "refused"
#                  true when the API refused it after a forced renewal (the 401 rule:
#                  backoff.unauthorized), so that rule holds across deep sleep
#   refresh_token
#   auth           the client authentication auth="auto" found ("basic", "raw", "post"), so
#                  a fetch after a boot sends one request; a state of another client id,
#                  secret or token URL is not taken, so a new secret looks again
# Times are Unix seconds, as the ticks restart at boot; they are left out while the wall
# clock is unset, and not trusted on restore until it is set. A clock that reads earlier than
# "at" was set back (NTP after a skewed Date, a deploy in local time): it cannot tell how much
# time passed, so the token is dropped (one request) and each wait restored as it was left at
# the save, never longer. Rounded so that a restored wait is never shorter and a restored
# token never longer than the saved one.


def state(c):
    k = c._clock
    now = k.unix_time()
    s = {"v": _VERSION, "key": _key(c), "failures": c._failures}
    e = c.latched
    if e is not None:
        s["latched"] = [e.error, e.description, e.status]
    if c._failures:
        s["latches"] = getattr(c, "_latches", 0)
    if now is not None:
        tk = c._now()  # drops what has passed: the deadlines below are within a day
        left = k.ticks_diff(c._next, tk) if c._next is not None else 0
        if left > 0:
            s["next"] = now + (left + 999) // 1000 + 1  # + 1: the second unix_time() drops
        t = c._token
        left = k.ticks_diff(c._expires_at, tk) // 1000 if t is not None else 0
        if left > 0:
            s["token"] = {"access_token": t.access_token, "token_type": t.token_type,
                          "expires_in": t.expires_in, "scope": t.scope, "extra": t.extra,
                          "exp": now + left}
            if c._refused is t:
                s["token"]["refused"] = True
        if "next" in s or "token" in s:
            s["at"] = now  # beside a time: restore tells a clock set back since (see above)
    if c._refresh is not None:
        s["refresh_token"] = c._refresh
    if c._method is not None:
        s["auth"] = c._method
    return s


def restore(c, s):
    if not isinstance(s, dict) or _int(s.get("v")) != _VERSION or s.get("key") != _key(c):
        return
    k = c._clock
    now = k.unix_time()
    c._failures = _int(s.get("failures"), _MAX_FAILURES) or 0
    c._latches = min(_int(s.get("latches"), _MAX_FAILURES) or 0, c._failures)
    c.latched = _latched(s.get("latched"))
    rt = s.get("refresh_token")
    c._refresh = rt if vschar(rt) else None  # as at receipt (answer.parse)
    if s.get("auth") in c._tries:  # only a method this configuration may use
        c._method = s["auth"]
    if now is None:
        return  # an unset wall clock cannot tell how old the saved token and wait are
    d = s.get("token")
    at = _int(s.get("at"))
    if at is not None and now < at:  # set back since the save: no token, and the waits as
        now = at  # they were left then
        d = None
    n = _int(s.get("next"))
    if n is not None and n > now:
        c._next = k.ticks_add(c._now(), min((n - now) * 1000, DAY_MS))
    if isinstance(d, dict):
        exp = _int(d.get("exp"))
        left = exp - now - 1 if exp is not None else 0  # - 1: the second unix_time() drops
        t = _token(d, c._refresh)
        if t is not None and left > 0:
            accept(c, t, c._now(), min(left, DAY_MS // 1000) * 1000)
            if d.get("refused") is True:
                c._refused = t


def load(c):
    """The constructor's restore from c._store: whatever the store raises or holds, the client
    starts (afresh, when it is junk)."""
    try:
        restore(c, c._store.load())
    except Exception as e:  # a store of the application's: its bug must not stop the client
        c._say("state not loaded (%s)" % _why(e))


def save(c):
    """Best effort: a store that cannot write (flash full, a read-only file system, a
    directory where its file goes, MemoryError, anything) costs this save, never the token
    just received or the call; the next change is saved again."""
    try:
        c._store.save(state(c))
    except Exception as e:
        c._say("state not saved (%s)" % _why(e))


def _why(e):
    # the type and errno only: a store's message could quote what it was given
    n = e.args[0] if isinstance(e, OSError) and e.args else None
    return type(e).__name__ + (" %d" % n if isinstance(n, int) else "")


def _int(v, most=1 << 40):
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= most else None


def _text(v):
    return v if isinstance(v, str) and v else None


def _latched(v):
    if isinstance(v, list) and len(v) == 3:
        err, desc, status = v
        if _text(err) and (desc is None or isinstance(desc, str)) and (
                status is None or _int(status, 999)):
            e = OAuthError(err, desc, status, retryable=False)
            if e.permanent:
                return e
    return None


def _token(d, rt):
    at = d.get("access_token")
    ex = d.get("extra")
    if not (_b64token(at) and isinstance(ex, dict) and _nests(ex, _MAX_NESTING)):
        return None
    sc = d.get("scope")
    return Token(at, "Bearer", _int(d.get("expires_in")), rt, sc if _text(sc) else None, ex)


def _b64token(s):
    # RFC 6750 b64token: what the server may give, and all that may go into a header
    if not _text(s):
        return False
    b = s.rstrip("=")
    for ch in b:
        if not ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch in "-._~+/"):
            return False
    return bool(b)


def _nests(v, depth):
    # True when v holds no more than `depth` levels of lists and dicts
    if isinstance(v, dict):
        v = list(v.values())
    if isinstance(v, list):
        if not depth:
            return False
        for x in v:
            if not _nests(x, depth - 1):
                return False
    return True


def _key(c):
    """The configuration's fingerprint: every setting that a fix of a permanent error could
    change, the auth methods as configured (not the one found). The CA and a client
    certificate by their bytes, so that a new ca.pem at the same path counts; hashed once, at
    the first restore or save."""
    k = getattr(c, "_fp", None)
    if k is None:
        import hashlib

        t = c._transport
        p = c.params
        p = sorted("%s=%s" % (n, v) for n, v in (p.items() if isinstance(p, dict) else p or ()))
        h = hashlib.sha256()
        for v in (c.token_url, c.client_id, c._secret, c.scope, c._tries,
                  getattr(t, "verify", True), p):
            h.update(("%r\n" % (v,)).encode())
        # the bytes of each trust or identity file (the client certificate and key: their
        # digest, which clientcert.attach keeps)
        for v in (getattr(t, "ca", None), getattr(t, "client_cert_digest", None)):
            v = _bytes(v)
            h.update(("%d\n" % len(v)).encode())
            h.update(v)
        k = c._fp = b2a_base64(h.digest()[:12])[:-1].decode()  # no newline
    return k


def _bytes(v):
    """The bytes of a CA given as bytes, PEM text or a file path (b"" when none or unread)."""
    if isinstance(v, str) and not v.startswith("-----BEGIN"):
        try:
            with open(v, "rb") as f:
                return f.read()
        except OSError:
            return b""
    if isinstance(v, str):
        return v.encode()
    return bytes(v) if isinstance(v, (bytes, bytearray)) else b""
