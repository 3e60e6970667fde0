# The asyncio transport: one HTTP/1.1 request per connection over asyncio streams, answered
# by the same parser as the blocking transport. Other tasks run while it waits.
import asyncio

from ._port import MICROPYTHON, const, ticks_add, ticks_diff, ticks_ms
from .errors import OAuthError
from .transport import read_response, request_head, split_url

_READ = const(1024)  # bytes per read: each read re-tries the parse, so not too small
_HEAD = const(8192)  # raw allowance beyond max_body for status line, headers, chunk framing
_MAX_LINE = const(2048)  # as the blocking transport: longest status or header line
_ETIMEDOUT = const(110)
_ECONNABORTED = const(103)


class _More(Exception):
    pass  # the bytes so far end before the answer does, and more may come


class _Received:
    """The blocking parser's reader interface over the bytes received so far."""

    def __init__(self, data, eof):
        self._data = data
        self._pos = 0
        self._eof = eof

    def _short(self, what):
        if self._eof:
            raise OSError(_ECONNABORTED, what)
        raise _More()

    def readline(self):
        i = self._data.find(b"\n", self._pos)
        if (i if i >= 0 else len(self._data)) - self._pos > _MAX_LINE:
            raise OAuthError("invalid_response", "HTTP line too long")
        if i < 0:
            self._short("connection closed")
        line = self._data[self._pos : i]
        self._pos = i + 1
        return line.rstrip(b"\r")

    def read(self, n):
        if len(self._data) - self._pos < n:
            self._short("connection closed before the body ended")
        self._pos += n
        return self._data[self._pos - n : self._pos]

    def read_to_eof(self, limit):
        if len(self._data) - self._pos > limit:
            raise OAuthError("response_too_large", "over %d bytes" % limit)
        if not self._eof:
            raise _More()
        return self._data[self._pos :]


async def open_connection(host, port, ssl=None):
    """asyncio.open_connection(host, port, ssl=ctx, server_hostname=host) -> (reader, writer).

    On MicroPython the same steps as its asyncio's own, which leaks the socket when the
    connect is cancelled (a deadline passed) or fails: an ESP32 has about ten. Its TLS
    handshake happens at the first write. getaddrinfo blocks there, as everywhere.
    """
    if not MICROPYTHON:
        if ssl is None:
            return await asyncio.open_connection(host, port)
        return await asyncio.open_connection(host, port, ssl=ssl, server_hostname=host)
    import socket
    from errno import EINPROGRESS

    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], ai[1], ai[2])
    try:
        s.setblocking(False)
        try:
            s.connect(ai[-1])
        except OSError as e:
            if e.errno != EINPROGRESS:
                raise
        if ssl is not None:
            s = ssl.wrap_socket(s, server_hostname=host, do_handshake_on_connect=False)
            s.setblocking(False)
        await _writable(s)
        stream = asyncio.StreamReader(s)  # MicroPython's Stream reads and writes
        return stream, stream
    except BaseException:  # CancelledError too: close what we opened
        s.close()
        raise


def _writable(s):  # MicroPython: park the task until s is writable (connected)
    yield asyncio.core._io_queue.queue_write(s)


class AsyncTransport:
    """HTTP/1.1 over asyncio streams, a fresh connection per request, closed on every path,
    cancellation included.

    Same options as transport.Transport: ca, verify, timeout (seconds per connect or read),
    deadline (seconds for the whole request); both with asyncio.wait_for. getaddrinfo blocks
    the event loop on MicroPython: DNS time is outside both.
    """

    def __init__(self, ca=None, verify=True, timeout=10, deadline=30, max_body=16384,
                 clock=None):
        from . import _port

        self.ca = ca
        self.verify = verify
        self._ctx = None  # built at the first https request, then kept (tls.for_request)
        self._clock = clock or _port
        self.timeout_ms = int(timeout * 1000)
        self.deadline_ms = int(deadline * 1000)
        self.max_body = max_body

    async def request(self, method, url, body=None, headers=None, max_body=None):
        deadline = ticks_add(ticks_ms(), self.deadline_ms)
        return await self._exchange(method, url, body, headers, max_body or self.max_body,
                                    deadline)

    async def _within(self, aw, deadline):
        # Every wait (connect and handshake, send, each read) is bounded by the timeout and
        # by what is left of the request's deadline, so the whole request is bounded too.
        left = max(0, ticks_diff(deadline, ticks_ms()))
        try:
            return await asyncio.wait_for(aw, min(self.timeout_ms, left) / 1000)
        except asyncio.TimeoutError:
            raise OSError(_ETIMEDOUT, "request deadline passed" if left < self.timeout_ms
                          else "timed out")

    async def _exchange(self, method, url, body, headers, max_body, deadline):
        scheme, host, port, path = split_url(url)
        if isinstance(body, str):
            body = body.encode()
        ctx = tls = None
        if scheme == "https":  # before connecting: no CA or no wall clock, no traffic
            from . import tls

            ctx = tls.for_request(self)
            import gc

            gc.collect()  # the handshake needs the largest free blocks we can give it
        w = None
        try:
            try:
                r, w = await self._within(open_connection(host, port, ctx), deadline)
                # CPython has verified the server by now; MicroPython does it at the first
                # write, and mbedTLS sends nothing of ours before the handshake succeeded.
                w.write(request_head(method, host, path, headers, body))
                if body:
                    w.write(body)
                await self._within(w.drain(), deadline)
            except Exception as e:
                raise (tls and tls.verify_failed(e)) or e
            return await self._answer(r, method, max_body, deadline)
        finally:
            if w is not None:
                t = getattr(w, "transport", None)
                if t is not None:
                    t.abort()  # CPython: close now, no TLS goodbye a stalled server could hold
                else:
                    await w.wait_closed()  # MicroPython: closes the socket, without waiting

    async def _answer(self, r, method, max_body, deadline):
        # Parse what has arrived after every read: the answer is complete as soon as its
        # framing says so, and an oversized Content-Length is refused at the header.
        data = b""
        eof = False
        while True:
            try:
                return read_response(_Received(data, eof), method, max_body)
            except _More:
                pass
            more = await self._within(r.read(_READ), deadline)
            if more:
                data += more
                if len(data) > _HEAD + max_body:
                    raise OAuthError("response_too_large", "over %d bytes" % (_HEAD + max_body))
            else:
                eof = True
