# Blocking HTTP/1.1 over sockets. Only how the bytes move: the HTTP itself (options, TLS
# context, URLs, head, parser, errors, which kept connection to reuse) is http.py, shared
# with aiotransport.py.
from errno import EAGAIN, ETIMEDOUT

from ._port import MICROPYTHON, const, ticks_add, ticks_diff, ticks_ms

# Response is not used here: importable from here too, as before http.py
from .http import Base, Reader, Response, head, read_response  # noqa: F401

_CHUNK = const(512)  # bytes per socket read: small, fixed


def _within(settimeout, timeout_ms, deadline, fn, *args, **kw):
    # fn(*args, **kw) under the per-read timeout, shortened to what is left of the deadline
    ms = max(0, min(timeout_ms, ticks_diff(deadline, ticks_ms())))
    if not ms:
        from .untrusted import timeout  # as every failure's code: loaded only then

        raise timeout(True)
    settimeout(ms / 1000)
    try:
        return fn(*args, **kw)
    except OSError as e:
        # EAGAIN: what SO_RCVTIMEO gives on the unix port; CPython: "timed out"
        if e.args and e.args[0] in (ETIMEDOUT, EAGAIN) or "timed out" in str(e):
            from .untrusted import timeout

            raise timeout(ms < timeout_ms)
        raise


def _close(s):
    try:
        s.close()
    except OSError:  # a TLS close_notify into a reset connection: the socket is gone anyway
        pass


class Transport(Base):
    """HTTP/1.1 over sockets, closed on every path; with keepalive=True the connection is kept
    for the next request to the same origin until close(). Options: http.Base."""

    def close(self):
        """Close the kept connection, if any. The transport stays usable."""
        c = self._conn
        if c is not None:
            self._conn = None
            _close(c[4])
            if c[4] is not c[3]:
                _close(c[3])

    def request(self, method, url, body=None, headers=None, max_body=None, _deadline=None):
        # _deadline: the retry's, the first attempt's (one deadline per request)
        if MICROPYTHON:  # CPython needs no help, and a full collection there costs ms
            import gc

            gc.collect()  # so what lives through the request (socket, TLS context) lands low,
            # not between garbage: a smaller heap suffices (make bench)
        host, port, line, body, ctx, kept = self._prepare(method, url, body, headers)
        raw = sock = r = None
        try:
            if kept:
                raw, sock = kept[3], kept[4]
                start = ticks_ms()
                deadline = ticks_add(start, self.deadline_ms)
            else:
                pool = self._pool
                addr = host.strip("[]")  # an IPv6 literal without its brackets
                ai = pool.getaddrinfo(addr, port, 0, pool.SOCK_STREAM)[0]
                deadline = _deadline  # DNS is outside it
                if deadline is None:
                    deadline = ticks_add(ticks_ms(), self.deadline_ms)
                raw = sock = pool.socket(ai[0], pool.SOCK_STREAM)
                _within(raw.settimeout, self.timeout_ms, deadline, raw.connect, ai[-1])
                if ctx is not None:
                    from .tls import connect

                    sock, line = connect(ctx, raw, addr, line, self.timeout_ms, deadline,
                                         _within)
                    if MICROPYTHON:
                        import gc

                        gc.collect()  # the handshake's garbage: its holes merged before the
                        # head is built and the answer read, the renewal's tightest moment
            # Only now, with the server verified, does anything secret leave the device.
            # CPython's TLS socket detaches the raw one (set its timeout); MicroPython's has
            # no settimeout and reads through the raw socket (set that one's)
            st = getattr(sock, "settimeout", None) or raw.settimeout
            send = getattr(sock, "sendall", None) or sock.write
            _within(st, self.timeout_ms, deadline, send, head(line, headers, body))
            if body:
                _within(st, self.timeout_ms, deadline, send, body)
            r = Reader(_within, st, self.timeout_ms, deadline,
                       getattr(sock, "recv", None) or sock.read, _CHUNK)
            answer = read_response(r, method, max_body or self.max_body)
            if self.keepalive and r.keep and r.pos == len(r.buf):  # nothing unasked-for after it
                self._conn = (host, port, ctx, raw, sock, ticks_ms())
                raw = sock = None  # kept, not closed below
            return answer
        except OSError as e:
            # a kept connection that failed at once, before any byte of the answer, by no
            # timeout: the server had closed it (see http.Base)
            from .untrusted import again, named

            if not again(e, kept, r, kept and start):
                raise named(e, host, port)
        finally:
            if sock is not None:
                _close(sock)
            if sock is not raw:
                _close(raw)
        return self.request(method, url, body, headers, max_body, deadline)  # once, fresh
