# Helpers for device tests: the same code runs on CPython and on the MicroPython unix port.
import json
import os
import socket
from errno import ECONNRESET, ETIMEDOUT

from oauthcc._port import MICROPYTHON
from oauthcc.errors import OAuthError
from oauthcc.transport import Transport

if MICROPYTHON:
    from io import IOBase

ORG = "Org/b1475f65-236c-58b8-96e1-e1778b43beb7"
PER = "Per/29b276b7-c0fa-4514-a5b1-c0fb4ee40fa7"
CLIENT_ID = "device-1"
CLIENT_SECRET = "s3cret"

_PERIOD = 1 << 30
_HALF = 1 << 29


class FakeClock:
    """Ticks that wrap at 2**30 ms like the ESP32, and a wall clock that may be unset.

    Starts 5 s before the wrap, so every test that waits crosses it.
    """

    def __init__(self, start=_PERIOD - 5000, wall=1767225600):
        self.t = start
        self.wall_ms = None if wall is None else wall * 1000

    def ticks_ms(self):
        return self.t

    def ticks_add(self, t, delta):
        return (t + delta) & (_PERIOD - 1)

    def ticks_diff(self, a, b):
        return ((a - b + _HALF) & (_PERIOD - 1)) - _HALF

    def unix_time(self):
        return None if self.wall_ms is None else self.wall_ms // 1000

    def advance(self, ms):
        self.t = self.ticks_add(self.t, ms)
        if self.wall_ms is not None:
            self.wall_ms += ms


def url(path=""):
    return os.getenv("STUB_URL") + path


def admin_url(path=""):
    return os.getenv("STUB_ADMIN_URL") + path


def control(path, obj=None, base=None):
    """Drive the stub server through its control endpoints; returns the JSON answer."""
    body = None if obj is None else json.dumps(obj)
    r = Transport().request("GET" if obj is None else "POST", (base or url()) + path, body,
                            {"Content-Type": "application/json"})
    if r.status >= 300:
        raise AssertionError("stub %s answered %d: %s" % (path, r.status, r.body))
    return r.json()


def reset(**config):
    return control("/_stub/reset", config)


def log():
    return control("/_stub/log")


def token_requests():
    return [e for e in log() if e["path"].endswith("token")]


def faults(*fs):
    control("/_stub/faults", {"faults": list(fs)})


def raises(exc_type, fn, *args, **kw):
    """Call fn and return the exception it raises; fail if it raises none (no pytest here)."""
    try:
        fn(*args, **kw)
    except exc_type as e:
        return e
    raise AssertionError("%s not raised" % exc_type.__name__)


def b64url_encode(data):
    from oauthcc.grant import b64encode

    if isinstance(data, str):
        data = data.encode()
    return b64encode(data).decode().rstrip("=").replace("+", "-").replace("/", "_")


def make_jwt(payload):
    return ".".join((b64url_encode('{"alg":"HS256","typ":"JWT"}'),
                     b64url_encode(json.dumps(payload)), b64url_encode("signature")))


_IDLE_FD = []  # CPython: a pipe whose write end a fake socket lends to select.poll


class Pollable(IOBase if MICROPYTHON else object):
    """What a fake socket needs for the transports' check of a kept connection before reuse
    (http.Base._prepare polls it): never readable while it idles, as a fake's bytes come only as the
    answer to a request. MicroPython polls a stream's ioctl, CPython a file descriptor."""

    def ioctl(self, req, arg):  # MicroPython: 3 is MP_STREAM_POLL, nothing ready; no fd
        return 0 if req == 3 else -1

    def fileno(self):  # CPython: a pipe's write end is never readable
        if not _IDLE_FD:
            _IDLE_FD.extend(os.pipe())
        return _IDLE_FD[1]


EPIPE = 32  # Linux; MicroPython's errno does not name it


class Script:
    """A socket module whose sockets each play one plan: (their answers, one given as each
    request is sent and read in pieces of at most 7 bytes, and what they do when a request
    finds none: "eof", "reset" on the next read, "pipe" at once, "timeout" on the next read,
    "sendtimeout" at once)."""

    SOCK_STREAM = 1

    def __init__(self, *plans):
        self.plans = list(plans)
        self.sockets = []

    def getaddrinfo(self, host, port, family=0, kind=0):
        return [(2, 1, 6, "", (host, port))]

    def socket(self, family, kind):
        s = ScriptedSocket(*self.plans.pop(0))
        self.sockets.append(s)
        return s


class ScriptedSocket(Pollable):
    def __init__(self, answers, then="eof"):
        self.answers, self.then = list(answers), then
        self.data = self.sent = b""
        self.closes = 0

    def connect(self, addr):
        pass

    def settimeout(self, t):
        pass

    def sendall(self, data):
        if not self.data:
            if self.answers:
                self.data = self.answers.pop(0)
            elif self.then == "pipe":
                raise OSError(EPIPE, "broken pipe")
            elif self.then == "sendtimeout":  # CPython's socket.timeout: no errno
                raise OSError("timed out")
        self.sent += data

    def recv(self, n):
        if not self.data:
            if self.then == "reset":
                raise OSError(ECONNRESET, "reset by peer")
            if self.then == "timeout":
                raise OSError(ETIMEDOUT, "timed out")
        out, self.data = self.data[:min(n, 7)], self.data[min(n, 7):]
        return out

    def close(self):
        self.closes += 1


class FakeSocket(Pollable):
    """Hands out the given bytes in pieces of at most `piece`, as a slow network would."""

    def __init__(self, data, piece=7):
        self.data = data
        self.piece = piece
        self.closed = False

    def recv(self, n):
        n = min(n, self.piece)
        out, self.data = self.data[:n], self.data[n:]
        return out

    def settimeout(self, t):
        pass


# -- a scripted token server and API, without sockets (the client tests of issue 13) ---------

SCRIPTED_TOKEN_URL = "http://as.example/oauth/token"
SCRIPTED_API = "http://as.example/api/v1/resource"
DAY_MS = 86_400_000
LONGEST_MS = DAY_MS + 3000  # the documented longest wait (+ a restore's rounding to seconds)
ESCAPES = (OAuthError, OSError, MemoryError)  # all that token() and request() may raise


def answer(at, expires_in=600, refresh_token=None, **extra):
    """A token endpoint's 200 Response."""
    from oauthcc.http import Response

    d = {"access_token": at, "token_type": "bearer", "expires_in": expires_in}
    if refresh_token is not None:
        d["refresh_token"] = refresh_token
    d.update(extra)
    return Response(200, {"content-type": "application/json"}, json.dumps(d).encode())


def refusal(status, code):
    """A token endpoint's JSON error Response."""
    from oauthcc.http import Response

    return Response(status, {"content-type": "application/json"},
                    ('{"error": "%s"}' % code).encode())


class Scripted:
    """A transport: answer(method, url, form body, headers) gives each Response (or raises).
    Counts what was asked."""

    def __init__(self, answer):
        self.answer = answer
        self.sent = []

    def request(self, method, url, body=None, headers=None, max_body=None):
        self.sent.append((method, url, body or "", dict(headers or {})))
        return self.answer(method, url, body or "", headers or {})

    def close(self):
        pass

    def tokens(self):
        return [s for s in self.sent if s[1] == SCRIPTED_TOKEN_URL]

    def grants(self):
        return [s[2].split("&")[0][len("grant_type="):] for s in self.tokens()]


def scripted_client(server, clock, secret=CLIENT_SECRET, store=None, **kw):
    """A TokenClient of id "dev-1" and scope "read" over a Scripted server; jitter: half."""
    from oauthcc import TokenClient

    return TokenClient(SCRIPTED_TOKEN_URL, "dev-1", secret, "read", api_origins=[SCRIPTED_API],
                       transport=server, clock=clock, store=store, rand=lambda n: n // 2, **kw)


def until_token(c, clock, most_ms=3 * DAY_MS, most_tries=200):
    """Wait what the client says and ask again, up to most_ms of fake time and most_tries
    attempts: (the Token or None, ms waited)."""
    waited = 0
    for _ in range(most_tries):
        try:
            return c.token(), waited
        except ESCAPES:
            pass
        w = max(c.next_attempt_in_ms(), 1000)
        if waited + w > most_ms:
            break
        clock.advance(w)
        waited += w
    return None, waited


class OnePool:
    """The socket module, keeping every socket it opens; `two` counts the sockets opened
    while another of them was still open (plain sockets: CPython's TLS detaches them)."""

    def __init__(self):
        self.SOCK_STREAM = socket.SOCK_STREAM
        self.opened = []
        self.two = 0

    def getaddrinfo(self, *a):
        return socket.getaddrinfo(*a)

    def socket(self, *a):
        if self.still_open():
            self.two += 1
        s = socket.socket(*a)
        self.opened.append(s)
        return s

    def still_open(self):
        return [s for s in self.opened if s.fileno() != -1]
