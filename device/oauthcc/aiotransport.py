# HTTP/1.1 over asyncio streams. Only how the bytes move: the HTTP itself (options, TLS
# context, URLs, head, parser, errors, which kept connection to reuse) is http.py, shared with
# the blocking transport.py, which this module does not load. Other tasks run while it waits.
import asyncio

from ._port import MICROPYTHON, const, ticks_add, ticks_diff, ticks_ms
from .errors import OAuthError
from .http import Base, Reader, head, read_response

_READ = const(1024)  # bytes per read: each read re-tries the parse, so not too small
_HEAD = const(8192)  # raw allowance beyond max_body for status line, headers, chunk framing


class _More(Exception):
    pass  # the bytes so far end before the answer does, and more may come


def _more():
    raise _More()  # the parse that reads past the bytes so far starts again with more


async def open_connection(pool, host, port, ssl=None):
    """(reader, writer, socket) of a connection to host:port, over TLS with the context ssl,
    from a socket of pool (the socket module, or a test's); _shut closes them.

    On MicroPython the same steps as its asyncio's own open_connection, which leaks the
    socket when the connect is cancelled (a deadline passed) or fails: an ESP32 has about
    ten. Its TLS handshake happens at the first write. getaddrinfo blocks there, as
    everywhere; CPython runs it in a thread.
    """
    host = host.strip("[]")  # an IPv6 literal without its brackets
    if MICROPYTHON:
        ai = pool.getaddrinfo(host, port, 0, pool.SOCK_STREAM)[0]
    else:
        loop = asyncio.get_running_loop()
        ai = (await loop.run_in_executor(None, pool.getaddrinfo, host, port, 0,
                                         pool.SOCK_STREAM))[0]
    s = pool.socket(ai[0], pool.SOCK_STREAM)
    try:
        s.setblocking(False)
        if not MICROPYTHON:
            await loop.sock_connect(s, ai[-1])
            r, w = await asyncio.open_connection(sock=s, ssl=ssl,
                                                 server_hostname=host if ssl else None)
            return r, w, s
        from errno import EINPROGRESS

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
        return stream, stream, s
    except BaseException:  # CancelledError too: close what we opened
        s.close()
        raise


def _writable(s):  # MicroPython: park the task until s is writable (connected)
    yield asyncio.core._io_queue.queue_write(s)


def _shut(w, s, loop=None):
    # Close now, without awaiting: CPython's transport is aborted (no TLS goodbye a stalled
    # server could hold; off its loop's selector) unless its loop has closed, and its socket
    # closed at once rather than at the loop's next turn; MicroPython's stream has only its
    # socket (what its wait_closed does).
    t = getattr(w, "transport", None)
    try:
        if t is not None and not (loop and loop.is_closed()):
            t.abort()
        s.close()
    except OSError:  # a TLS close_notify into a reset connection: the socket is gone anyway
        pass


class AsyncTransport(Base):
    """HTTP/1.1 over asyncio streams, closed on every path, cancellation included; with
    keepalive=True the connection is kept for the next request to the same origin until
    close() (not a coroutine: it waits for nothing). Options: http.Base, as
    transport.Transport; each wait (connect and handshake, send, every read) bounded with
    asyncio.wait_for. getaddrinfo blocks the event loop on MicroPython: DNS time is outside
    both bounds there. On CPython a connection is kept for its event loop only. Concurrent
    requests take turns (a lock): one socket at a time.
    """

    _lock = None  # (loop, asyncio.Lock): made at the first request, on the loop that uses it

    def close(self):
        """Close the kept connection, if any. The transport stays usable."""
        c = self._conn
        if c is not None:
            self._conn = None
            _shut(c[5], c[6], c[3])

    async def request(self, method, url, body=None, headers=None, max_body=None):
        loop = None if MICROPYTHON else asyncio.get_running_loop()
        lk = self._lock
        if lk is None or lk[0] is not loop:  # CPython: a lock serves one loop
            lk = self._lock = (loop, asyncio.Lock())
        async with lk[1]:  # the deadline starts when this request's turn comes
            return await self._request(method, url, body, headers, max_body, loop,
                                       ticks_add(ticks_ms(), self.deadline_ms))

    async def _request(self, method, url, body, headers, max_body, loop, deadline):
        if self._conn is not None and self._conn[3] is not loop:
            self.close()  # CPython: a loop cannot use the streams of another (an ended one)
        host, port, line, body, ctx, kept = self._prepare(method, url, body, headers)
        if kept and loop and (kept[4].at_eof() or kept[4]._buffer):
            _shut(kept[5], kept[6], loop)  # CPython's stream read it while idle: as http's poll
            kept = None
        start = ticks_ms()
        w = got = None
        try:
            try:
                if kept:
                    r, w, s = kept[4], kept[5], kept[6]
                else:
                    if ctx is not None:
                        import gc

                        gc.collect()  # the handshake needs the largest free blocks we can give it
                    r, w, s = await self._within(open_connection(self._pool, host, port, ctx),
                                                 deadline)
                # CPython has verified the server by now; MicroPython does it at the first
                # write, and mbedTLS sends nothing of ours before the handshake succeeded.
                w.write(head(line, headers, body))
                if body:
                    w.write(body)
                await self._within(w.drain(), deadline)
            except Exception as e:
                if ctx is None or kept:
                    raise
                from .tls import verify_failed

                raise verify_failed(e) or e
            got = Reader(_more)
            answer = await self._answer(r, got, method, max_body or self.max_body, deadline)
            # kept: nothing unasked-for after the answer
            if self.keepalive and got.keep and got.pos == len(got.buf):
                self._conn = (host, port, ctx, loop, r, w, s, ticks_ms())
                w = None  # kept, not closed below
            return answer
        except OSError as e:
            # a kept connection that failed at once, before any byte of the answer, by no
            # timeout: the server had closed it (see http.Base)
            from .untrusted import again, named

            if not again(e, kept, got, start):
                raise named(e, host, port)
        finally:
            if w is not None:
                _shut(w, s)
        # once, on a fresh one, within what is left of the deadline
        return await self._request(method, url, body, headers, max_body, loop, deadline)

    async def _within(self, aw, deadline):
        # Every wait is bounded by the timeout and by what is left of the request's
        # deadline, so the whole request is bounded too.
        ms = max(0, min(self.timeout_ms, ticks_diff(deadline, ticks_ms())))  # as transport
        try:
            return await asyncio.wait_for(aw, ms / 1000)
        except asyncio.TimeoutError:
            from .untrusted import timeout

            raise timeout(ms < self.timeout_ms)

    async def _answer(self, r, got, method, max_body, deadline):
        # Parse what has arrived (got, a Reader) after every read: the answer is complete as
        # soon as its framing says so, and an oversized Content-Length is refused at the header.
        while True:
            got.pos = 0
            try:
                return read_response(got, method, max_body)
            except _More:
                pass
            more = await self._within(r.read(_READ), deadline)
            if not more:
                got.more = lambda: b""  # the stream has ended
            elif len(got.buf) + len(more) > _HEAD + max_body:
                raise OAuthError("response_too_large", "over %d bytes" % (_HEAD + max_body))
            else:
                got.buf += more
