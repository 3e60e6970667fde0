# Both transports answer with the one parser (oauthcc.http): the same bytes give the same
# Response or the same error, however the network cuts them, on both runtimes.
import asyncio
import random

from test_fuzz_parsers import SEEDS, _mutate

from oauthcc import OAuthError
from oauthcc._port import ticks_add, ticks_ms
from oauthcc.aiotransport import AsyncTransport, _more
from oauthcc.http import Reader, read_response
from oauthcc.transport import _within
from support import FakeSocket

CASES = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n"
    b'{"a": 1}extra',
    b"HTTP/1.0 503 Busy\nRETRY-AFTER:  7 \nContent-Length: 0\n\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4\r\n{\"a\"\r\n5;ext=1\r\n: 1}\n\r\n0\r\nX-Trailer: y\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 2000,
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + b"x" * 1024,
    b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nContent-Le",
    b"",
    b"SSH-2.0-OpenSSH\r\n\r\n",
    b"HTTP/1.1 abc OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 100 + b"\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"y" * 3000 + b"\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 100 Continue\r\n\r\n" * 10 + b"HTTP/1.1 200 OK\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
]


class FakeStream:
    """An asyncio stream reader that hands out the bytes in pieces; with hold=True it never
    signals the end (a server that keeps the connection open), failing a read past the data."""

    def __init__(self, data, piece, hold=False):
        self.data = data
        self.piece = piece
        self.hold = hold

    async def read(self, n):
        if self.hold and not self.data:
            raise AssertionError("read past a complete answer")
        out, self.data = self.data[: min(n, self.piece)], self.data[min(n, self.piece) :]
        await asyncio.sleep(0)
        return out


def outcome(fn, reader):
    try:
        r = fn()
    except OAuthError as e:
        return ("OAuthError", e.error)
    except OSError:
        return ("OSError",)
    # and whether the connection could serve another request (http.Base._keeps)
    return (r.status, sorted(r.headers.items()), r.body,
            reader.keep and reader.pos == len(reader.buf))


def sync_parse(raw, piece, max_body=1000):
    s = FakeSocket(raw, piece)
    r = Reader(_within, s.settimeout, 1000, ticks_add(ticks_ms(), 60000), s.recv, 512)
    return outcome(lambda: read_response(r, "GET", max_body), r)


def async_parse(raw, piece, max_body=1000, hold=False):
    t = AsyncTransport()
    deadline = ticks_add(ticks_ms(), 60000)
    got = Reader(_more)
    return outcome(lambda: asyncio.run(
        t._answer(FakeStream(raw, piece, hold), got, "GET", max_body, deadline)), got)


def test_same_answers_as_the_blocking_parser():
    for raw in CASES:
        for piece in (1, 7, 4096):
            assert async_parse(raw, piece) == sync_parse(raw, piece), (raw[:40], piece)


def test_complete_answer_needs_no_close():
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{\"a\": 1}"
    assert async_parse(raw, 5, hold=True)[2] == b'{"a": 1}'
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    assert async_parse(chunked, 5, hold=True)[2] == b"abc"
    # refused at the header, before the body is read
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n"
    assert async_parse(big, 50, hold=True) == ("OAuthError", "response_too_large")


def test_mutated_answers_parse_alike():
    rng = random.Random(7) if hasattr(random, "Random") else random
    if rng is random:  # MicroPython: the module-level generator, seeded
        random.seed(7)
    seeds = [s for s in SEEDS if s.startswith(b"HTTP/")] + CASES[:4]
    for _ in range(200):
        raw = _mutate(rng, seeds[rng.getrandbits(8) % len(seeds)])
        piece = 1 + rng.getrandbits(6)
        assert async_parse(raw, piece) == sync_parse(raw, piece), raw
