# The only module that touches sockets and TLS: one HTTP/1.1 request per connection.
import socket

from . import _port
from ._port import MICROPYTHON, const, ticks_add, ticks_diff, ticks_ms
from .errors import OAuthError

_CHUNK = const(512)  # bytes per socket read: small, fixed
_MAX_LINE = const(2048)  # longest status or header line accepted
_MAX_HEADERS = const(64)
_ETIMEDOUT = const(110)
_ECONNABORTED = const(103)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # names in lower case
        self.body = body

    def json(self):
        import json

        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode()

    def __repr__(self):
        return "<Response %d, %d bytes>" % (self.status, len(self.body))


def split_url(url):
    """(scheme, host, port, path) of an http(s) URL. ValueError otherwise."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise ValueError("URL must start with http:// or https://")
    i = rest.find("/")
    hostport, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    if "@" in hostport:
        raise ValueError("credentials in URL are not supported")
    host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    if not host:
        raise ValueError("URL has no host")
    port = int(port) if port else (443 if scheme == "https" else 80)
    return scheme, host, port, path


def origin(url):
    scheme, host, port, _ = split_url(url)
    return "%s://%s:%d" % (scheme, host.lower(), port)


def _within(settimeout, timeout, deadline, fn, arg):
    # fn(arg) under the per-read timeout, shortened to what is left of the deadline
    left = ticks_diff(deadline, ticks_ms())
    if left <= 0:
        raise OSError(_ETIMEDOUT, "request deadline passed")
    settimeout(min(timeout, left) / 1000)
    try:
        return fn(arg)
    except OSError as e:
        # a timeout that the deadline had shortened is the deadline passing: say so
        # (11: EAGAIN, what SO_RCVTIMEO gives on the unix port; CPython: "timed out")
        if left < timeout and (e.args and e.args[0] in (_ETIMEDOUT, 11) or "timed out" in str(e)):
            raise OSError(_ETIMEDOUT, "request deadline passed")
        raise


class _Reader:
    """Buffered reads from a socket under a per-read timeout and one total deadline."""

    def __init__(self, sock, raw, timeout_ms, deadline):
        self.recv = getattr(sock, "recv", None) or sock.read
        # CPython's TLS socket detaches the raw one (set its timeout); MicroPython's has no
        # settimeout and reads through the raw socket (set that one's)
        self.settimeout = getattr(sock, "settimeout", None) or raw.settimeout
        self.timeout_ms = timeout_ms
        self.deadline = deadline
        self.buf = b""

    def fill(self):
        data = _within(self.settimeout, self.timeout_ms, self.deadline, self.recv, _CHUNK)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1 :]
                return line.rstrip(b"\r")
            if len(self.buf) > _MAX_LINE:
                raise OAuthError("invalid_response", "HTTP line too long")
            if not self.fill():
                raise OSError(_ECONNABORTED, "connection closed")

    def read(self, n):
        while len(self.buf) < n:
            if not self.fill():
                raise OSError(_ECONNABORTED, "connection closed before the body ended")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_to_eof(self, limit):
        while self.fill():
            if len(self.buf) > limit:
                raise OAuthError("response_too_large", "over %d bytes" % limit)
        data, self.buf = self.buf, b""
        return data


def read_response(r, method, max_body):
    """Parse status line, headers and body from a _Reader-like object."""
    line = r.readline()
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3:
        raise OAuthError("invalid_response", "bad status line")
    try:
        status = int(parts[1])
    except ValueError:
        raise OAuthError("invalid_response", "bad status line")
    if status < 100:
        raise OAuthError("invalid_response", "bad status line")
    headers = {}
    for _ in range(_MAX_HEADERS + 1):
        line = r.readline()
        if not line:
            break
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise OAuthError("invalid_response", "bad header line")
        try:
            headers[name.strip().decode().lower()] = value.strip().decode()
        except UnicodeError:
            raise OAuthError("invalid_response", "bad header line")
    else:
        raise OAuthError("invalid_response", "too many headers")
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return Response(status, headers, b"")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        from .chunked import read  # only when a chunked answer arrives

        return Response(status, headers, read(r, max_body))
    length = headers.get("content-length")
    if length is None:
        return Response(status, headers, r.read_to_eof(max_body))
    try:
        n = int(length)
    except ValueError:
        raise OAuthError("invalid_response", "bad Content-Length")
    if n < 0:
        raise OAuthError("invalid_response", "bad Content-Length")
    if n > max_body:
        raise OAuthError("response_too_large", "%d bytes, limit %d" % (n, max_body))
    return Response(status, headers, r.read(n))


def _handshake(a):
    return a[0].wrap_socket(a[1], server_hostname=a[2])


def _close(s):
    try:
        s.close()
    except OSError:  # a TLS close_notify into a reset connection: the socket is gone anyway
        pass


def request_head(method, host, path, headers, body):
    """The request line and headers as bytes, up to and including the empty line."""
    head = "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (method, path, host)
    if headers:
        for k, v in headers.items():
            head += "%s: %s\r\n" % (k, v)
    if body is not None:
        head += "Content-Length: %d\r\n" % len(body)
    return head.encode() + b"\r\n"


class Transport:
    """HTTP/1.1 over a fresh socket per request, closed on every path.

    ca: the trusted root(s) for https, as DER/PEM bytes or a file path (read and checked
    here: a bad CA is a ValueError now, not a network failure later); verify=False turns
    certificate checking off (unsafe, for tests only). timeout: seconds per connect/read;
    deadline: seconds for the whole request. getaddrinfo cannot be interrupted on
    MicroPython, so DNS time is outside both. pool: an object like the socket module
    (getaddrinfo, socket, SOCK_STREAM), injectable for tests; clock: its unix_time() tells
    whether the wall clock is set (default: oauthcc._port).
    """

    def __init__(self, ca=None, verify=True, timeout=10, deadline=30, max_body=16384,
                 pool=None, clock=None):
        self.ca = ca
        self.verify = verify
        self.timeout_ms = int(timeout * 1000)
        self.deadline_ms = int(deadline * 1000)
        self.max_body = max_body
        self._pool = pool or socket
        self._clock = clock or _port
        self._ctx = None
        if ca is not None and verify:
            import gc

            gc.collect()  # the module's code lands low, not between garbage (make bench)
            from .tls import context

            self._ctx = context(ca, verify)

    def request(self, method, url, body=None, headers=None, max_body=None):
        if MICROPYTHON:  # CPython needs no help, and a full collection there costs ms
            import gc

            gc.collect()  # so what lives through the request (socket, TLS context) lands low,
            # not between garbage: a smaller heap suffices (make bench)
        scheme, host, port, path = split_url(url)
        if isinstance(body, str):
            body = body.encode()
        ctx = None
        if scheme == "https":  # before connecting: a missing CA is refused without traffic
            from . import tls

            ctx = tls.for_request(self)
        pool = self._pool
        ai = pool.getaddrinfo(host, port, 0, pool.SOCK_STREAM)[0]
        deadline = ticks_add(ticks_ms(), self.deadline_ms)
        raw = pool.socket(ai[0], pool.SOCK_STREAM)
        sock = raw
        try:
            raw.settimeout(min(self.timeout_ms, self.deadline_ms) / 1000)
            raw.connect(ai[-1])
            if ctx is not None:
                import gc

                gc.collect()  # the handshake needs the largest free blocks we can give it
                try:
                    # the handshake's reads: bounded by the deadline too, not only the timeout
                    sock = _within(raw.settimeout, self.timeout_ms, deadline, _handshake,
                                   (ctx, raw, host))
                except Exception as e:
                    raise tls.verify_failed(e) or e
            # Only now, with the server verified, does anything secret leave the device.
            head = request_head(method, host, path, headers, body)
            send = getattr(sock, "sendall", None) or sock.write
            send(head)
            head = None
            if body:
                send(body)
            r = _Reader(sock, raw, self.timeout_ms, deadline)
            return read_response(r, method, max_body or self.max_body)
        finally:
            _close(sock)
            if sock is not raw:
                _close(raw)
