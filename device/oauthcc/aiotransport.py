# HTTP/1.1 over asyncio streams, one request per connection. Only how the bytes move: the
# HTTP itself (options, TLS context, URLs, head, parser, errors) is http.py, shared with the
# blocking transport.py, which this module does not load. Other tasks run while it waits.
import asyncio

from ._port import MICROPYTHON, const, ticks_add, ticks_ms
from .errors import OAuthError
from .http import Base, Reader, head, read_response, timeout, wait

_READ = const(1024)  # bytes per read: each read re-tries the parse, so not too small
_HEAD = const(8192)  # raw allowance beyond max_body for status line, headers, chunk framing


class _More(Exception):
    pass  # the bytes so far end before the answer does, and more may come


def _more():
    raise _More()  # the parse that reads past the bytes so far starts again with more


async def open_connection(pool, host, port, ssl=None):
    """(reader, writer) of a connection to host:port, over TLS with the context ssl, from a
    socket of pool (the socket module, or a test's).

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
            return await asyncio.open_connection(sock=s, ssl=ssl,
                                                 server_hostname=host if ssl else None)
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
        return stream, stream
    except BaseException:  # CancelledError too: close what we opened
        s.close()
        raise


def _writable(s):  # MicroPython: park the task until s is writable (connected)
    yield asyncio.core._io_queue.queue_write(s)


class AsyncTransport(Base):
    """HTTP/1.1 over asyncio streams, a fresh connection per request, closed on every path,
    cancellation included. Options: http.Base, as transport.Transport; each wait (connect
    and handshake, send, every read) bounded with asyncio.wait_for. getaddrinfo blocks the
    event loop on MicroPython: DNS time is outside both bounds there.
    """

    async def request(self, method, url, body=None, headers=None, max_body=None):
        host, port, line, body, ctx = self._prepare(method, url, body, headers)
        if ctx is not None:
            import gc

            gc.collect()  # the handshake needs the largest free blocks we can give it
        deadline = ticks_add(ticks_ms(), self.deadline_ms)
        w = None
        try:
            try:
                r, w = await self._within(open_connection(self._pool, host, port, ctx), deadline)
                # CPython has verified the server by now; MicroPython does it at the first
                # write, and mbedTLS sends nothing of ours before the handshake succeeded.
                w.write(head(line, headers, body))
                if body:
                    w.write(body)
                await self._within(w.drain(), deadline)
            except Exception as e:
                if ctx is None:
                    raise
                from .tls import verify_failed

                raise verify_failed(e) or e
            return await self._answer(r, method, max_body or self.max_body, deadline)
        except OSError as e:
            from .untrusted import named

            raise named(e, host, port)
        finally:
            if w is not None:
                t = getattr(w, "transport", None)
                if t is not None:
                    t.abort()  # CPython: close now, no TLS goodbye a stalled server could hold
                else:
                    await w.wait_closed()  # MicroPython: closes the socket, without waiting

    async def _within(self, aw, deadline):
        # Every wait is bounded by the timeout and by what is left of the request's
        # deadline, so the whole request is bounded too.
        ms = wait(self.timeout_ms, deadline)
        try:
            return await asyncio.wait_for(aw, ms / 1000)
        except asyncio.TimeoutError:
            raise timeout(ms < self.timeout_ms)

    async def _answer(self, r, method, max_body, deadline):
        # Parse what has arrived after every read: the answer is complete as soon as its
        # framing says so, and an oversized Content-Length is refused at the header.
        got = Reader(_more)
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
