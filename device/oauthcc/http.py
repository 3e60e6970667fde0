# The HTTP/1.1 both transports speak: their options and TLS context, URLs, the request head,
# the answer's parser, the limits, the error of a closed connection, and which kept
# connection a request may reuse.
# transport.py moves the bytes over sockets, aiotransport.py over asyncio streams.
from errno import ECONNABORTED

from . import _port
from ._port import const, ticks_diff, ticks_ms
from .errors import OAuthError

_MAX_LINE = const(2048)  # longest status or header line accepted
_MAX_HEADERS = const(64)  # header lines of an answer, trailer lines of a chunked one
_MAX_INTERIM = const(8)  # 1xx answers (100 Continue, 103 Early Hints) before the final one
# a kept connection idle longer is closed, not reused: servers drop idle ones after 5 to 75 s
# (Node and Apache 5 s), and one they dropped costs a retry
_IDLE_MS = const(4000)
# RFC 9110 tchar: what a method or a header name may hold
_TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


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


def _check(s, what, ws=None):
    # ValueError unless s cannot break the request head. ws None: a token (method, header
    # name), one or more tchar; else no control character and, of whitespace, only ws.
    # Bytes, not characters: iterating a str makes each character a qstr, for good.
    if ws is None and not s:
        raise ValueError("bad " + what)
    try:
        s = s.encode()
    except UnicodeError:  # CPython, a lone surrogate: its error would show the whole value
        s = b"\x00"  # refused below, by name
    for b in s:
        if (b not in _TCHAR) if ws is None else (b <= 32 and b not in ws or b == 127):
            raise ValueError("bad " + what)


def split_url(url):
    """(scheme, host, port, path) of an http(s) URL, the host as the URL writes it: an IPv6
    literal in its brackets (connect to host.strip("[]")). ValueError otherwise."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise ValueError("URL must start with http:// or https://")
    i = rest.find("/")
    host, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    if "@" in host:
        raise ValueError("credentials in URL are not supported")
    _check(path, "URL path", b"")
    port = ""
    if host[:1] == "[":  # an IPv6 literal: [::1]:8080
        i = host.find("]") + 1
        if not i or host[i : i + 1] not in ("", ":"):
            raise ValueError("bad URL host")
        host, port = host[:i], host[i + 1 :]
    elif ":" in host:
        host, _, port = host.partition(":")
    if not host:
        raise ValueError("URL has no host")
    _check(host, "URL host", b"")
    port = int(port) if port else (443 if scheme == "https" else 80)
    if not 0 < port < 65536:
        raise ValueError("bad URL port")
    return scheme, host, port, path


def origin(url):
    scheme, host, port, _ = split_url(url)
    return "%s://%s:%d" % (scheme, host.lower(), port)


class Reader:
    """The parser's view of an answer: buf[pos:] is not read yet, more(*args) gives the next
    bytes (b"" at the end of the stream): each transport says how it gets them. keep: set by
    read_response, True when the connection may serve another request."""

    def __init__(self, more, *args):
        self.more = more
        self.args = args
        self.buf = b""
        self.pos = 0

    def fill(self):
        data = self.more(*self.args)
        if data:
            self.buf = self.buf[self.pos :] + data
            self.pos = 0
        return data

    def readline(self):
        while True:
            b, p = self.buf, self.pos
            i = b.find(b"\n", p)
            if (i if i >= 0 else len(b)) - p > _MAX_LINE:
                raise OAuthError("invalid_response", "HTTP line too long")
            if i >= 0:
                self.pos = i + 1
                return b[p:i].rstrip(b"\r")
            if not self.fill():
                raise OSError(ECONNABORTED, "connection closed")

    def read(self, n):
        while len(self.buf) - self.pos < n:
            if not self.fill():
                raise OSError(ECONNABORTED, "connection closed before the body ended")
        self.pos += n
        return self.buf[self.pos - n : self.pos]


def read_response(r, method, max_body):
    """The final answer (interim 1xx skipped) from a Reader: status line, headers, body read
    by its framing, so nothing after it is consumed."""
    for _ in range(_MAX_INTERIM + 1):
        parts = r.readline().split(None, 2)
        if (len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3
                or not parts[1].isdigit() or parts[1] < b"100"):
            raise OAuthError("invalid_response", "bad status line")
        status = int(parts[1])
        headers = {}
        for _ in range(_MAX_HEADERS + 1):
            line = r.readline()
            if not line:
                break
            name, sep, value = line.partition(b":")
            try:
                k, v = name.strip().decode().lower(), value.strip().decode()
            except UnicodeError:
                k = ""  # refused below
            if not sep or not k:
                raise OAuthError("invalid_response", "bad header line")
            # a name sent twice is one list (RFC 9110 5.3), not the last line: "close" in any
            # Connection line counts, two Content-Length values are no number
            headers[k] = headers[k] + ", " + v if k in headers else v
        else:
            raise OAuthError("invalid_response", "too many headers")
        if status >= 200:
            break
    else:
        raise OAuthError("invalid_response", "too many interim answers")
    # HTTP/1.1 keeps the connection unless the server says close, HTTP/1.0 only if it says
    # keep-alive
    c = headers.get("connection", "").lower()
    r.keep = "close" not in c and (parts[0] != b"HTTP/1.0" or "keep-alive" in c)
    if method == "HEAD" or status in (204, 304):
        return Response(status, headers, b"")
    length = headers.get("content-length")
    te = headers.get("transfer-encoding")
    if length is None or te is not None:  # chunked, or to the end of the stream: rare
        from .chunked import read

        return Response(status, headers, read(r, te, max_body, _MAX_HEADERS))
    try:
        n = int(length)
    except ValueError:
        n = -1
    if n < 0:
        raise OAuthError("invalid_response", "bad Content-Length")
    if n > max_body:
        raise OAuthError("response_too_large", "%d bytes, limit %d" % (n, max_body))
    return Response(status, headers, r.read(n))


class Base:
    """What both transports share: the options, refused here when wrong, and the TLS context.

    ca: the trusted root(s) for https, as DER/PEM bytes or a file path (read and checked
    here: a bad CA is a ValueError now, not a network failure later); verify=False turns
    certificate checking off (unsafe, for tests only). timeout: seconds per connect/read;
    deadline: seconds for the whole request. getaddrinfo cannot be interrupted on
    MicroPython, so DNS time is outside both. max_body: bytes of an answer's body. pool: an
    object like the socket module (getaddrinfo, socket, SOCK_STREAM), injectable for tests;
    clock: its unix_time() tells whether the wall clock is set (default: oauthcc._port).

    keepalive=True keeps the connection after an answer (HTTP/1.1 keep-alive) for the next
    request to the same origin, one connection at most: close() ends it (call it before
    sleeping); a request elsewhere closes it first, any error too, and so does an idle time
    of _IDLE_MS, and so does anything it has to read before the request is sent (bytes the
    server sent while it idled, its EOF). A kept connection the server closed as the request
    went out (EOF, ECONNRESET, EPIPE, or their TLS forms, which differ by runtime) fails at
    once (within _AT_ONCE_MS of the send), before any byte of an answer, by no timeout: the
    request is then sent once more, on a fresh connection, within what is left of the same
    deadline. The token POST too: a server that closed an idle connection never read it.
    Never once an answer started to arrive, nor after a wait: a server that held the request
    and closed had read it.
    keepalive=False (the default of a bare transport): one connection per request, with
    `Connection: close`, nothing left open.
    """

    _conn = None  # the kept connection: (host, port, TLS context, ..., ticks when kept)

    def __init__(self, ca=None, verify=True, timeout=10, deadline=30, max_body=16384,
                 pool=None, clock=None, keepalive=False):
        self.keepalive = keepalive
        self.ca = ca
        self.verify = verify
        self.timeout_ms = int(timeout * 1000)
        self.deadline_ms = int(deadline * 1000)
        self.max_body = max_body
        if pool is None:
            import socket as pool  # here, not a global: the module's dict stays a size smaller
        self._pool = pool
        self._clock = clock or _port
        self._ctx = None  # the TLS context: built here with a CA, else at the first https
        if ca is not None and verify:
            import gc

            gc.collect()  # the module's code lands low, not between garbage (make bench)
            from .tls import context

            self._ctx = context(ca, verify)

    def _prepare(self, method, url, body, headers):
        # Everything that can be refused, before connecting, so that a bad URL, method or
        # header (ValueError), no CA or an unset wall clock (OAuthError) costs no traffic;
        # then the kept connection to reuse. (host, port, the request line and Host for
        # head(), body bytes, TLS context, the kept connection or None)
        scheme, host, port, path = split_url(url)
        _check(method, "method")
        if headers:
            for k, v in headers.items():
                _check(k, "header name")
                _check(str(v), k, b" \t")  # the name is safe to show, the value may be secret
        if isinstance(body, str):
            body = body.encode()
        ctx = None
        if scheme == "https":
            from . import tls

            ctx = self._ctx = self._ctx or tls.context(self.ca, self.verify)
            if self.verify:
                tls.check_clock(self._clock)
        name = host if port == (443 if scheme == "https" else 80) else "%s:%d" % (host, port)
        line = "%s %s HTTP/1.1\r\nHost: %s\r\n%s" % (
            method, path, name, "" if self.keepalive else "Connection: close\r\n")
        # The kept connection when it is to this origin, verified alike (host, port, TLS
        # context), and has not idled too long, taken out of _conn (an error closes it with the
        # request); any other kept one is closed first: one socket at a time. Reused only with
        # nothing to read (no bytes, no EOF, no error): what a server sent while it idled (a
        # 408, a stray answer, its EOF) would be taken for the next answer (Go and urllib3
        # check so too).
        c = self._conn
        if c is not None:
            s = c[-2]
            p = getattr(s, "pending", None)  # CPython's TLS socket: bytes decrypted, not read
            if (c[0] == host and c[1] == port and c[2] is ctx
                    and ticks_diff(ticks_ms(), c[-1]) < _IDLE_MS and not (p and p())):
                from select import POLLIN, poll

                q = poll()
                try:
                    q.register(s, POLLIN)
                    if not q.poll(0):
                        self._conn = None
                        return host, port, line, body, ctx, c
                except ValueError:  # CPython: closed (asyncio closes a TLS stream at its EOF)
                    pass
            self.close()
        return host, port, line, body, ctx, None


def head(line, headers, body):
    """The request head as bytes: line (from Base._prepare, which checked every part) and the
    headers. Built after the TLS handshake: they hold the secrets, the handshake the heap."""
    if headers:
        for k, v in headers.items():
            line += "%s: %s\r\n" % (k, v)
    if body is not None:
        line += "Content-Length: %d\r\n" % len(body)
    return (line + "\r\n").encode()
