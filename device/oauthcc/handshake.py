# The blocking transport's TLS handshake, bounded by the per-read timeout and the request's
# deadline: tls.connect loads this module for it and lets it go after it, so the read of the
# answer that follows does not carry its code.
from ._port import MICROPYTHON


def connect(ctx, raw, host, line, timeout_ms, deadline, within):
    """(the TLS socket over the connected socket raw, what is left of the request line to
    send) for the blocking transport, its handshake bounded by the per-read timeout and the
    request's deadline; the OAuthError tls_verification_failed when the server failed it.

    CPython bounds a whole handshake by the socket's timeout (within: transport._within).
    MicroPython's wrap_socket's own handshake loops in C for as long as the server sends, a
    byte at a time if it likes (a timeout only makes mbedTLS try again). Over a non-blocking
    socket mbedTLS shakes hands inside the first write, which returns whenever bytes are
    missing: they are waited for here, and the request line (nothing secret) is that first
    write: mbedTLS sends it only once the handshake, verification included, has succeeded.
    """
    import gc

    gc.collect()  # the handshake needs the largest free blocks we can give it
    try:
        if not MICROPYTHON:
            return within(raw.settimeout, timeout_ms, deadline, ctx.wrap_socket, raw,
                          server_hostname=host), line
        sock = ctx.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)
        try:
            import select

            from ._port import ticks_diff, ticks_ms

            raw.setblocking(False)
            p = select.poll()
            p.register(sock, select.POLLOUT)  # a TLS socket polls for what its handshake awaits
            data = line.encode()
            while data:
                n = sock.write(data)
                if n:
                    data = data[n:]
                    continue
                ms = max(0, min(timeout_ms, ticks_diff(deadline, ticks_ms())))  # as _within
                if not ms or not p.poll(ms):
                    from .untrusted import timeout

                    raise timeout(ms < timeout_ms)
            raw.settimeout(timeout_ms / 1000)  # blocking again, for the head and the body
            return sock, ""
        except BaseException:
            sock.close()  # mbedTLS's memory now, not at the next garbage collection
            raise
    except Exception as e:
        from .untrusted import verify_failed

        raise verify_failed(e) or e
