# Helpers for device tests: the same code runs on CPython and on the MicroPython unix port.
import json
import os

from oauthcc.transport import Transport

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
    from oauthcc._port import b64encode

    if isinstance(data, str):
        data = data.encode()
    return b64encode(data).decode().rstrip("=").replace("+", "-").replace("/", "_")


def make_jwt(payload):
    return ".".join((b64url_encode('{"alg":"HS256","typ":"JWT"}'),
                     b64url_encode(json.dumps(payload)), b64url_encode("signature")))


class FakeSocket:
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
