# The body of an answer framed other than by Content-Length, loaded only when one arrives
# (few token servers send one): chunked transfer decoding, or to the end of the stream.
from .errors import OAuthError


def read(r, te, limit, trailers):
    """The body from r (an http.Reader) by the Transfer-Encoding te (None: none), at most limit
    bytes and `trailers` trailer lines (http passes its limits: no import back, no cycle)."""
    if te is None or te.lower().split(",")[-1].strip() != "chunked":
        # no length, or chunked not last: to the end of the stream (RFC 9112 6.3), which
        # leaves nothing to keep
        r.keep = False
        while len(r.buf) - r.pos <= limit:
            if not r.fill():
                return r.buf[r.pos :]
        raise OAuthError("response_too_large", "over %d bytes" % limit)
    body = b""
    for _ in range(limit + 1):  # each chunk is at least one byte: bounded
        line = r.readline()
        size = line.split(b";")[0].strip()
        try:
            n = int(size, 16)
        except ValueError:
            raise OAuthError("invalid_response", "bad chunk size")
        if n < 0:
            raise OAuthError("invalid_response", "bad chunk size")
        if n == 0:
            for _ in range(trailers):  # trailers, up to the empty line
                if not r.readline():
                    return body
            raise OAuthError("invalid_response", "too many trailers")
        if len(body) + n > limit:
            raise OAuthError("response_too_large", "over %d bytes" % limit)
        body += r.read(n)
        if r.read(2) != b"\r\n":
            raise OAuthError("invalid_response", "bad chunk end")
    raise OAuthError("response_too_large", "over %d bytes" % limit)
