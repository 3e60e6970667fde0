# The rare paths of what a server or the network sends, loaded only when one is taken (a
# plain fetch never is): the error of an answer that brings no token, server text made fit
# for a log line, the nesting of an answer with many brackets, a network error naming its
# peer, the error of a timeout, whether a request that failed on a kept connection may go
# once more.
from errno import ETIMEDOUT

from ._port import const, ticks_diff, ticks_ms
from .errors import OAuthError

MAX_TEXT = const(200)  # bytes of server text kept in an error or a log line
# a kept connection that fails sooner after the send was closed by the server before it read
# the request (a round trip): retried; one that fails later was read, and is not
_AT_ONCE_MS = const(300)


def failure(status, headers, data, deep, now):
    """The OAuthError of a token answer that brings no token (grant.parse): data is its JSON
    object or None, deep is True when it nested too deep to be read."""
    why = "JSON nested too deep" if deep else None
    if not isinstance(data, dict):
        data = None
    if data is None and status // 100 == 2:
        return OAuthError("invalid_response", why or "token response is not a JSON object",
                          status)
    from .httpdate import retry_after

    err = data.get("error") if data else None
    desc = data.get("error_description") if data else None
    if not isinstance(err, str) or not err:
        err = "http_%d" % status if status >= 300 else "invalid_response"
    return OAuthError(text(err), text(desc) if isinstance(desc, str) else why, status,
                      retry_after(headers, now))


def text(s):
    """Server text fit for a log line: at most MAX_TEXT bytes of UTF-8 (then "..."), each
    control character (C0, DEL, C1: CR, LF, ESC, ...) as "?"."""
    # bytes, not characters: iterating a str makes each character a qstr, for good; and
    # "replace": a lone surrogate (CPython) cannot be encoded, nor printed
    b = bytearray(s.encode("utf-8", "replace"))
    more = len(b) > MAX_TEXT
    if more:
        n = MAX_TEXT
        while n and b[n] & 0xC0 == 0x80:  # cut before a character, not inside it
            n -= 1
        b = b[:n]
    c1 = False
    for i in range(len(b)):
        c = b[i]
        if c < 32 or c == 127 or c1:
            b[i] = 63
        c1 = c == 0xC2 and i + 1 < len(b) and 0x80 <= b[i + 1] < 0xA0  # U+0080-U+009F
        if c1:
            b[i] = 63
    return b.decode() + ("..." if more else "")


def deeper(body, limit):
    """True when [ and { nest deeper than limit in the JSON bytes body (strings skipped)."""
    d = 0
    s = esc = False
    for c in body:
        if s:
            if esc:
                esc = False
            elif c == 92:  # backslash
                esc = True
            elif c == 34:  # quote
                s = False
        elif c == 34:
            s = True
        elif c == 91 or c == 123:  # [ {
            d += 1
            if d > limit:
                return True
        elif (c == 93 or c == 125) and d:  # ] } (a stray one lowers no later count)
            d -= 1
    return False


def named(e, host, port):
    """The OSError e again, of its type, its text naming the peer; an errno stays args[0]."""
    s = str(e)
    if s.startswith("[Errno "):  # "[Errno 111] ECONNREFUSED": the number is kept apart
        s = s[s.find("]") + 2 :]
    s = "%s (%s:%d)" % (s, host, port)
    a = e.args
    a = (a[0], s) if a and isinstance(a[0], int) else (s,)
    try:
        return type(e)(*a)  # CPython: an ssl.SSLError (its args[0] is no errno) stays one
    except Exception:
        return OSError(*a)


def timeout(late):
    """The OSError of a wait that timed out; late: the deadline had cut the wait short, so it
    is the deadline that passed."""
    return OSError(ETIMEDOUT, "request deadline passed" if late else "timed out")


def again(e, kept, got, start):
    """True when a request that failed with the OSError e may go once more on a fresh
    connection: it was sent on a kept one (kept) that failed at once (start: ticks when it was
    sent), before any byte of an answer (got: the Reader), by no timeout (see http.Base)."""
    return (kept and not (got and got.buf) and not (e.args and e.args[0] == ETIMEDOUT)
            and ticks_diff(ticks_ms(), start) < _AT_ONCE_MS)
