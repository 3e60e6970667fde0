# Chunked transfer decoding, loaded only when a chunked answer arrives (few token servers
# send one).
from .errors import OAuthError


def read(r, limit, trailers):
    """The body of a chunked answer from r (an http.Reader), at most limit bytes and
    `trailers` trailer lines (http passes its limits: no import back, no cycle)."""
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
