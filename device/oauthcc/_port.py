# The one place that knows CPython from MicroPython. Everything else imports from here.
try:
    from micropython import const

    _MICROPYTHON = True
except ImportError:
    _MICROPYTHON = False

    def const(x):
        return x


try:
    from binascii import a2b_base64, b2a_base64  # noqa: F401 (re-exported)
except ImportError:  # firmware before 1.20 has only the u-prefixed name
    from ubinascii import b2a_base64  # type: ignore

import time

try:
    ticks_ms = time.ticks_ms
    ticks_add = time.ticks_add
    ticks_diff = time.ticks_diff
except AttributeError:
    # CPython: the same ticks arithmetic as the ESP32 port, wrapping at 2**30 ms, so host
    # runs exercise the wrap instead of hiding it behind 64-bit time.
    _PERIOD = const(1 << 30)
    _HALF = const(1 << 29)

    def ticks_ms():
        return int(time.monotonic() * 1000) & (_PERIOD - 1)

    def ticks_add(t, delta):
        return (t + delta) & (_PERIOD - 1)

    def ticks_diff(a, b):
        return ((a - b + _HALF) & (_PERIOD - 1)) - _HALF


# The ESP32 port counts wall-clock seconds from 2000, CPython and the unix port from 1970.
EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0


def unix_time():
    """Wall clock in Unix seconds (1970 epoch), or None while the clock is not set."""
    t = int(time.time()) + EPOCH_OFFSET
    return t if t >= 1735689600 else None  # 2025-01-01: anything earlier is an unset RTC


def b64encode(data):
    return b2a_base64(data)[:-1]  # drop the newline binascii appends


async def open_connection(host, port, ssl=None):
    """asyncio.open_connection(host, port, ssl=ctx, server_hostname=host) -> (reader, writer).

    On MicroPython the same steps as its asyncio's own, which leaks the socket when the
    connect is cancelled (a deadline passed) or fails: an ESP32 has about ten. Its TLS
    handshake happens at the first write. getaddrinfo blocks there, as everywhere.
    """
    import asyncio

    if not _MICROPYTHON:
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
    from asyncio import core

    yield core._io_queue.queue_write(s)
